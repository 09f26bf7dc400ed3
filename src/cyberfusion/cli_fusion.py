"""`cfc` commands of fusion: warninglists, hit/no-hit lookups, private search sets, watchlists,
alerts and their delivery, owners' hit inbox, correlation.

The search-set export is `cfc search-set export` (not `cfc export search-set`): `cfc export`
is already a command with options of its own, and turning it into a group would break it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope, split_list
from cyberfusion.config import get_settings
from cyberfusion.errors import InvalidInput
from cyberfusion.fusion import alerts, correlate, hits, searchset, warninglists, watch
from cyberfusion.partners import service as partners

warninglist_app = typer.Typer(no_args_is_help=True, help="MISP warninglists (known benign values).")
watchlist_app = typer.Typer(no_args_is_help=True, help="Watchlists that raise alerts on new intelligence.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alert inbox and delivery (webhooks, e-mail).")
hits_app = typer.Typer(no_args_is_help=True, help="Hit notifications: lookups by others that hit your data.")
search_set_app = typer.Typer(no_args_is_help=True, help="Private search sets (keyed hashes, Bloom filters).")
correlation_app = typer.Typer(no_args_is_help=True, help="Correlation: values, clusters, aggregates.")
AsOpt = typer.Option(..., "--as", help="e-mail of the member acting (their organisation's rules apply)")
PurposeOpt = typer.Option(..., "--purpose", help="why you read: investigation, victim_notification, "
                                                 "network_defence, research, threat_reporting, ai_processing")


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    return partners.resolve_viewer(session, partners.get_member(session, email))


def _read_values(file: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc}", field="file") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# --- warninglists ----------------------------------------------------------------------------

@warninglist_app.command("import")
@handled
def warninglist_import(paths: list[Path] = typer.Argument(..., help="list.json files, list directories, or a "
                                                                    "directory of lists (misp-warninglists/lists)"),
                       fmt: OutputFormat = FormatOpt) -> None:
    """Import or refresh MISP warninglists (unchanged lists are left as they are)."""
    with session_scope() as session:
        rows = [o.as_dict() for o in warninglists.import_paths(session, paths)]
    emit(rows, fmt, columns=["slug", "name", "type", "entries", "unusable", "status"])


@warninglist_app.command("list")
@handled
def warninglist_list(fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = warninglists.list_all(session)
    emit(rows, fmt, columns=["slug", "name", "type", "entries", "enabled", "version"])


@warninglist_app.command("check")
@handled
def warninglist_check(value: str, kind: Optional[str] = typer.Option(None, help="observable kind (detected if omitted)"),
                      fmt: OutputFormat = FormatOpt) -> None:
    """Which enabled warninglists hold VALUE (defanged input is accepted)."""
    with session_scope() as session:
        result = warninglists.check(session, value=value, kind=kind)
    if fmt == OutputFormat.json:
        emit(result, fmt)
    else:
        emit({"value": result["normalised"], "kind": result["kind"],
              "warninglists": ", ".join(result["warninglists"]) or "(none)"}, fmt)


def _set_enabled(ref: str, enabled: bool, fmt: OutputFormat) -> None:
    with session_scope() as session:
        row = warninglists.set_enabled(session, ref=ref, enabled=enabled)
        emit({"name": row.name, "enabled": row.enabled}, fmt)


@warninglist_app.command("enable")
@handled
def warninglist_enable(ref: str, fmt: OutputFormat = FormatOpt) -> None:
    _set_enabled(ref, True, fmt)


@warninglist_app.command("disable")
@handled
def warninglist_disable(ref: str, fmt: OutputFormat = FormatOpt) -> None:
    _set_enabled(ref, False, fmt)


# --- lookups and search sets -----------------------------------------------------------------------

@handled
def lookup_cmd(file: Path = typer.Argument(..., help="values, one per line ('-' for stdin)"),
               as_member: Optional[str] = typer.Option(None, "--as", help="member asking (online lookup)"),
               purpose: Optional[str] = typer.Option(None, "--purpose", help="why you ask (online lookup)"),
               kind: Optional[str] = typer.Option(None, help="kind of every value (detected if omitted)"),
               search_set: Optional[Path] = typer.Option(None, "--search-set",
                                                         help="check against this exported set, offline"),
               fmt: OutputFormat = FormatOpt) -> None:
    """Hit/no-hit: do we hold anything on these values? Or check them against a search set offline."""
    values = _read_values(file)
    if search_set is not None:
        results = searchset.check(searchset.load(search_set), values, kind=kind)
        emit(results, fmt, columns=["value", "kind", "result"])
        return
    if not as_member or not purpose:
        raise InvalidInput("an online lookup needs --as and --purpose (or give --search-set)", field="as")
    with session_scope() as session:
        result = hits.lookup(session, viewer=_viewer(session, as_member), purpose=purpose, values=values, kind=kind)
    if fmt == OutputFormat.json:
        emit(result.as_dict(), fmt)
        return
    rows = [{"value": r["value"], "result": r["result"], "kind": r.get("kind"),
             "references": ", ".join(x["reference"] for x in r.get("references", [])),
             "objects": r.get("details", {}).get("object_count", "")} for r in result.results]
    emit(rows, fmt, columns=["value", "kind", "result", "objects", "references"],
         title=f"lookup {result.lookup_id}: {result.counts['hit']} hit, {result.counts['no_hit']} no hit, "
               f"{result.counts['invalid']} invalid")


@search_set_app.command("export")
@handled
def search_set_export(org: str = typer.Option(..., "--org", help="organisation name or id"),
                      purpose: str = PurposeOpt,
                      output: Optional[Path] = typer.Option(None, "--output", "-o", help="file (default stdout)"),
                      bloom_fp: Optional[float] = typer.Option(None, "--bloom-fp",
                                                               help="add a Bloom filter with this false-positive rate"),
                      bloom_only: bool = typer.Option(False, "--bloom-only", help="leave out the hash list"),
                      kind: Optional[str] = typer.Option(None, help="observable kinds, comma-separated"),
                      fmt: OutputFormat = FormatOpt) -> None:
    """Write the HMAC-SHA256 set (and optionally a Bloom filter) of the values ORG may match on."""
    with session_scope() as session:
        viewer = searchset.org_viewer(session, partners.get_org(session, org))
        if output:
            with output.open("w", encoding="utf-8") as out:
                header = searchset.export(session, viewer=viewer, purpose=purpose, out=out, bloom_fp=bloom_fp,
                                          hashes=not bloom_only, kinds=split_list(kind))
            emit({"file": str(output), **{k: v for k, v in header.items() if k != "bloom"},
                  "bloom": header.get("bloom")}, fmt)
        else:
            searchset.export(session, viewer=viewer, purpose=purpose, out=sys.stdout, bloom_fp=bloom_fp,
                             hashes=not bloom_only, kinds=split_list(kind))


# --- watchlists ------------------------------------------------------------------------------------

def _items(specs: list[str]) -> list[dict[str, str]]:
    items = []
    for spec in specs:
        type_, sep, value = spec.partition(":")
        if not sep or type_ not in watch.ITEM_TYPES:
            raise InvalidInput(f"expected TYPE:VALUE with TYPE one of {', '.join(watch.ITEM_TYPES)}: {spec!r}",
                               field="item")
        items.append({"type": type_, "value": value})
    return items


@watchlist_app.command("add")
@handled
def watchlist_add(name: str, as_member: str = AsOpt, purpose: str = PurposeOpt,
                  scope: str = typer.Option("member", help="member or organisation"),
                  webhook: Optional[str] = typer.Option(None, help="webhook URL for alert batches"),
                  email: Optional[str] = typer.Option(None, help="e-mail address for alert batches"),
                  item: list[str] = typer.Option([], "--item", help="TYPE:VALUE, e.g. cidr:192.0.2.0/24, "
                                                                     "domain:example.com, keyword:emotet, country:FR"),
                  fmt: OutputFormat = FormatOpt) -> None:
    """Create a watchlist (the webhook signing secret is printed once)."""
    with session_scope() as session:
        viewer = _viewer(session, as_member)
        wl, secret = watch.create_watchlist(session, viewer=viewer, name=name, purpose=purpose, scope=scope,
                                            webhook_url=webhook, email=email, items=_items(item))
        emit(watch.get_watchlist(session, viewer=viewer, watchlist_id=wl.id) | {"webhook_secret": secret}, fmt)


@watchlist_app.command("list")
@handled
def watchlist_list(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = watch.list_watchlists(session, viewer=_viewer(session, as_member))
    if fmt == OutputFormat.json:
        emit(rows, fmt)
    else:
        emit([r | {"items": len(r["items"])} for r in rows], fmt,
             columns=["id", "name", "scope", "purpose", "items", "webhook_url", "email"])


@watchlist_app.command("item-add")
@handled
def watchlist_item_add(watchlist_id: int, spec: str = typer.Argument(..., help="TYPE:VALUE"),
                       as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    (item,) = _items([spec])
    with session_scope() as session:
        emit(watch.add_item(session, viewer=_viewer(session, as_member), watchlist_id=watchlist_id, **item), fmt)


@watchlist_app.command("remove")
@handled
def watchlist_remove(watchlist_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        watch.delete_watchlist(session, viewer=_viewer(session, as_member), watchlist_id=watchlist_id)
    emit({"deleted": watchlist_id}, fmt)


# --- alerts -----------------------------------------------------------------------------------------

@alerts_app.command("list")
@handled
def alerts_list(as_member: str = AsOpt, purpose: str = PurposeOpt, unread: bool = False, limit: int = 100,
                fmt: OutputFormat = FormatOpt) -> None:
    """Your and your organisation's alerts you may read for this purpose."""
    with session_scope() as session:
        rows = alerts.inbox(session, viewer=_viewer(session, as_member), purpose=purpose, unread=unread, limit=limit)
    if fmt == OutputFormat.json:
        emit(rows, fmt)
    else:
        emit([{"id": r["id"], "watchlist": r["watchlist"]["name"], "match": f"{r['match']['type']} "
               f"{r['match']['watched']}", "value": (r.get("observable") or {}).get("value", ""),
               "object": (r.get("object") or {}).get("id", ""), "created_at": r["created_at"]} for r in rows],
             fmt, columns=["id", "watchlist", "match", "value", "object", "created_at"])


