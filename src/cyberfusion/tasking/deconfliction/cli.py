"""`cfc activity ...`: the deconfliction register."""

from __future__ import annotations

from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope
from cyberfusion.errors import InvalidInput
from cyberfusion.tasking.clihelp import AsOpt, viewer
from cyberfusion.tasking.deconfliction import service

app = typer.Typer(no_args_is_help=True, help="Activity deconfliction: register activities, see overlaps.")
TargetOpt = typer.Option([], "--target", help="a value, or KIND=VALUE (actor=..., malware=..., country=FR, "
                                              "crime_type=ransomware); repeat")


def _targets(raw: list[str]) -> list[str | dict[str, str]]:
    out: list[str | dict[str, str]] = []
    for t in raw:
        kind, sep, value = t.partition("=")
        if sep and kind and "/" not in kind and ":" not in kind:
            out.append({"kind": kind.strip(), "value": value})
        elif sep and not kind:
            raise InvalidInput(f"expected KIND=VALUE: {t!r}", field="target")
        else:
            out.append(t)
    return out


@app.command("register")
@handled
def register_cmd(title: str, as_member: str = AsOpt,
                 kind: str = typer.Option(..., help="investigation, operation, takedown or outreach"),
                 target: list[str] = TargetOpt, description: str = "",
                 contact: Optional[str] = typer.Option(None, help="whom others contact (default: your e-mail)"),
                 tlp: str = "amber", fmt: OutputFormat = FormatOpt) -> None:
    """Register an activity; overlaps with other organisations' activities are reported to both owners."""
    with session_scope() as session:
        v = viewer(session, as_member)
        a = service.register(session, viewer=v, title=title, kind=kind, targets=_targets(target),
                             description=description, contact=contact, tlp=tlp)
        emit(service.get_activity(session, viewer=v, activity_id=a.id), fmt)


@app.command("update")
@handled
def update_cmd(activity_id: int, as_member: str = AsOpt, title: Optional[str] = None,
               target: list[str] = typer.Option(None, "--target", help="replaces all targets; repeat"),
               contact: Optional[str] = None, tlp: Optional[str] = None,
               status: Optional[str] = typer.Option(None, help="active or closed"),
               fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        v = viewer(session, as_member)
        service.update(session, viewer=v, activity_id=activity_id, title=title,
                       targets=_targets(target) if target else None, contact=contact, tlp=tlp, status=status)
        emit(service.get_activity(session, viewer=v, activity_id=activity_id), fmt)


@app.command("list")
@handled
def list_cmd(as_member: str = AsOpt, status: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_activities(session, viewer=viewer(session, as_member), status=status), fmt,
             columns=["id", "title", "kind", "status", "tlp", "contact"])


@app.command("show")
@handled
def show_cmd(activity_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.get_activity(session, viewer=viewer(session, as_member), activity_id=activity_id), fmt)
