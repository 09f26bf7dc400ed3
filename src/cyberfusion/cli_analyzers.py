"""`cfc analyze` and `cfc analyzer ...`: run partner tools on intelligence, follow and configure them."""

from __future__ import annotations

from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope

analyzer_app = typer.Typer(no_args_is_help=True, help="Analyzers: partner tools run on intelligence.")
AsOpt = typer.Option(..., "--as", help="e-mail of the member acting (their organisation's rules apply)")
PurposeOpt = typer.Option(..., "--purpose", help="why you read: investigation, victim_notification, "
                                                 "network_defence, research, threat_reporting, ai_processing")
RUN_COLUMNS = ["id", "analyzer", "kind", "value", "status", "summary", "error", "duration_ms"]


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    from cyberfusion.partners import service as partners
    return partners.resolve_viewer(session, partners.get_member(session, email))


@handled
def analyze_cmd(value: str = typer.Argument(..., help="an IP, domain, hash, phone, IBAN, wallet, CVE ..."),
                as_member: str = AsOpt, purpose: str = PurposeOpt,
                analyzer: Optional[str] = typer.Option(None, "--analyzer", help="only this analyzer"),
                fmt: OutputFormat = FormatOpt) -> None:
    """Run analyzers on a value you may read; results are stored under the value's own handling."""
    from cyberfusion.analyzers import service
    with session_scope() as session:
        runs = service.analyze_value(session, viewer=_viewer(session, as_member), purpose=purpose, value=value,
                                     analyzer=analyzer, trigger="manual")
    emit(runs, fmt, columns=RUN_COLUMNS)
    if not any(r["status"] == "done" for r in runs):
        raise typer.Exit(1)


@analyzer_app.command("list")
@handled
def list_cmd(fmt: OutputFormat = FormatOpt) -> None:
    """The installed analyzers with their owner, accepted kinds, egress and configuration."""
    from cyberfusion.analyzers import registry, service
    with session_scope() as session:
        rows = service.list_analyzers(session)
    if fmt == OutputFormat.text:
        for row in rows:
            row["accepts"] = ",".join(row["accepts"])
            row["auto_kinds"] = ",".join(row["auto_kinds"])
    emit(rows, fmt, columns=["name", "version", "owner", "accepts", "egress", "enabled", "auto_kinds", "budget",
                             "description"])
    if registry.broken() and fmt == OutputFormat.text:
        emit({f"left out: {k}": v for k, v in registry.broken().items()}, fmt)


@analyzer_app.command("runs")
@handled
def runs_cmd(as_member: str = AsOpt, purpose: str = PurposeOpt, status: Optional[str] = None,
             analyzer: Optional[str] = None, mine: bool = typer.Option(False, help="only runs you asked for"),
             limit: int = 50, before: Optional[int] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Runs on intelligence you may read for this purpose: status, duration, errors."""
    from cyberfusion.analyzers import service
    with session_scope() as session:
        page = service.list_runs(session, viewer=_viewer(session, as_member), purpose=purpose, status=status,
                                 analyzer=analyzer, mine=mine, before=before, limit=limit)
    emit(page if fmt == OutputFormat.json else page["items"], fmt, columns=RUN_COLUMNS)


@analyzer_app.command("run-pending")
@handled
def run_pending_cmd(limit: int = 100, fmt: OutputFormat = FormatOpt) -> None:
    """Execute queued runs now (automatic runs on ingest wait here until a job queue takes them)."""
    from cyberfusion.analyzers import service
    with session_scope() as session:
        report = service.run_pending(session, limit=limit)
    emit(report.as_dict(), fmt)


@analyzer_app.command("configure")
@handled
def configure_cmd(name: str, enable: Optional[bool] = typer.Option(None, "--enable/--disable"),
                  auto: list[str] = typer.Option([], "--auto", help="observable kind analysed on ingest (repeat)"),
                  no_auto: bool = typer.Option(False, "--no-auto", help="no automatic runs"),
                  budget: Optional[int] = typer.Option(None, help="max automatic runs per contribution"),
                  cache_hours: Optional[int] = None, url: Optional[str] = typer.Option(None, help="HTTP analyzers"),
                  fmt: OutputFormat = FormatOpt) -> None:
    """Enable or disable an analyzer, choose what it analyses on ingest, its budget and cache."""
    from cyberfusion.analyzers import service
    with session_scope() as session:
        row = service.configure(session, name=name, enabled=enable, auto_kinds=[] if no_auto else (auto or None),
                                budget=budget, cache_hours=cache_hours, url=url)
    emit(row, fmt)


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_cmd)
    app.add_typer(analyzer_app, name="analyzer")
