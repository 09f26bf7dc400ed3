"""`cfc` commands for tasking and collaboration: rfi, project, activity, group, review, inbox."""

from __future__ import annotations

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope
from cyberfusion.tasking import service
from cyberfusion.tasking.clihelp import AsOpt, viewer
from cyberfusion.tasking.deconfliction.cli import app as activity_app
from cyberfusion.tasking.groups.cli import app as group_app
from cyberfusion.tasking.projects.cli import app as project_app
from cyberfusion.tasking.reviews.cli import app as review_app
from cyberfusion.tasking.rfi.cli import app as rfi_app


@handled
def inbox_cmd(as_member: str = AsOpt, unread: bool = typer.Option(False, "--unread"),
              mark_read: bool = typer.Option(False, "--mark-read", help="mark what is shown as read"),
              fmt: OutputFormat = FormatOpt) -> None:
    """Your tasking notifications: assignments, answers, SLA breaches, activity overlaps, reviews."""
    with session_scope() as session:
        v = viewer(session, as_member)
        items = [n.as_dict() for n in service.my_notifications(session, viewer=v, unread_only=unread)]
        if mark_read and items:
            service.mark_read(session, viewer=v, ids=[n["id"] for n in items])
    emit(items, fmt, columns=["id", "created_at", "kind", "subject", "read"])


def register(app: typer.Typer) -> None:
    app.add_typer(rfi_app, name="rfi")
    app.add_typer(project_app, name="project")
    app.add_typer(activity_app, name="activity")
    app.add_typer(group_app, name="group")
    app.add_typer(review_app, name="review")
    app.command("inbox")(inbox_cmd)
