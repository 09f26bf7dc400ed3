"""`cfc taxii collection …`, `cfc collector …` and `cfc feed export`: TAXII collections, pulls of
partners' TAXII collections and MISP feeds, and MISP/STIX feeds of a collection."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, console, emit, handled, session_scope, split_list
from cyberfusion.config import get_settings
from cyberfusion.sharing.handling import DEFAULT_PURPOSES, HandlingSpec

taxii_app = typer.Typer(no_args_is_help=True, help="The TAXII 2.1 server.")
collection_app = typer.Typer(no_args_is_help=True, help="TAXII collections defined by administrators.")
collector_app = typer.Typer(no_args_is_help=True, help="Scheduled pulls of partners' TAXII collections and MISP feeds.")
feed_app = typer.Typer(no_args_is_help=True, help="Feeds of a TAXII collection (MISP feed directory, STIX bundle).")
taxii_app.add_typer(collection_app, name="collection")

TlpOpt = typer.Option("amber", help="clear, green, amber, amber+strict, red")
PurposesOpt = typer.Option(list(DEFAULT_PURPOSES), "--purpose", help="permitted purpose of what is stored (repeat)")


def _secret() -> str:
    return get_settings().effective_secret_key()


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    from cyberfusion.partners import service as partners
    return partners.resolve_viewer(session, partners.get_member(session, email))


def _spec(session, *, tlp: str, purposes: list[str], restrict_country: list[str], recipient: list[str],  # type: ignore[no-untyped-def]
          category: Optional[str], attribution: str) -> HandlingSpec:
    from cyberfusion.partners import service as partners
    return HandlingSpec(tlp=tlp, purposes=tuple(purposes), allowed_countries=tuple(restrict_country),
                        recipients=tuple(partners.get_org(session, r).id for r in recipient), category=category,
                        attribution=attribution)


# --- collections ----------------------------------------------------------------------------------

@collection_app.command("add")
@handled
def collection_add(alias: str, title: str = typer.Option(...), description: str = "",
                   purpose: str = typer.Option("network_defence", help="why readers read it"),
                   tlp: Optional[str] = typer.Option(None, help="only these TLP levels, comma-separated"),
                   category: Optional[str] = typer.Option(None, help="only these crime categories, comma-separated"),
                   region: Optional[str] = typer.Option(None, help="only sources in these regions, comma-separated"),
                   type: Optional[str] = typer.Option(None, help="only these STIX types, comma-separated"),
                   writable: bool = typer.Option(False, help="contributors may POST here"),
                   handling_tlp: str = typer.Option("amber", help="writable: TLP of what is posted"),
                   handling_purpose: list[str] = typer.Option(list(DEFAULT_PURPOSES), "--handling-purpose"),
                   handling_category: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Define a collection: a filter on top of each reader's policy, read for one purpose."""
    from cyberfusion.taxii import admin
    with session_scope() as session:
        row = admin.add_collection(session, alias=alias, title=title, description=description, purpose=purpose,
                                   tlp=split_list(tlp), categories=split_list(category), regions=split_list(region),
                                   types=split_list(type), writable=writable,
                                   handling=HandlingSpec(tlp=handling_tlp, purposes=tuple(handling_purpose),
                                                         category=handling_category) if writable else None)
        emit(admin.describe_collection(row), fmt)


@collection_app.command("list")
@handled
def collection_list(fmt: OutputFormat = FormatOpt) -> None:
    """Built-in and administrator-defined collections."""
    from cyberfusion.taxii import admin
    with session_scope() as session:
        rows = admin.list_collections(session)
    emit(rows, fmt, columns=["alias", "id", "title", "purpose", "filters", "can_write", "builtin"])


