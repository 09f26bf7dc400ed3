"""`cfc rfi ...`: file, queue, duty view, the workflow, answers, release, teams, SLA check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import (
    FormatOpt,
    OutputFormat,
    emit,
    handled,
    session_scope,
    split_list,
)
from cyberfusion.tasking.clihelp import AsOpt, viewer, when
from cyberfusion.tasking.rfi import release, service

app = typer.Typer(no_args_is_help=True, help="Requests for information.")
COLUMNS = ["id", "priority", "state", "due_at", "overdue", "breached", "tlp", "title"]


def _page(page: service.Page, fmt: OutputFormat) -> None:
    emit({"items": page.items, "next": page.next_cursor} if fmt == OutputFormat.json else page.items, fmt,
         columns=COLUMNS)


@app.command("file")
@handled
def file_cmd(title: str = typer.Option(...), question: str = typer.Option(...), as_member: str = AsOpt,
             context: str = "", crime_type: Optional[str] = None,
             country: list[str] = typer.Option([], "--country", help="country concerned (repeat)"),
             value: list[str] = typer.Option([], "--value", help="related value (repeat)"),
             object_id: list[str] = typer.Option([], "--object", help="related STIX id (repeat)"),
             purpose: str = "investigation",
             priority: str = typer.Option("routine", help="routine, priority, urgent or immediate"),
             requested_by: Optional[str] = typer.Option(None, help="YYYY-MM-DD or ISO timestamp"),
             tlp: str = typer.Option("amber", help="handling of the request itself"),
             share_with: list[str] = typer.Option([], "--share-with", help="organisation that may see it (repeat)"),
             staff_only: bool = typer.Option(False, "--staff-only", help="hide from seconded experts"),
             fmt: OutputFormat = FormatOpt) -> None:
    """File an RFI; its due time follows the priority's service level (or your earlier date)."""
    with session_scope() as session:
        v = viewer(session, as_member)
        rfi = service.file_rfi(session, viewer=v, title=title, question=question, context=context,
                               crime_type=crime_type, countries=country, related_values=value,
                               related_objects=object_id, purpose=purpose, priority=priority,
                               requested_by=when(requested_by, "requested_by"), tlp=tlp, shared_with=share_with,
                               staff_only=staff_only)
        emit(service.row(rfi, rfi.created_at), fmt)


@app.command("list")
@handled
def list_cmd(as_member: str = AsOpt, state: Optional[str] = None, priority: Optional[str] = None,
             mine: bool = typer.Option(False, "--mine", help="only those your organisation filed"),
             cursor: Optional[str] = None, limit: int = 50, fmt: OutputFormat = FormatOpt) -> None:
    """RFIs you may see: immediate and urgent first, then by due time."""
    with session_scope() as session:
        _page(service.list_rfis(session, viewer=viewer(session, as_member), states=split_list(state),
                                priorities=split_list(priority), requester="mine" if mine else None,
                                cursor=cursor, limit=limit), fmt)


@app.command("queue")
@handled
def queue_cmd(as_member: str = AsOpt, cursor: Optional[str] = None, limit: int = 50,
              fmt: OutputFormat = FormatOpt) -> None:
    """Your work queue: RFIs assigned to you or your teams, urgent and immediate first, then by due time."""
    with session_scope() as session:
        _page(service.queue(session, viewer=viewer(session, as_member), cursor=cursor, limit=limit), fmt)


@app.command("overdue")
@handled
def overdue_cmd(as_member: str = AsOpt, cursor: Optional[str] = None, limit: int = 100,
                fmt: OutputFormat = FormatOpt) -> None:
    """The duty view: every open RFI past its due time."""
    with session_scope() as session:
        _page(service.overdue(session, viewer=viewer(session, as_member), cursor=cursor, limit=limit), fmt)


