"""The `cfc` command line. Each command parses, calls one service, renders."""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import typer

from cyberfusion.audit import repository as audit_repo
from cyberfusion.audit import service as audit
from cyberfusion.auth import tokens
from cyberfusion.clikit import (FormatOpt, OutputFormat, console, emit, handled, parse_date, session_scope,
                                split_list)
from cyberfusion.config import get_settings, load_settings
from cyberfusion.errors import ConfigurationError, CyberfusionError
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing.markings import TLP_LEVELS

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="cyberfusion: a cyber fusion centre platform.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
org_app = typer.Typer(no_args_is_help=True, help="Partner organisations and vetting.")
member_app = typer.Typer(no_args_is_help=True, help="Members and roles.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")
secondment_app = typer.Typer(no_args_is_help=True, help="Seconded experts.")
agreement_app = typer.Typer(no_args_is_help=True, help="Data-sharing agreements.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
for sub, name in ((db_app, "db"), (org_app, "org"), (member_app, "member"), (token_app, "token"),
                  (secondment_app, "secondment"), (agreement_app, "agreement"), (audit_app, "audit")):
    app.add_typer(sub, name=name)


def _engine():  # type: ignore[no-untyped-def]
    from cyberfusion.db import make_engine
    return make_engine(get_settings().effective_database_url)


@db_app.command("upgrade")
@handled
def db_upgrade(fmt: OutputFormat = FormatOpt) -> None:
    """Apply all database migrations (safe to repeat)."""
    from cyberfusion.db import migration_state, upgrade
    engine = _engine()
    upgrade(engine)
    current, _ = migration_state(engine)
    emit({"database": engine.url.render_as_string(hide_password=True), "revision": current}, fmt)


@app.command("init")
@handled
def init(host_centre: str = typer.Option("Cyber Fusion Centre", help="Name of the host centre"),
         country: str = typer.Option("SG", help="Host centre's country (ISO 3166-1 alpha-2)"),
         fmt: OutputFormat = FormatOpt) -> None:
    """Create the data directory and database schema, and the host-centre organisation."""
    from cyberfusion.db import upgrade
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.effective_secret_key()
    upgrade(_engine())
    with session_scope() as session:
        host = partners_repo.host_centre(session) or partners.create_organisation(
            session, name=host_centre, kind="host_centre", country=country)
        emit({"data_dir": str(settings.data_dir), "database": settings.effective_database_url,
              "host_centre": host.name}, fmt)


@app.command("demo")
@handled
def demo(serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the server after loading"),
         indicators: int = typer.Option(50_000, help="Demo indicators to generate (first run only)"),
         fmt: OutputFormat = FormatOpt) -> None:
    """Load the demo fusion centre (once) and serve it on the configured host and port."""
    from cyberfusion.db import upgrade
    from cyberfusion.demo import load_demo
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = _engine()
    upgrade(engine)
    summary = load_demo(engine, indicators=indicators, quiet=fmt == OutputFormat.json)
    url = f"http://{settings.host}:{settings.port}/"
    if fmt == OutputFormat.json:
        emit({**summary, "url": url}, fmt)
    else:
        console.print(f"[bold green]cyberfusion demo[/bold green] — data in {settings.data_dir}")
        console.print(f"{summary['organisations']} organisations, {summary['members']} members, "
                      f"{summary['objects']} intelligence objects "
                      f"({'loaded now' if summary['loaded_now'] else 'already loaded'})")
        emit(summary["logins"], fmt, columns=["role", "email", "password", "organisation"],
             title="Demo logins (password for the web, or 'cfc token create --member EMAIL' for the API)")
        console.print(f"API: {url}api/v1  ·  OpenAPI: {url}docs")
    if serve:
        _serve(settings.host, settings.port, workers=1)


def _serve(host: str, port: int, *, workers: int) -> None:
    import uvicorn

    from cyberfusion.db import require_current_schema
    require_current_schema(_engine())
    console.print(f"serving on http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run("cyberfusion.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=get_settings().log_level)


@app.command("serve")
@handled
def serve_cmd(host: Optional[str] = None, port: Optional[int] = None,
              workers: int = typer.Option(1, min=1), fmt: OutputFormat = FormatOpt) -> None:
    """Start the API server (refuses an un-migrated database)."""
    s = get_settings()
    _serve(host or s.host, port or s.port, workers=workers)


# --- organisations -------------------------------------------------------------------------

def _org_row(o) -> dict:  # type: ignore[no-untyped-def]
    return {"id": o.id, "name": o.name, "kind": o.kind, "sector": o.sector, "country": o.country,
            "region": o.region, "vetting": o.vetting_status, "review_due": o.review_due}


@org_app.command("add")
@handled
def org_add(name: str, kind: str = typer.Option(..., help="law_enforcement, national_bureau, private, "
                                                            "academia, international, host_centre"),
            country: str = typer.Option(..., help="ISO 3166-1 alpha-2"),
            sector: Optional[str] = typer.Option(None, help="for private: internet_security, financial, telecom, other"),
            region: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Register an organisation (vetting starts as pending)."""
    with session_scope() as session:
        org = partners.create_organisation(session, name=name, kind=kind, country=country, sector=sector,
                                           region=region)
        emit(_org_row(org), fmt)


@org_app.command("list")
@handled
def org_list(kind: Optional[str] = None, status: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = [_org_row(o) for o in partners_repo.list_orgs(session, kind=kind, status=status)]
    emit(rows, fmt, columns=["id", "name", "kind", "sector", "country", "region", "vetting"])


@org_app.command("vet")
@handled
def org_vet(org: str, decision: str = typer.Option(..., help="approved, rejected or pending"),
            reviewer: str = typer.Option(...), notes: str = "", review_due: Optional[str] = None,
            fmt: OutputFormat = FormatOpt) -> None:
    """Record a due-diligence decision; only approved organisations contribute or receive."""
    with session_scope() as session:
        o = partners.vet_organisation(session, org=partners.get_org(session, org), decision=decision,
                                      reviewer=reviewer, notes=notes,
                                      review_due=parse_date(review_due, "review_due"))
        emit(_org_row(o), fmt)


# --- members and tokens --------------------------------------------------------------------

@member_app.command("add")
@handled
def member_add(email: str, org: str = typer.Option(..., help="organisation name or id"),
               roles: str = typer.Option(..., help="comma-separated: analyst, contributor, reader, "
                                                   "org_admin, platform_admin, auditor"),
               name: str = "", password: Optional[str] = typer.Option(None, help="web password (≥10 chars)"),
               fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        m = partners.add_member(session, email=email, name=name, org=partners.get_org(session, org),
                                roles=split_list(roles), password=password)
        emit({"id": m.id, "email": m.email, "organisation_id": m.organisation_id, "roles": m.roles}, fmt)


@member_app.command("list")
@handled
def member_list(org: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        org_id = partners.get_org(session, org).id if org else None
        rows = [{"id": m.id, "email": m.email, "name": m.name, "organisation": o.name,
                 "roles": ",".join(m.roles), "active": m.active}
                for m, o in partners_repo.list_members(session, org_id=org_id)]
    emit(rows, fmt, columns=["id", "email", "name", "organisation", "roles", "active"])


@token_app.command("create")
@handled
def token_create(member: str = typer.Option(..., help="member e-mail"),
                 expires_days: Optional[int] = typer.Option(None, help="default: CFC_TOKEN_DEFAULT_DAYS"),
                 name: str = "", fmt: OutputFormat = FormatOpt) -> None:
    """Issue an API token; the clear token is printed once and never stored."""
    with session_scope() as session:
        m = partners.get_member(session, member)
        issued = tokens.issue(session, member=m, name=name,
                              expires_days=expires_days or get_settings().token_default_days)
        audit.record(session, action="token.create", member_id=m.id, organisation_id=m.organisation_id,
                     detail={"prefix": issued.record.prefix, "via": "cli"})
        emit({"token": issued.token, "prefix": issued.record.prefix, "member": m.email,
              "expires_at": issued.record.expires_at}, fmt)


@token_app.command("revoke")
@handled
def token_revoke(prefix: str, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        record = tokens.revoke(session, prefix=prefix)
        audit.record(session, action="token.revoke", member_id=record.member_id,
                     detail={"prefix": record.prefix, "via": "cli"})
        emit({"prefix": record.prefix, "revoked_at": record.revoked_at}, fmt)


# --- secondments and agreements -------------------------------------------------------------

def _secondment_row(s) -> dict:  # type: ignore[no-untyped-def]
    return {"id": s.id, "member_id": s.member_id, "seconding_organisation_id": s.seconding_organisation_id,
            "start_date": s.start_date, "end_date": s.end_date, "scope": s.scope,
            "acknowledged_at": s.confidentiality_ack_at}


@secondment_app.command("add")
@handled
def secondment_add(member: str = typer.Option(..., help="the expert's host-centre account e-mail"),
                   seconding_org: str = typer.Option(..., help="organisation name or id"),
                   start: str = typer.Option(..., help="YYYY-MM-DD"),
                   end: Optional[str] = typer.Option(None, help="YYYY-MM-DD (default: one year)"),
                   scope: str = "", acknowledged: bool = typer.Option(False, help="confidentiality signed now"),
                   fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.db import utcnow
    with session_scope() as session:
        s = partners.add_secondment(session, member=partners.get_member(session, member),
                                    seconding_org=partners.get_org(session, seconding_org),
                                    start=parse_date(start, "start_date"), end=parse_date(end, "end_date"),
                                    scope=scope, acknowledged_at=utcnow() if acknowledged else None)
        emit(_secondment_row(s), fmt)


@secondment_app.command("list")
@handled
def secondment_list(fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = [_secondment_row(s) for s in partners_repo.secondments(session)]
    emit(rows, fmt, columns=["id", "member_id", "seconding_organisation_id", "start_date", "end_date",
                             "acknowledged_at"])


def _agreement_row(a) -> dict:  # type: ignore[no-untyped-def]
    return {"id": a.id, "organisation_id": a.organisation_id, "reference": a.reference, "status": a.status,
            "valid_from": a.valid_from, "valid_until": a.valid_until, "tlp_ceiling": TLP_LEVELS[a.tlp_ceiling],
            "contribute": a.contribute_categories, "receive": a.receive_categories, "purposes": a.purposes}


@agreement_app.command("add")
@handled
def agreement_add(org: str = typer.Option(...), reference: str = typer.Option(...),
                  valid_from: str = typer.Option(...), valid_until: Optional[str] = None,
                  tlp_ceiling: str = "amber", contribute: str = "", receive: str = "",
                  purposes: str = "", status: str = "active", fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        a = partners.add_agreement(session, org=partners.get_org(session, org), reference=reference,
                                   valid_from=parse_date(valid_from, "valid_from"),
                                   valid_until=parse_date(valid_until, "valid_until"), tlp_ceiling=tlp_ceiling,
                                   contribute=split_list(contribute), receive=split_list(receive),
                                   purposes=split_list(purposes), status=status)
        emit(_agreement_row(a), fmt)


@agreement_app.command("list")
@handled
def agreement_list(org: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        org_id = partners.get_org(session, org).id if org else None
        rows = [_agreement_row(a) for a in partners_repo.agreements(session, org_id=org_id)]
    emit(rows, fmt, columns=["id", "organisation_id", "reference", "status", "valid_from", "valid_until",
                             "tlp_ceiling"])


# --- audit ------------------------------------------------------------------------------------

@audit_app.command("verify")
@handled
def audit_verify(fmt: OutputFormat = FormatOpt) -> None:
    """Walk the hash chain; exit 1 and name the first broken entry on tampering."""
    with session_scope() as session:
        report = audit.verify(session)
    emit({"ok": report.ok, "entries": report.entries, "broken_at": report.broken_at,
          "reason": report.reason}, fmt)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
@handled
def audit_export(action: Optional[str] = None, member_id: Optional[int] = None,
                 output: Optional[str] = typer.Option(None, "--output", "-o", help="file (default stdout)"),
                 fmt: OutputFormat = FormatOpt) -> None:
    """Export the log as JSON lines (one entry per line)."""
    import json
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        with session_scope() as session:
            after = 0
            while rows := audit_repo.search(session, action=action, member_id=member_id, after_id=after,
                                            limit=5000):
                for r in rows:
                    out.write(json.dumps(audit.as_dict(r), ensure_ascii=False) + "\n")
                    count += 1
                after = rows[-1].id
    finally:
        if output:
            out.close()
    if output:
        emit({"exported": count, "file": output}, fmt)


# Modules with a `register(app)` that adds their commands, one per line.
COMMAND_MODULES = (
    "cyberfusion.cli_intel",
    "cyberfusion.cli_fusion",
    "cyberfusion.cli_jobs",
    "cyberfusion.cli_taxii",
    "cyberfusion.cli_analyzers",
    "cyberfusion.cli_products",
    "cyberfusion.cli_tasking",
    "cyberfusion.cli_ai",
)
for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    try:
        load_settings()
    except ConfigurationError as exc:
        sys.stderr.write(f"cfc: {exc.detail}\n")
        raise SystemExit(2) from None
    try:
        app()
    except CyberfusionError as exc:  # raised outside a @handled command (e.g. settings)
        sys.stderr.write(f"cfc: {exc.detail}\n")
        raise SystemExit(exc.exit_code) from None
