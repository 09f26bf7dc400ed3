"""`cfc group ...`: communities, their members, posts, meetings and shared intelligence."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.tasking.clihelp import AsOpt, viewer, when
from cyberfusion.tasking.groups import repository, service

app = typer.Typer(no_args_is_help=True, help="Communities: expert and regional working groups.")


def _group_id(session, ref: str) -> int:  # type: ignore[no-untyped-def]
    if ref.isdigit():
        return int(ref)
    g = repository.group_by_name(session, ref)
    if g is None:
        raise NotFound(f"no group {ref!r}")
    return g.id


@app.command("list")
@handled
def list_cmd(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_groups(session, viewer=viewer(session, as_member)), fmt,
             columns=["id", "name", "kind", "region", "my_role"])


@app.command("seed")
@handled
def seed_cmd(fmt: OutputFormat = FormatOpt) -> None:
    """Create the expert group and the five regional working groups if missing."""
    with session_scope() as session:
        emit({"created": [g.name for g in service.seed_groups(session)]}, fmt)


@app.command("create")
@handled
def create_cmd(name: str, as_member: str = AsOpt, description: str = "", kind: str = "other",
               region: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        g = service.create_group(session, viewer=viewer(session, as_member), name=name, description=description,
                                 kind=kind, region=region)
        emit(service.group_row(g, None), fmt)


@app.command("members")
@handled
def members_cmd(group: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """The membership list (members of the group only)."""
    with session_scope() as session:
        emit(service.members(session, viewer=viewer(session, as_member), group_id=_group_id(session, group)), fmt,
             columns=["member_id", "email", "name", "role"])


@app.command("add-member")
@handled
def add_member_cmd(group: str, member: str, as_member: str = AsOpt, role: str = "member",
                   fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.add_member(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                                  member=member, role=role)
        emit({"group_id": link.group_id, "member_id": link.member_id, "role": link.role}, fmt)


@app.command("post")
@handled
def post_cmd(group: str, as_member: str = AsOpt, kind: str = typer.Option(..., help="note, document or good_practice"),
             title: str = typer.Option(...), body: str = "",
             file: Optional[Path] = typer.Option(None, help="the document's file"), fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        content = file.read_bytes() if file else None
        p = service.add_post(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                             kind=kind, title=title, body=body, file_name=file.name if file else None,
                             media_type=mimetypes.guess_type(file.name)[0] if file else None, content=content)
        emit(service.post_row(p), fmt)


@app.command("posts")
@handled
def posts_cmd(group: str, as_member: str = AsOpt, kind: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_posts(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                                kind=kind), fmt, columns=["id", "kind", "title", "file_name", "created_at"])


@app.command("meeting")
@handled
def meeting_cmd(group: str, as_member: str = AsOpt, title: str = typer.Option(...),
                starts: str = typer.Option(..., help="ISO timestamp"), location: str = "", agenda: str = "",
                fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        starts_at = when(starts, "starts_at")
        assert starts_at is not None
        m = service.schedule_meeting(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                                     title=title, starts_at=starts_at, location=location, agenda=agenda)
        emit(service.meeting_row(m), fmt)


@app.command("minutes")
@handled
def minutes_cmd(meeting_id: int, as_member: str = AsOpt, minutes: Optional[str] = None,
                agenda: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.meeting_row(service.update_meeting(session, viewer=viewer(session, as_member),
                                                        meeting_id=meeting_id, agenda=agenda, minutes=minutes)), fmt)


@app.command("meetings")
@handled
def meetings_cmd(group: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_meetings(session, viewer=viewer(session, as_member), group_id=_group_id(session, group)),
             fmt, columns=["id", "title", "starts_at", "location"])


@app.command("share")
@handled
def share_cmd(group: str, file: Path, as_member: str = AsOpt,
              source: str = typer.Option("stix", "--source", "-s", help="stix, misp, csv, text, ..."),
              tlp: str = "amber", purpose: list[str] = typer.Option(["investigation", "threat_reporting"], "--purpose"),
              category: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Contribute a file to the group: its members' organisations become the named recipients."""
    if not file.exists():
        raise InvalidInput(f"no such file: {file}", field="file")
    with session_scope() as session:
        result = service.share_file(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                                    path=file, fmt=source,
                                    spec=HandlingSpec(tlp=tlp, purposes=tuple(purpose), category=category))
        emit(result.as_dict(), fmt)


@app.command("intel")
@handled
def intel_cmd(group: str, as_member: str = AsOpt, purpose: str = typer.Option(...), fmt: OutputFormat = FormatOpt) -> None:
    """Intelligence shared to the group that you may read for the purpose."""
    with session_scope() as session:
        items = service.intelligence(session, viewer=viewer(session, as_member), group_id=_group_id(session, group),
                                     purpose=purpose)
    emit({"items": items} if fmt == OutputFormat.json else items, fmt, columns=["id", "type", "name", "modified"])
