"""`cfc` commands over intelligence: import, search, show, export, retention."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cyberfusion.clikit import FormatOpt, OutputFormat, console, emit, handled, session_scope, split_list
from cyberfusion.config import get_settings
from cyberfusion.ingest.pipeline import FORMATS, import_file
from cyberfusion.intel import retention, service
from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import DEFAULT_PURPOSES, HandlingSpec

retention_app = typer.Typer(no_args_is_help=True, help="Retention of contributed intelligence.")
AsOpt = typer.Option(..., "--as", help="e-mail of the member acting (their organisation's rules apply)")
PurposeOpt = typer.Option(..., "--purpose", help="why you read: investigation, victim_notification, "
                                                 "network_defence, research, threat_reporting, ai_processing")


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    return partners.resolve_viewer(session, partners.get_member(session, email))


def _when(value: Optional[str], field: str) -> Optional[datetime]:
    from cyberfusion.errors import InvalidInput
    from cyberfusion.kit.timeutil import parse_ts
    if not value:
        return None
    try:
        return parse_ts(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        raise InvalidInput(f"not a date or timestamp: {value!r}", field=field) from None


@handled
def import_cmd(file: Path = typer.Argument(..., help="file to import (a directory for misp-feed)"),
               as_member: str = AsOpt,
               source: str = typer.Option("stix", "--source", "-s", help=f"input format: {', '.join(FORMATS)}"),
               tlp: str = typer.Option("amber", help="clear, green, amber, amber+strict, red"),
               purpose: list[str] = typer.Option(list(DEFAULT_PURPOSES), "--purpose", help="permitted purpose (repeat)"),
               restrict_country: list[str] = typer.Option([], "--restrict-country", help="only these countries"),
               deny_country: list[str] = typer.Option([], "--deny-country"),
               allow_kind: list[str] = typer.Option([], "--allow-kind", help="only these organisation kinds"),
               le_only: bool = typer.Option(False, "--le-only", help="law enforcement only"),
               recipient: list[str] = typer.Option([], "--recipient", help="named recipient organisation"),
               no_further_dissemination: bool = typer.Option(False, "--nfd"),
               attribution: str = typer.Option("named", help="named, sector or anonymous"),
               no_hit_reveal: bool = typer.Option(False, "--no-hit-reveal"),
               category: Optional[str] = typer.Option(None, help="crime category"),
               review: Optional[str] = typer.Option(None, help="review date (default: 5 years)"),
               expires: Optional[str] = typer.Option(None, help="hard expiry date"),
               mapping: Optional[str] = typer.Option(None, help="CSV column mapping: header=field,..."),
               dry_run: bool = typer.Option(False, "--dry-run", help="validate only; report every error"),
               fmt: OutputFormat = FormatOpt) -> None:
    """Import a file as one contribution (all or nothing; re-importing adds nothing)."""
    from cyberfusion.errors import InvalidInput
    col_map = None
    if mapping:
        try:
            col_map = dict(pair.split("=", 1) for pair in split_list(mapping))
        except ValueError:
            raise InvalidInput("expected header=field pairs separated by commas", field="mapping") from None
    with session_scope() as session:
        viewer = _viewer(session, as_member)
        spec = HandlingSpec(
            tlp=tlp, purposes=tuple(purpose), allowed_countries=tuple(restrict_country),
            denied_countries=tuple(deny_country), allowed_kinds=tuple(allow_kind), le_only=le_only,
            recipients=tuple(partners.get_org(session, r).id for r in recipient),
            no_further_dissemination=no_further_dissemination, attribution=attribution,
            hit_reveal=not no_hit_reveal, category=category, review_at=_when(review, "review"),
            expires_at=_when(expires, "expires"))
        with Progress(TextColumn("[bold]importing {task.description}"), BarColumn(), TextColumn("{task.completed} objects"),
                      TimeElapsedColumn(), console=console, transient=True,
                      disable=fmt == OutputFormat.json or not sys.stderr.isatty()) as progress:
            task = progress.add_task(file.name, total=None)
            result = import_file(session, viewer=viewer, path=file, fmt=source, spec=spec, mapping=col_map,
                                 dry_run=dry_run, progress=lambda n: progress.update(task, completed=n))
    emit(result.as_dict(), fmt)
    if result.problems:
        raise typer.Exit(2)


@handled
def search_cmd(q: str = typer.Argument(..., help="a value (IP, domain, hash, ...) or words"),
               as_member: str = AsOpt, purpose: str = PurposeOpt,
               type: Optional[str] = typer.Option(None, help="STIX types, comma-separated"),
               limit: int = 50, cursor: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Search what your organisation may read for this purpose."""
    with session_scope() as session:
        page = service.search(session, viewer=_viewer(session, as_member), purpose=purpose, q=q,
                              types=split_list(type), cursor=cursor, limit=limit)
    emit({"items": page.items, "next": page.next_cursor} if fmt == OutputFormat.json else page.items, fmt,
         columns=["id", "type", "name", "modified", "confidence"])


@handled
def show_cmd(stix_id: str, as_member: str = AsOpt, purpose: str = PurposeOpt,
             fmt: OutputFormat = FormatOpt) -> None:
    """Show one object with versions, relationships and sources (as policy allows)."""
    with session_scope() as session:
        page = service.get_object(session, viewer=_viewer(session, as_member), purpose=purpose, stix_id=stix_id)
    emit(page, fmt)


@handled
def export_cmd(as_member: str = AsOpt, purpose: str = PurposeOpt,
               to: str = typer.Option("stix", "--to", help="stix, misp, csv or blocklist"),
               kind: Optional[str] = typer.Option(None, help="observable kinds, comma-separated"),
               type: Optional[str] = typer.Option(None, help="STIX types, comma-separated"),
               contribution: Optional[str] = None,
               output: Optional[Path] = typer.Option(None, "--output", "-o", help="file (default stdout)"),
               fmt: OutputFormat = FormatOpt) -> None:
    """Export readable intelligence with its handling markings."""
    from cyberfusion.export import service as exporter
    with session_scope() as session:
        viewer = _viewer(session, as_member)
        if output:
            with output.open("w", encoding="utf-8") as out:
                n = exporter.export(session, viewer=viewer, purpose=purpose, fmt=to, out=out,
                                    kinds=split_list(kind), types=split_list(type), contribution_id=contribution)
            emit({"exported": n, "file": str(output), "format": to}, fmt)
        else:
            exporter.export(session, viewer=viewer, purpose=purpose, fmt=to, out=sys.stdout,
                            kinds=split_list(kind), types=split_list(type), contribution_id=contribution)


@retention_app.command("run")
@handled
def retention_run(fmt: OutputFormat = FormatOpt) -> None:
    """Notify owners of coming reviews, hide what is due, delete what passed its grace period."""
    with session_scope() as session:
        report = retention.run(session, grace_days=get_settings().retention_grace_days)
    emit(report.as_dict() if fmt == OutputFormat.json else
         {k: v for k, v in report.as_dict().items() if k != "contributions"}, fmt)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    app.command("search")(search_cmd)
    app.command("show")(show_cmd)
    app.command("export")(export_cmd)
    app.add_typer(retention_app, name="retention")