@alerts_app.command("deliver")
@handled
def alerts_deliver(queue: bool = typer.Option(False, "--queue", help="hand the deliveries to the job queue "
                                                                    "(sent by cfc worker) instead of sending here"),
                   fmt: OutputFormat = FormatOpt) -> None:
    """Batch new alerts per recipient and send due webhook/e-mail deliveries (retries, dead-letter)."""
    with session_scope() as session:
        report = alerts.deliver_pending(session, settings=get_settings(), queue=queue)
    emit(report.as_dict(), fmt)


@alerts_app.command("deliveries")
@handled
def alerts_deliveries(status: Optional[str] = typer.Option(None, help="pending, queued, delivered or dead"),
                      limit: int = 100, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = alerts.list_deliveries(session, status=status, limit=limit)
    emit(rows, fmt, columns=["id", "recipient", "channel", "target", "status", "attempts", "alerts", "last_error"])


@alerts_app.command("requeue")
@handled
def alerts_requeue(delivery_id: int, fmt: OutputFormat = FormatOpt) -> None:
    """Send a dead-lettered delivery again."""
    with session_scope() as session:
        d = alerts.requeue(session, delivery_id=delivery_id)
        emit({"id": d.id, "status": d.status}, fmt)


# --- hit notifications ------------------------------------------------------------------------------

@hits_app.command("inbox")
@handled
def hits_inbox(as_member: str = AsOpt, status: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Lookups by others that hit your organisation's data."""
    with session_scope() as session:
        rows = hits.inbox(session, viewer=_viewer(session, as_member), status=status)
    if fmt == OutputFormat.json:
        emit(rows, fmt)
    else:
        emit([r | {"asked_by": f"{r['asked_by']['member']} ({r['asked_by']['organisation']})"} for r in rows], fmt,
             columns=["reference", "kind", "value", "purpose", "asked_by", "times_asked", "asker_told", "status"])


@hits_app.command("answer")
@handled
def hits_answer(reference: str, as_member: str = AsOpt,
                decision: str = typer.Option(..., help="share, contact or decline"), message: str = "",
                fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(hits.answer(session, viewer=_viewer(session, as_member), reference=reference, decision=decision,
                         message=message), fmt)


# --- correlation ------------------------------------------------------------------------------------

@correlation_app.command("value")
@handled
def correlation_value(value: str, as_member: str = AsOpt, purpose: str = PurposeOpt,
                      kind: Optional[str] = None, fmt: OutputFormat = FormatOpt) -> None:
    """Corroboration, first/last seen, sightings and related values of VALUE (what you may read)."""
    with session_scope() as session:
        emit(correlate.correlations(session, viewer=_viewer(session, as_member), purpose=purpose, value=value,
                                    kind=kind), fmt)


@correlation_app.command("related")
@handled
def correlation_related(stix_id: str, as_member: str = AsOpt, purpose: str = PurposeOpt, depth: int = 2,
                        fmt: OutputFormat = FormatOpt) -> None:
    """The cluster of objects linked to STIX_ID by shared infrastructure."""
    with session_scope() as session:
        result = correlate.related(session, viewer=_viewer(session, as_member), purpose=purpose, stix_id=stix_id,
                                   depth=depth)
    if fmt == OutputFormat.json:
        emit(result, fmt)
    else:
        emit(result["edges"], fmt, columns=["source", "target", "via", "kind", "value"],
             title=f"{len(result['nodes'])} objects, {len(result['edges'])} links")


@correlation_app.command("rebuild")
@handled
def correlation_rebuild(fmt: OutputFormat = FormatOpt) -> None:
    """Derive missing correlation terms and recount the per-value aggregates (after retention)."""
    with session_scope() as session:
        emit(correlate.rebuild(session), fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(warninglist_app, name="warninglist")
    app.command("lookup")(lookup_cmd)
    app.add_typer(search_set_app, name="search-set")
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(hits_app, name="hits")
    app.add_typer(correlation_app, name="correlation")
