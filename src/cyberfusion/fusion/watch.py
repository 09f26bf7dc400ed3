"""Watchlists, and matching new intelligence against them on ingest.

A watchlist belongs to a member (alerts in the member's inbox) or to an organisation (in
every member's inbox). Items: exact values, CIDR ranges, domains with their subdomains
(also matching URL and e-mail hosts), keywords (in names, descriptions, values, patterns),
a country (IP geolocation, ccTLD, IBAN prefix, phone region; the organisation's own by
default) and a crime category. New intelligence raises an alert only when the watchlist's
creating member may read it, for the watchlist's purpose, through the policy gate; values on
a warninglist never raise one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.fusion import geo, repository, warninglists
from cyberfusion.fusion.models import Watchlist, WatchItem
from cyberfusion.fusion.terms import IP_KINDS, url_host
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.observables import detect, ip_range, normalise
from cyberfusion.kit.refang import refang
from cyberfusion.kit.regions import country_code
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

ITEM_TYPES = ("value", "cidr", "domain", "keyword", "country", "category")
SCOPES = ("member", "organisation")
ORG_SCOPE_ROLES = ("org_admin", "analyst")
PAGE = 20_000
MAX_ITEMS_PER_LIST = 10_000


# --- managing watchlists -------------------------------------------------------------------------

def _check_url(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("must be an http:// or https:// URL", field="webhook_url")
    return url.strip()


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email.strip()):
        raise InvalidInput("not an e-mail address", field="email")
    return email.strip()


def normalise_item(*, type: str, value: str, kind: str | None = None,
                   viewer: Viewer | None = None) -> dict[str, Any]:
    """The stored form of one watch item (kind, canonical value, IP range)."""
    if type not in ITEM_TYPES:
        raise InvalidInput(f"{type!r} is not one of: {', '.join(ITEM_TYPES)}", field="type")
    text = (value or "").strip()
    row: dict[str, Any] = {"type": type, "kind": "", "value": text, "range_start": None, "range_end": None}
    if type == "value":
        found = (kind, normalise(kind, refang(text))) if kind else detect(refang(text))
        if found is None:
            raise InvalidInput(f"not a recognised observable: {value!r}", field="value")
        row["kind"], row["value"] = found
        if found[0] in IP_KINDS:
            row["range_start"], row["range_end"] = ip_range(found[1])
    elif type == "cidr":
        try:
            net = ipaddress.ip_network(refang(text), strict=False)
        except ValueError:
            raise InvalidInput(f"not an IP range: {value!r}", field="value") from None
        row["kind"] = "ipv4-addr" if net.version == 4 else "ipv6-addr"
        row["value"] = normalise(row["kind"], str(net))
        row["range_start"], row["range_end"] = ip_range(row["value"])
    elif type == "domain":
        row["kind"], row["value"] = "domain-name", normalise("domain-name", refang(text))
    elif type == "keyword":
        if len(text) < 3 or len(text) > 200:
            raise InvalidInput("a keyword has 3 to 200 characters", field="value")
        row["value"] = text.lower()
    elif type == "country":
        row["value"] = country_code(text or (viewer.org_country if viewer else ""), field="value")
    else:
        if text not in CATEGORIES:
            raise InvalidInput(f"{text!r} is not one of: {', '.join(CATEGORIES)}", field="value")
    return row


def create_watchlist(session: Session, *, viewer: Viewer, name: str, purpose: str, scope: str = "member",
                     webhook_url: str | None = None, email: str | None = None,
                     items: Sequence[dict[str, Any]] = (), now: datetime | None = None) -> tuple[Watchlist, str | None]:
    """A new watchlist; returns it and its webhook signing secret (shown this once)."""
    policy.require_purpose(viewer, purpose)
    if scope not in SCOPES:
        raise InvalidInput(f"{scope!r} is not one of: {', '.join(SCOPES)}", field="scope")
    if scope == "organisation" and not viewer.has_role(*ORG_SCOPE_ROLES):
        raise Forbidden(f"an organisation watchlist needs one of the roles: {', '.join(ORG_SCOPE_ROLES)}")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("a name has 1 to 200 characters", field="name")
    now = now or utcnow()
    url = _check_url(webhook_url)
    secret = secrets.token_urlsafe(32) if url else None
    wl = Watchlist(organisation_id=viewer.org_id, member_id=viewer.member_id, scope=scope, name=name,
                   purpose=purpose, webhook_url=url, webhook_secret=secret, email=_check_email(email), active=True,
                   created_at=now)
    if len(items) > MAX_ITEMS_PER_LIST:
        raise InvalidInput(f"a watchlist holds at most {MAX_ITEMS_PER_LIST:,} items", field="items")
    repository.add(session, wl)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for i, item in enumerate(items):
        try:
            row = normalise_item(type=item.get("type", "value"), value=item.get("value", ""), kind=item.get("kind"),
                                 viewer=viewer)
        except InvalidInput as exc:
            raise InvalidInput(exc.problems[0].reason, field=f"items.{i}.{exc.field or 'value'}") from None
        rows.setdefault((row["type"], row["kind"], row["value"]), row)
    repository.add_all(session, [WatchItem(watchlist_id=wl.id, created_at=now, **row) for row in rows.values()])
    audit.record(session, action="fusion.watchlist.create", viewer=viewer,
                 detail={"watchlist_id": wl.id, "scope": scope, "items": len(items)})
    return wl, secret


def _add_item_row(session: Session, wl: Watchlist, row: dict[str, Any], now: datetime) -> WatchItem:
    existing = repository.items_of(session, [wl.id])
    for item in existing:
        if (item.type, item.kind, item.value) == (row["type"], row["kind"], row["value"]):
            return item
    if len(existing) >= MAX_ITEMS_PER_LIST:
        raise InvalidInput(f"a watchlist holds at most {MAX_ITEMS_PER_LIST:,} items", field="items")
    item = WatchItem(watchlist_id=wl.id, created_at=now, **row)
    repository.add(session, item)
    return item


def _editable(session: Session, viewer: Viewer, watchlist_id: int) -> Watchlist:
    wl = repository.watchlist(session, watchlist_id)
    visible = wl is not None and wl.organisation_id == viewer.org_id and (
        wl.scope == "organisation" or wl.member_id == viewer.member_id)
    if not visible:
        raise NotFound(f"no watchlist {watchlist_id}")
    if wl.member_id != viewer.member_id and not viewer.has_role("org_admin"):
        raise Forbidden("only its creator or an organisation admin may change this watchlist")
    return wl


def get_watchlist(session: Session, *, viewer: Viewer, watchlist_id: int) -> dict[str, Any]:
    wl = repository.watchlist(session, watchlist_id)
    if wl is None or wl.organisation_id != viewer.org_id or (
            wl.scope == "member" and wl.member_id != viewer.member_id):
        raise NotFound(f"no watchlist {watchlist_id}")
    return describe(wl, repository.items_of(session, [wl.id]))


def list_watchlists(session: Session, *, viewer: Viewer) -> list[dict[str, Any]]:
    lists = repository.watchlists_for(session, org_id=viewer.org_id, member_id=viewer.member_id)
    items = defaultdict(list)
    for item in repository.items_of(session, [w.id for w in lists]):
        items[item.watchlist_id].append(item)
    return [describe(w, items[w.id]) for w in lists]


def describe(wl: Watchlist, items: Iterable[WatchItem]) -> dict[str, Any]:
    return {"id": wl.id, "name": wl.name, "scope": wl.scope, "purpose": wl.purpose, "active": wl.active,
            "webhook_url": wl.webhook_url, "email": wl.email, "created_at": wl.created_at,
            "items": [{"id": i.id, "type": i.type, "kind": i.kind or None, "value": i.value} for i in items]}


def add_item(session: Session, *, viewer: Viewer, watchlist_id: int, type: str, value: str,
             kind: str | None = None) -> dict[str, Any]:
    wl = _editable(session, viewer, watchlist_id)
    item = _add_item_row(session, wl, normalise_item(type=type, value=value, kind=kind, viewer=viewer), utcnow())
    audit.record(session, action="fusion.watchlist.item.add", viewer=viewer,
                 detail={"watchlist_id": wl.id, "item_id": item.id, "type": item.type})
    return {"id": item.id, "type": item.type, "kind": item.kind or None, "value": item.value}


def remove_item(session: Session, *, viewer: Viewer, watchlist_id: int, item_id: int) -> None:
    wl = _editable(session, viewer, watchlist_id)
    item = repository.watch_item(session, item_id)
    if item is None or item.watchlist_id != wl.id:
        raise NotFound(f"no item {item_id} in watchlist {watchlist_id}")
    repository.delete_row(session, item)
    audit.record(session, action="fusion.watchlist.item.remove", viewer=viewer,
                 detail={"watchlist_id": wl.id, "item_id": item_id})


def delete_watchlist(session: Session, *, viewer: Viewer, watchlist_id: int) -> None:
    wl = _editable(session, viewer, watchlist_id)
    repository.delete_row(session, wl)
    audit.record(session, action="fusion.watchlist.delete", viewer=viewer, detail={"watchlist_id": watchlist_id})


# --- matching --------------------------------------------------------------------------------------

Entry = tuple[WatchItem, Watchlist]


class WatchMatcher:
    """Active watch items, indexed for one pass over a contribution's values."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.values: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        self.cidrs: dict[int, dict[str, list[tuple[Entry, str]]]] = defaultdict(lambda: defaultdict(list))
        self.domains: dict[str, list[Entry]] = defaultdict(list)
        self.countries: dict[str, list[Entry]] = defaultdict(list)
        self.keywords: dict[str, list[Entry]] = defaultdict(list)
        self.categories: dict[str, list[Entry]] = defaultdict(list)
        for item, wl in entries:
            entry = (item, wl)
            if item.type == "value":
                self.values[(item.kind, item.value)].append(entry)
            elif item.type == "cidr" and item.range_start and item.range_end:
                size = int(item.range_end, 16) - int(item.range_start, 16) + 1
                prefix = 128 - (size.bit_length() - 1)
                self.cidrs[prefix][item.range_start].append((entry, item.range_end))
            elif item.type == "domain":
                self.domains[item.value].append(entry)
            elif item.type == "country":
                self.countries[item.value].append(entry)
            elif item.type == "keyword":
                self.keywords[item.value].append(entry)
            elif item.type == "category":
                self.categories[item.value].append(entry)

    @property
    def needs_values(self) -> bool:
        return bool(self.values or self.cidrs or self.domains or self.countries)

    def match(self, kind: str, value: str, range_start: str | None, range_end: str | None) -> list[Entry]:
        out: list[Entry] = list(self.values.get((kind, value), ()))
        if self.cidrs and range_start is not None and range_end is not None:
            x = int(range_start, 16)
            for prefix, starts in self.cidrs.items():
                start = f"{x & ~((1 << (128 - prefix)) - 1):032x}"
                out.extend(e for e, end in starts.get(start, ()) if range_end <= end)
        if self.domains and kind in ("domain-name", "url", "email-addr"):
            host = url_host(value) if kind == "url" else value.rpartition("@")[2] if kind == "email-addr" else value
            labels = host.split(".")
            for i in range(len(labels) - 1):
                out.extend(self.domains.get(".".join(labels[i:]), ()))
        if self.countries:
            country = geo.country_of(kind, value)
            if country:
                out.extend(self.countries.get(country, ()))
        return out


