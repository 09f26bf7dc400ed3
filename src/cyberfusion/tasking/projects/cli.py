"""`cfc project ...`: projects, deliverables, links, and a person's whole load."""

from __future__ import annotations

from typing import Optional

import typer

from cyberfusion.clikit import (
    FormatOpt,
    OutputFormat,
    emit,
    handled,
    parse_date,
    session_scope,
)
from cyberfusion.partners import service as partners
from cyberfusion.tasking.clihelp import AsOpt, viewer
from cyberfusion.tasking.projects import service

app = typer.Typer(no_args_is_help=True, help="Projects, operations and deliverables.")


@app.command("create")
@handled
def create_cmd(name: str, as_member: str = AsOpt, objective: str = typer.Option(...),
               kind: str = typer.Option("project", help="project or operation"),
               lead: Optional[str] = typer.Option(None, help="lead's e-mail (default: you)"),
               country: list[str] = typer.Option([], "--country"), status: str = "active",
               start: Optional[str] = None, end: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        p = service.create_project(session, viewer=viewer(session, as_member), name=name, objective=objective,
                                   kind=kind, lead=lead, countries=country, status=status,
                                   start_date=parse_date(start, "start_date"), end_date=parse_date(end, "end_date"))
        emit(service.summary(p), fmt)


@app.command("list")
@handled
def list_cmd(as_member: str = AsOpt, status: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_projects(session, viewer=viewer(session, as_member), status=status), fmt,
             columns=["id", "name", "kind", "status", "lead_member_id", "countries"])


@app.command("show")
@handled
def show_cmd(project_id: int, as_member: str = AsOpt,
             purpose: Optional[str] = typer.Option(None, help="also read linked intelligence for this purpose"),
             fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.get_project(session, viewer=viewer(session, as_member), project_id=project_id,
                                 purpose=purpose), fmt)


@app.command("add-member")
@handled
def add_member_cmd(project_id: int, member: str, as_member: str = AsOpt, role: str = "member", tasks: str = "",
                   fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.add_member(session, viewer=viewer(session, as_member), project_id=project_id,
                                  member=member, role=role, tasks=tasks)
        emit({"project_id": link.project_id, "member_id": link.member_id, "role": link.role}, fmt)


@app.command("add-org")
@handled
def add_org_cmd(project_id: int, organisation: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.summary(service.add_organisation(session, viewer=viewer(session, as_member),
                                                      project_id=project_id, organisation=organisation)), fmt)


@app.command("deliverable")
@handled
def deliverable_cmd(project_id: int, title: str, as_member: str = AsOpt, due: str = typer.Option(...),
                    description: str = "", owner: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        d = service.add_deliverable(session, viewer=viewer(session, as_member), project_id=project_id, title=title,
                                    due_date=parse_date(due, "due_date"), description=description, owner=owner)
        emit({"id": d.id, "project_id": d.project_id, "title": d.title, "due_date": d.due_date,
              "status": d.status}, fmt)


@app.command("deliverable-status")
@handled
def deliverable_status_cmd(deliverable_id: int, status: str, as_member: str = AsOpt,
                           fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        d = service.update_deliverable(session, viewer=viewer(session, as_member), deliverable_id=deliverable_id,
                                       status=status)
        emit({"id": d.id, "status": d.status, "delivered_at": d.delivered_at}, fmt)


@app.command("link-object")
@handled
def link_object_cmd(project_id: int, stix_id: str, as_member: str = AsOpt, purpose: str = "investigation",
                    fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.link_object(session, viewer=viewer(session, as_member), project_id=project_id,
                                   stix_id=stix_id, purpose=purpose)
        emit({"project_id": link.project_id, "stix_id": link.stix_id}, fmt)


@app.command("link-rfi")
@handled
def link_rfi_cmd(project_id: int, rfi_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.link_rfi(session, viewer=viewer(session, as_member), project_id=project_id, rfi_id=rfi_id)
        emit({"project_id": link.project_id, "rfi_id": link.rfi_id}, fmt)


@app.command("workload")
@handled
def workload_cmd(as_member: str = AsOpt, member: Optional[str] = typer.Option(None, help="e-mail (default: you)"),
                 fmt: OutputFormat = FormatOpt) -> None:
    """A person's whole load: secondment scope, project tasks, deliverables and RFIs."""
    with session_scope() as session:
        v = viewer(session, as_member)
        member_id = partners.get_member(session, member).id if member else v.member_id
        emit(service.workload(session, viewer=v, member_id=member_id), fmt)