@collection_app.command("remove")
@handled
def collection_remove(alias: str, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.taxii import admin
    with session_scope() as session:
        admin.remove_collection(session, alias=alias)
    emit({"removed": alias}, fmt)


# --- collectors -----------------------------------------------------------------------------------

@collector_app.command("add")
@handled
def collector_add(name: str, kind: str = typer.Option(..., help="taxii21 or misp-feed"),
                  url: str = typer.Option(..., help="TAXII collection URL (…/collections/<id>/) or MISP feed URL"),
                  as_member: str = typer.Option(..., "--as", help="member of the partner organisation the pulled "
                                                                  "intelligence is contributed as (contributor role)"),
                  username: Optional[str] = typer.Option(None, help="HTTP Basic user name"),
                  password_env: Optional[str] = typer.Option(None, help="environment variable holding the password"),
                  token_env: Optional[str] = typer.Option(None, help="environment variable holding a bearer token"),
                  tlp: str = TlpOpt, purpose: list[str] = PurposesOpt,
                  restrict_country: list[str] = typer.Option([], "--restrict-country"),
                  recipient: list[str] = typer.Option([], "--recipient", help="named recipient organisation"),
                  category: Optional[str] = typer.Option(None, help="crime category"),
                  attribution: str = typer.Option("named", help="named, sector or anonymous"),
                  interval: int = typer.Option(3600, help="seconds between runs"),
                  page_size: int = typer.Option(1000, help="TAXII objects per request"),
                  fmt: OutputFormat = FormatOpt) -> None:
    """Configure a scheduled pull with the handling to apply to what it stores."""
    from cyberfusion.errors import InvalidInput
    from cyberfusion.taxii import collectors
    secret_of = {"password_env": password_env, "token_env": token_env}
    values = {}
    for key, var in secret_of.items():
        if var is not None:
            if var not in os.environ:
                raise InvalidInput(f"environment variable {var} is not set", field=key)
            values[key] = os.environ[var]
    with session_scope() as session:
        spec = _spec(session, tlp=tlp, purposes=purpose, restrict_country=restrict_country, recipient=recipient,
                     category=category, attribution=attribution)
        row = collectors.add(session, name=name, kind=kind, url=url, member_email=as_member, handling=spec,
                             secret=_secret(), username=username, password=values.get("password_env"),
                             token=values.get("token_env"), interval_seconds=interval, page_size=page_size)
        emit({"name": row.name, "kind": row.kind, "url": row.url, "next_run_at": row.next_run_at}, fmt)


@collector_app.command("list")
@handled
def collector_list(fmt: OutputFormat = FormatOpt) -> None:
    """Every collector with its progress and last-run status."""
    from cyberfusion.taxii import collectors
    with session_scope() as session:
        rows = collectors.listing(session)
    emit(rows, fmt, columns=["name", "kind", "organisation", "status", "last_run_at", "last_success_at",
                             "next_run_at", "failures", "run_objects", "run_skipped", "total_objects", "last_error"])


@collector_app.command("run")
@handled
def collector_run(names: Optional[list[str]] = typer.Argument(None, help="collectors to run now (default: all due)"),
                  loop: bool = typer.Option(False, "--loop", help="keep running due collectors (a worker)"),
                  idle_sleep: float = typer.Option(30.0, help="--loop: seconds to wait when nothing is due"),
                  fmt: OutputFormat = FormatOpt) -> None:
    """Run collectors now, or as a background worker with --loop (start several; leases keep them apart)."""
    from cyberfusion.db import make_engine, make_sessionmaker, require_current_schema
    from cyberfusion.taxii import collectors
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        require_current_schema(engine)
        factory = make_sessionmaker(engine)
        tmp = settings.data_dir / "tmp"
        if loop:
            stopping: list[bool] = []
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            if fmt == OutputFormat.text:
                console.print("collector worker running (Ctrl+C or SIGTERM to stop)")
            try:
                runs = collectors.work(factory, secret=_secret(), tmp_dir=tmp, idle_sleep=idle_sleep,
                                       stop=lambda: bool(stopping))
            except KeyboardInterrupt:
                runs = -1
            emit({"runs": runs}, fmt)
            return
        reports = collectors.run(factory, secret=_secret(), tmp_dir=tmp, names=names or None, due_only=not names)
    finally:
        engine.dispose()
    emit([r.as_dict() for r in reports], fmt, columns=["name", "status", "pages", "objects", "skipped", "error"])
    if any(r.status == "error" for r in reports):
        raise typer.Exit(1)


@collector_app.command("remove")
@handled
def collector_remove(name: str, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.taxii import collectors
    with session_scope() as session:
        collectors.remove(session, name=name)
    emit({"removed": name}, fmt)


# --- feeds ------------------------------------------------------------------------------------------

@feed_app.command("export")
@handled
def feed_export(as_member: str = typer.Option(..., "--as", help="the member whose organisation's rules apply"),
                collection: str = typer.Option("all", help="collection alias or id"),
                to: str = typer.Option("misp", "--to", help="misp (a feed directory) or stix (a bundle file)"),
                output: Path = typer.Option(..., "--output", "-o", help="directory (misp) or file (stix)"),
                fmt: OutputFormat = FormatOpt) -> None:
    """Write a collection as a MISP feed directory MISP can subscribe to, or as a STIX 2.1 bundle."""
    from cyberfusion.errors import InvalidInput
    from cyberfusion.taxii import feed, service
    from cyberfusion.taxii.collections import API_ROOT
    if to not in ("misp", "stix"):
        raise InvalidInput(f"{to!r} is not one of: misp, stix", field="to")
    with session_scope() as session:
        viewer = _viewer(session, as_member)
        found = service.get_collection(session, viewer=viewer, root=API_ROOT, key=collection)
        if to == "misp":
            out = feed.write_misp_feed(session, viewer=viewer, collection=found, out_dir=output)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8") as fh:
                out = {"objects": feed.write_stix(session, viewer=viewer, collection=found, out=fh)}
    emit({**out, "output": str(output), "format": to, "collection": found.alias}, fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(taxii_app, name="taxii")
    app.add_typer(collector_app, name="collector")
    app.add_typer(feed_app, name="feed")