@dataclass
class _Match:
    entry: Entry
    match_type: str
    kind: str | None
    value: str | None
    stix_id: str | None
    object_type: str | None
    handling_id: int
    observable_pk: int | None = None
    object_pk: int | None = None
    object_count: int = 1
    contribution_id: str = ""

    @property
    def dedup_key(self) -> str:
        # One alert per recipient per (value, object); an object matched by keyword once; a
        # category match once per contribution.
        if self.match_type == "category":
            basis = f"category|{self.entry[0].value}|{self.contribution_id}"
        elif self.match_type == "keyword":
            basis = f"object|{self.stix_id}"
        else:
            basis = f"value|{self.kind}|{self.value}|{self.stix_id}"
        return hashlib.sha256(basis.encode()).hexdigest()


def match_contribution(session: Session, *, contribution: Contribution, now: datetime | None = None) -> int:
    """Raise the alerts a freshly imported contribution deserves; returns how many are new."""
    entries = repository.active_watch_items(session)
    if not entries:
        return 0
    now = now or utcnow()
    m = WatchMatcher(entries)
    found: list[_Match] = []
    if m.needs_values:
        after = 0
        while rows := _page(session, contribution.id, after):
            for pk, kind, value, rs, re_, stix_id, otype, handling_id in rows:
                for entry in m.match(kind, value, rs, re_):
                    found.append(_Match(entry, entry[0].type, kind, value, stix_id, otype, handling_id,
                                        observable_pk=pk))
            after = rows[-1][0]
    if m.keywords:
        for pk, stix_id, otype, text, handling_id in repository.keyword_objects(
                session, contribution_id=contribution.id, keywords=[_like(k) for k in m.keywords]):
            for keyword, kw_entries in m.keywords.items():
                if keyword in (text or ""):
                    found.extend(_Match(e, "keyword", None, None, stix_id, otype, handling_id, object_pk=pk)
                                 for e in kw_entries)
    if contribution.category and contribution.category in m.categories:
        found.extend(_Match(e, "category", None, None, None, None, contribution.handling_id,
                            object_count=contribution.object_count, contribution_id=contribution.id)
                     for e in m.categories[contribution.category])
    if not found:
        return 0
    wl = warninglists.matcher(session)
    found = [f for f in found if f.value is None or not wl.match(f.kind or "", f.value)]
    rows = _readable_rows(session, contribution, found, now)
    inserted = repository.insert_alerts(session, rows)
    if inserted:
        audit.record(session, action="fusion.alerts.raise", organisation_id=contribution.organisation_id,
                     object_ids=sorted({r["stix_id"] for r in rows if r["stix_id"]})[:1000],
                     detail={"contribution_id": contribution.id, "alerts": inserted,
                             "recipients": len({r["recipient"] for r in rows})})
    return inserted


