"""`cfc worker` and `cfc jobs`: the background queue."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, console, emit, handled, session_scope, split_list
from cyberfusion.config import get_settings

jobs_app = typer.Typer(no_args_is_help=True, help="The background job queue.")


@handled
def worker_cmd(once: bool = typer.Option(False, "--once", help="exit when the queue is empty"),
               kinds: Optional[str] = typer.Option(None, help="only these job kinds, comma-separated"),
               batch: int = typer.Option(20, min=1, max=1000), fmt: OutputFormat = FormatOpt) -> None:
    """Run background jobs (start several, on several machines, against one PostgreSQL)."""
    import cyberfusion.jobs.handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.db import make_engine, make_sessionmaker, require_current_schema
    from cyberfusion.jobs.service import work, worker_name
    engine = make_engine(get_settings().effective_database_url)
    require_current_schema(engine)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    name = worker_name()
    if fmt == OutputFormat.text:
        console.print(f"worker {name} running (Ctrl+C or SIGTERM to stop)")
    try:
        done = work(make_sessionmaker(engine), once=once, stop=lambda: bool(stopping), worker=name,
                    limit=batch, kinds=split_list(kinds) or None)
    except KeyboardInterrupt:
        done = -1
    emit({"worker": name, "jobs_run": done}, fmt)


@jobs_app.command("list")
@handled
def jobs_list(status: Optional[str] = None, limit: int = 50, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.jobs import repository
    with session_scope() as session:
        rows = [{"id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts,
                 "run_after": j.run_after, "last_error": j.last_error}
                for j in repository.listing(session, status=status, limit=limit)]
        counts = repository.counts(session)
    emit({"counts": counts, "jobs": rows} if fmt == OutputFormat.json else rows, fmt,
         columns=["id", "kind", "status", "attempts", "run_after", "last_error"])


@jobs_app.command("enqueue")
@handled
def jobs_enqueue(kind: str,
                 payload: Optional[str] = typer.Option(None, help='the job\'s input as a JSON object, e.g. '
                                                                  '\'{"period": "2026-10", "all": true}\''),
                 fmt: OutputFormat = FormatOpt) -> None:
    """Queue a job of a known kind (e.g. retention.run, correlation.rebuild, reports.generate)."""
    import json

    import cyberfusion.jobs.handlers  # noqa: F401
    from cyberfusion.errors import InvalidInput
    from cyberfusion.jobs.service import enqueue
    try:
        data = json.loads(payload) if payload else {}
    except ValueError as exc:
        raise InvalidInput(f"not JSON: {exc}", field="payload") from None
    if not isinstance(data, dict):
        raise InvalidInput("must be a JSON object", field="payload")
    with session_scope() as session:
        job = enqueue(session, kind=kind, payload=data)
        emit({"id": job.id, "kind": job.kind, "status": job.status, "payload": job.payload}, fmt)


@handled
def backup_cmd(output: Path = typer.Argument(..., help="new file for the backup"),
               fmt: OutputFormat = FormatOpt) -> None:
    """Copy the live SQLite database consistently (online backup API)."""
    from cyberfusion.ops.backup import backup
    info = backup(get_settings().effective_database_url, output)
    emit({"backup": info.path, "bytes": info.bytes, "integrity": info.integrity, "tables": info.tables}, fmt)


@handled
def restore_cmd(file: Path = typer.Argument(..., help="a file made by cfc backup"),
                yes: bool = typer.Option(False, "--yes", help="confirm replacing the current database"),
                fmt: OutputFormat = FormatOpt) -> None:
    """Replace the SQLite database with a backup (checked for integrity first)."""
    from cyberfusion.errors import InvalidInput
    from cyberfusion.ops.backup import restore
    if not yes:
        raise InvalidInput("restoring replaces the current database: add --yes to confirm", field="yes")
    info = restore(get_settings().effective_database_url, file)
    emit({"restored_from": str(file), "bytes": info.bytes, "integrity": info.integrity, "tables": info.tables}, fmt)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
    app.add_typer(jobs_app, name="jobs")
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