@app.command("show")
@handled
def show_cmd(rfi_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """One RFI with its history and, for those it is for, its answer."""
    with session_scope() as session:
        emit(service.get_rfi(session, viewer=viewer(session, as_member), rfi_id=rfi_id), fmt)


@app.command("triage")
@handled
def triage_cmd(rfi_id: int, as_member: str = AsOpt, priority: Optional[str] = None, reason: str = "",
               fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rfi = service.triage(session, viewer=viewer(session, as_member), rfi_id=rfi_id, priority=priority,
                             reason=reason)
        emit(service.row(rfi, rfi.updated_at), fmt)


@app.command("assign")
@handled
def assign_cmd(rfi_id: int, as_member: str = AsOpt, member: Optional[str] = typer.Option(None, help="e-mail"),
               team: Optional[str] = None, reason: str = "", fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rfi = service.assign(session, viewer=viewer(session, as_member), rfi_id=rfi_id, member=member, team=team,
                             reason=reason)
        emit(service.row(rfi, rfi.updated_at), fmt)


def _simple(name: str, fn, doc: str):  # type: ignore[no-untyped-def]
    @handled
    def command(rfi_id: int, as_member: str = AsOpt, reason: str = "", fmt: OutputFormat = FormatOpt) -> None:
        with session_scope() as session:
            rfi = fn(session, viewer=viewer(session, as_member), rfi_id=rfi_id, reason=reason)
            emit(service.row(rfi, rfi.updated_at), fmt)
    command.__doc__ = doc
    app.command(name)(command)


_simple("start", service.start, "Start work on an RFI assigned to you or your team.")
_simple("close", service.close, "Close an answered RFI (requester or host-centre analyst).")
_simple("reopen", service.reopen, "Send an answered RFI back to work (say why).")
_simple("reject", service.reject, "Reject an RFI (host-centre analyst; say why).")
_simple("withdraw", service.withdraw, "Withdraw your organisation's RFI (say why).")


@app.command("answer")
@handled
def answer_cmd(rfi_id: int, as_member: str = AsOpt, text: str = typer.Option(...),
               ref: list[str] = typer.Option([], "--ref", help="STIX id of intelligence (repeat)"),
               fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        row = service.answer(session, viewer=viewer(session, as_member), rfi_id=rfi_id, text=text, object_refs=ref)
        emit({"rfi": rfi_id, "answer_id": row.id, "created_at": row.created_at}, fmt)


@app.command("release")
@handled
def release_cmd(rfi_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """Release the answer to the requester as a STIX report."""
    with session_scope() as session:
        emit(release.release(session, viewer=viewer(session, as_member), rfi_id=rfi_id), fmt)


@app.command("report")
@handled
def report_cmd(rfi_id: int, as_member: str = AsOpt,
               output: Optional[Path] = typer.Option(None, "--output", "-o", help="file (default stdout)"),
               fmt: OutputFormat = FormatOpt) -> None:
    """The released answer as a STIX 2.1 bundle, as you may see it."""
    with session_scope() as session:
        bundle = release.report_bundle(session, viewer=viewer(session, as_member), rfi_id=rfi_id)
    if output:
        output.write_text(bundle, encoding="utf-8")
        emit({"file": str(output), "bytes": len(bundle.encode())}, fmt)
    else:
        sys.stdout.write(bundle)


@app.command("check-sla")
@handled
def check_sla_cmd(fmt: OutputFormat = FormatOpt) -> None:
    """Flag open RFIs past their due time and alert the duty lead (run it every few minutes)."""
    with session_scope() as session:
        emit({"breached": service.check_sla(session)}, fmt)


@app.command("teams")
@handled
def teams_cmd(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_teams(session, viewer=viewer(session, as_member)), fmt,
             columns=["id", "name", "description", "member_ids"])


@app.command("team-add")
@handled
def team_add_cmd(name: str, as_member: str = AsOpt, description: str = "", fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        t = service.create_team(session, viewer=viewer(session, as_member), name=name, description=description)
        emit({"id": t.id, "name": t.name}, fmt)


@app.command("team-member")
@handled
def team_member_cmd(team: str, member: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.add_team_member(session, viewer=viewer(session, as_member), team=team, member=member)
        emit({"team_id": link.team_id, "member_id": link.member_id}, fmt)