def _like(keyword: str) -> str:
    return keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _page(session: Session, contribution_id: str, after: int) -> list[tuple[Any, ...]]:
    from sqlalchemy import select

    from cyberfusion.intel.models import Observable as O
    return [tuple(r) for r in session.execute(
        select(O.pk, O.kind, O.value, O.range_start, O.range_end, O.stix_id, O.object_type, O.handling_id)
        .where(O.contribution_id == contribution_id, O.pk > after).order_by(O.pk).limit(PAGE))]


def viewer_of(session: Session, member_id: int) -> Viewer | None:
    """The member as a viewer today, or None when the member may not receive anything."""
    member = partners_repo.member_by_id(session, member_id)
    if member is None:
        return None
    state = partners.access_state(session, member)
    return state.viewer if state.viewer is not None and state.viewer.may_receive else None


def _readable_rows(session: Session, contribution: Contribution, found: list[_Match],
                   now: datetime) -> list[dict[str, Any]]:
    """Alert rows for the matches the watchlist's member may read, one per recipient and dedup key."""
    by_list: dict[int, list[_Match]] = defaultdict(list)
    for f in found:
        by_list[f.entry[1].id].append(f)
    viewers: dict[int, Viewer | None] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for matches in by_list.values():
        wl = matches[0].entry[1]
        if wl.member_id not in viewers:
            viewers[wl.member_id] = viewer_of(session, wl.member_id)
        viewer = viewers[wl.member_id]
        if viewer is None or wl.purpose not in viewer.agreement_purposes:
            continue
        obs_ok = repository.readable_pks(session, viewer=viewer, purpose=wl.purpose, table="observables",
                                         pks=[f.observable_pk for f in matches if f.observable_pk])
        obj_ok = repository.readable_pks(session, viewer=viewer, purpose=wl.purpose, table="objects",
                                         pks=[f.object_pk for f in matches if f.object_pk])
        category_ok = any(f.match_type == "category" for f in matches) and repository.count_readable_objects(
            session, viewer=viewer, purpose=wl.purpose, contribution_id=contribution.id)
        recipient = f"m:{wl.member_id}" if wl.scope == "member" else f"o:{wl.organisation_id}"
        for f in matches:
            if f.match_type == "category":
                if not category_ok:
                    continue
                count = int(category_ok)
            elif (f.observable_pk and f.observable_pk not in obs_ok) or (f.object_pk and f.object_pk not in obj_ok):
                continue
            else:
                count = f.object_count
            key = (recipient, f.dedup_key)
            if key in rows:
                continue
            item = f.entry[0]
            rows[key] = {
                "recipient": recipient, "watchlist_id": wl.id, "watch_item_id": item.id, "match_type": f.match_type,
                "matched": item.value, "kind": f.kind, "value": f.value, "stix_id": f.stix_id,
                "object_type": f.object_type, "observable_pk": f.observable_pk, "object_pk": f.object_pk,
                "object_count": count, "contribution_id": contribution.id,
                "organisation_id": contribution.organisation_id,
                "handling_id": f.handling_id, "purpose": wl.purpose, "dedup_key": f.dedup_key, "created_at": now,
                "read_at": None, "batched_at": None}
    return list(rows.values())


__all__ = ["create_watchlist", "add_item", "remove_item", "delete_watchlist", "list_watchlists", "get_watchlist",
           "normalise_item", "match_contribution", "WatchMatcher", "viewer_of", "ITEM_TYPES"]
