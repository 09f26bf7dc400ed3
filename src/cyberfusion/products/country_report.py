"""Compile country cyber activity reports from the shared intelligence, through the policy gate.

One run serves any number of recipients. The observables linked to the recipients' countries
are read through the per-observable country index (``country_index``: IP geolocation, ccTLD,
IBAN/phone country code, decided at ingest), those of objects with a location declared in the
data by their ids; every row's policy key is resolved in SQL for each recipient (purpose
``threat_reporting``, ``disseminate=True``) and for the generating analyst (to count what was
withheld), and the row goes to the report of its country only if that country's recipient
may receive it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import islice
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from cyberfusion.intel import repository as intel_repo
from cyberfusion.kit.regions import country_name, region_of
from cyberfusion.partners import repository as partners_repo
from cyberfusion.products import geo, repository
from cyberfusion.products.period import Period
from cyberfusion.products.roles import MEASURES, ROLES, actions_for, role_of
from cyberfusion.sharing import policy
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer

PURPOSE = "threat_reporting"
GENERATOR = "@generator"
SCAN_KINDS = (*geo.LOCATABLE_KINDS, "btc", "eth", "xmr")
THREAT_PREFIXES = ("malware", "campaign", "intrusion-set", "threat-actor", "tool", "attack-pattern")
CONTEXT_TYPES = (*THREAT_PREFIXES, "location", "identity", "course-of-action", "vulnerability")
# Objects that carry no observables: their ids need not be looked up among the observables.
CONTEXT_PREFIXES = tuple(f"{t}--" for t in CONTEXT_TYPES)
Key = repository.Key


@dataclass(frozen=True)
class Recipient:
    country: str
    org_id: int
    org_name: str
    viewer: Viewer


@dataclass(slots=True)
class Item:
    """One observable (or victim) in a report. Its lists are built once per distinct value and may
    be shared between items (a report run holds half a million items at 1M observables, and every
    list allocated per item is walked by each garbage-collector pass): read them, never change them
    in place."""

    kind: str
    value: str
    role: str
    crime_types: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    sources: list[str]
    corroboration: int
    confidence: int | None
    related: list[str]
    actions: list[str]
    basis: list[str]
    network: str
    stix_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class CompiledReport:
    country: str
    recipient: Recipient
    period: Period
    items: list[Item]
    withheld: int | None
    recommendations: list[dict[str, Any]]
    tlp: str
    sources: list[dict[str, Any]]
    geo_database: dict[str, str]
    k_threshold: int

    @property
    def country_name(self) -> str:
        return country_name(self.country)

    @property
    def region(self) -> str:
        return region_of(self.country)

    def size(self) -> int:
        """Number of items."""
        return len(self.items)

    def counts(self) -> dict[str, int]:
        out = {role: 0 for role in ROLES}
        for item in self.items:
            out[item.role] += 1
        return {r: n for r, n in out.items() if n}

    def summary(self) -> dict[str, Any]:
        return {"country": self.country, "country_name": self.country_name, "region": self.region,
                "period": self.period.label, "recipient": self.recipient.org_name, "items": self.size(),
                "by_category": self.counts(), "withheld": self.withheld, "k_threshold": self.k_threshold,
                "tlp": self.tlp, "geo_database": self.geo_database["source"],
                "geo_database_date": self.geo_database["date"],
                "recommendations": [r["title"] for r in self.recommendations]}


class Gate:
    """Who among the readers may read each policy key, as ``policy.readable_by`` decides in SQL."""

    def __init__(self, session: Session, readers: dict[str, tuple[Viewer, bool]]) -> None:
        self.session, self.readers = session, readers
        self.cache: dict[Key, frozenset[str]] = {}

    def resolve(self, keys: Iterable[Key]) -> None:
        new = {k for k in keys if k not in self.cache}
        if not new:
            return
        allowed: dict[Key, set[str]] = {k: set() for k in new}
        for name, (viewer, disseminate) in self.readers.items():
            for key in repository.readable_keys(self.session, viewer=viewer, purpose=PURPOSE, keys=new,
                                                disseminate=disseminate):
                allowed[key].add(name)
        self.cache.update((k, frozenset(v)) for k, v in allowed.items())

    def __call__(self, key: Key) -> frozenset[str]:
        return self.cache[key]


def _batches(rows: Iterator[Any], size: int = 20_000) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _resolved(gate: Gate, rows: Iterator[Any]) -> Iterator[tuple[Any, frozenset[str]]]:
    for chunk in _batches(rows):
        gate.resolve((r.contribution_id, r.handling_id, r.organisation_id) for r in chunk)
        for r in chunk:
            readers = gate((r.contribution_id, r.handling_id, r.organisation_id))
            if readers:
                yield r, readers


class _Entry(NamedTuple):
    """One readable row behind an item (most items have exactly one). The located scan builds
    these as plain tuples in this order (a NamedTuple call per row cost 1.1 s of 14.7 in compiling
    at 100k, cProfile); everything reads them by position or unpacking."""

    seen: datetime | None
    org: int
    hid: int
    cid: str
    cat: str | None
    conf: int | None
    labels: Any
    name: str | None
    stix_id: str
    basis: str


# (kind, value) -> its one entry, or a list of them once a second one comes (not a list per item:
# fewer objects for the garbage collector to walk).
Entries = dict[tuple[str, str], _Entry | list[_Entry]]


def _entry(r: Any, basis: str) -> _Entry:
    return _Entry(r.seen_at, r.organisation_id, r.handling_id, r.contribution_id, r.category, r.confidence,
                  r.labels, r.name, r.stix_id, basis)


def _put(entries: Entries, kv: tuple[str, str], entry: _Entry) -> None:
    found = entries.get(kv)
    if found is None:
        entries[kv] = entry
    elif type(found) is list:
        found.append(entry)
    else:
        entries[kv] = [found, entry]


@dataclass
class _Context:
    """Relationships and context objects, each with the readers of its policy key."""

    declared: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=lambda: defaultdict(list))
    threats_of: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=lambda: defaultdict(list))
    links_from: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=lambda: defaultdict(list))
    objects: dict[str, list[tuple[dict[str, Any], frozenset[str], int]]] = field(
        default_factory=lambda: defaultdict(list))
    victims: list[tuple[str, datetime | None, Key, str | None, frozenset[str]]] = field(default_factory=list)

    def object_for(self, stix_id: str, reader: str) -> dict[str, Any] | None:
        for obj, readers, _org in self.objects.get(stix_id, ()):
            if reader in readers:
                return obj
        return None

    def countries_of(self, stix_id: str, reader: str) -> set[str]:
        out = set()
        for target, readers in self.declared.get(stix_id, ()):
            if reader in readers:
                loc = self.object_for(target, reader)
                if loc and isinstance(loc.get("country"), str):
                    out.add(loc["country"].upper())
        obj = self.object_for(stix_id, reader)
        for prop in ("x_country", "country"):
            if obj and isinstance(obj.get(prop), str) and obj.get("type") != "location":
                out.add(obj[prop].upper())
        return out


def _load_context(session: Session, gate: Gate) -> _Context:
    ctx = _Context()
    rows = list(repository.scan_objects(session, types=CONTEXT_TYPES))
    gate.resolve((r.contribution_id, r.handling_id, r.organisation_id) for r in rows)
    for r in rows:
        readers = gate((r.contribution_id, r.handling_id, r.organisation_id))
        if readers:
            ctx.objects[r.stix_id].append((json.loads(r.data), readers, r.organisation_id))
    for r, readers in _resolved(gate, repository.relationships_between(session)):
        src, dst = r.source_ref or "", r.target_ref or ""
        dst_type, src_type = dst.split("--", 1)[0], src.split("--", 1)[0]
        if dst_type == "location":
            ctx.declared[src].append((dst, readers))
        elif dst_type in THREAT_PREFIXES:
            ctx.threats_of[src].append((dst, readers))
        elif src_type in THREAT_PREFIXES:
            ctx.threats_of[dst].append((src, readers))
        if src_type in THREAT_PREFIXES or src_type == "course-of-action":
            ctx.links_from[src].append((dst, readers))
    for r, readers in _resolved(gate, repository.relationships_to(session, prefixes=("identity",))):
        if json.loads(r.data).get("relationship_type") == "targets":
            ctx.victims.append((r.target_ref, r.created, (r.contribution_id, r.handling_id, r.organisation_id),
                                r.category, readers))
    return ctx


def compile_reports(session: Session, *, generator: Viewer, recipients: list[Recipient], period: Period,
                    k: int) -> list[CompiledReport]:
    """One report per recipient (one recipient per country), from indexed reads: the observables
    the country index links to the recipients' countries, and those of objects whose country is
    stated in the data."""
    return list(iter_reports(session, generator=generator, recipients=recipients, period=period, k=k))


def iter_reports(session: Session, *, generator: Viewer, recipients: list[Recipient], period: Period,
                 k: int, set_aside: Callable[[], None] | None = None) -> Iterator[CompiledReport]:
    """``compile_reports`` one report at a time, in country order: everything is read first, then each
    report's items are built when it is asked for (the caller may set each one aside before the next).

    ``set_aside`` is called after each batch of rows read: what was read so far lives until its
    country's report is built, so the caller may keep it out of the garbage collector's full passes
    (``kit.gcutil.older_objects_frozen``); at 1M observables the 19 full passes during the read, each
    walking every entry read so far, were 0.41 s of 9.1."""
    by_country = {r.country: r for r in recipients}
    readers: dict[str, tuple[Viewer, bool]] = {GENERATOR: (generator, False)}
    readers.update((r.country, (r.viewer, True)) for r in recipients)
    gate = Gate(session, readers)
    ctx = _load_context(session, gate)
    items: dict[str, Entries] = {c: {} for c in by_country}
    networks: dict[str, dict[tuple[str, str], str]] = {c: {} for c in by_country}
    # (kind, value, owner) per country: one set of tuples, not a set per value (fewer tracked objects)
    withheld: dict[str, set[tuple[str, str, int]]] = {c: set() for c in by_country}
    basis_texts: dict[tuple[str, str], str] = {}
    cache = gate.cache
    crime_type: dict[str, str | None] = {}
    for rows in repository.scan_located(session, start=period.start, end=period.end, countries=list(by_country)):
        keys = {(r[6], r[5], r[4]) for r in rows}
        gate.resolve(keys)
        if new := {key[0] for key in keys} - crime_type.keys():
            crime_type.update(repository.categories(session, new))
            # a row whose contribution is gone is nobody's (as the join to contributions left it out)
            cache.update((key, frozenset()) for key in keys if key[0] not in crime_type)
        # By position, in repository.LOCATED_COLUMNS order: this loop runs once per linked observable.
        for country, basis, detail, seen, org, hid, cid, conf, labels, name, stix_id, kind, value in rows:
            row_readers = cache[(cid, hid, org)]
            if country in row_readers:
                cat = crime_type[cid]
                bkey = (basis, detail if basis != "ip_geolocation" else "")
                text = basis_texts.get(bkey) or basis_texts.setdefault(bkey, _basis_text(*bkey))
                kv = (kind, value)
                _put(items[country], kv, (seen, org, hid, cid, cat, conf, labels, name, stix_id, text))
                if basis == "ip_geolocation":
                    networks[country].setdefault(kv, detail)
            elif GENERATOR in row_readers:
                withheld[country].add((kind, value, org))
        if set_aside is not None:
            set_aside()
    declared_ids = [sid for sid in set(ctx.declared) | set(ctx.objects) if not sid.startswith(CONTEXT_PREFIXES)]
    declared = _basis_text("declared", "")
    for r, row_readers in _resolved(gate, repository.scan_observables_of(
            session, stix_ids=declared_ids, start=period.start, end=period.end, kinds=SCAN_KINDS)):
        kv = (r.kind, r.value)
        for country in by_country:
            if country not in ctx.countries_of(r.stix_id, country):
                continue
            if country in row_readers:
                _put(items[country], kv, _entry(r, declared))
            elif GENERATOR in row_readers and country in ctx.countries_of(r.stix_id, GENERATOR):
                withheld[country].add((*kv, r.organisation_id))
    _add_victims(ctx, items, period)
    for c in sorted(by_country):  # pop: each country's entries are freed as soon as its items are built
        yield _finish(session, ctx, by_country[c], period, items.pop(c), networks[c], withheld[c], k)


def _basis_text(basis: str, detail: str) -> str:
    if basis == "ip_geolocation":
        return "IP geolocation"
    if basis == "cctld" and detail:
        return f"ccTLD {detail}"
    if basis == "iban":
        return "IBAN country code"
    if basis == "phone" and detail:
        return f"phone country code {detail}"
    return "country stated in the data"


def _add_victims(ctx: _Context, items: dict[str, Entries], period: Period) -> None:
    for identity_id, created, (cid, hid, org), category, readers in ctx.victims:
        if created is not None and not (period.start <= created < period.end):
            continue
        for country, report_items in items.items():
            if country not in readers or country not in ctx.countries_of(identity_id, country):
                continue
            identity = ctx.object_for(identity_id, country)
            if identity is None or not isinstance(identity.get("name"), str):
                continue
            _put(report_items, ("victim", identity["name"]),
                 _Entry(created, org, hid, cid, category, identity.get("confidence"), identity.get("sectors") or (),
                        None, identity_id, "country stated in the data"))


def _related(ctx: _Context, stix_ids: Iterable[str], reader: str) -> dict[str, str]:
    """Threat objects (malware, campaigns, actors ...) linked to these objects: id -> label."""
    out: dict[str, str] = {}
    for sid in stix_ids:
        for threat_id, readers in ctx.threats_of.get(sid, ()):
            if reader in readers:
                obj = ctx.object_for(threat_id, reader)
                if obj and isinstance(obj.get("name"), str):
                    out[threat_id] = f"{obj['type'].replace('-', ' ')}: {obj['name']}"
    return out


def _finish(session: Session, ctx: _Context, recipient: Recipient, period: Period, entries: Entries,
            networks: dict[tuple[str, str], str], withheld_values: set[tuple[str, str, int]],
            k: int) -> CompiledReport:
    viewer, reader = recipient.viewer, recipient.country
    pairs = {(e[1], e[2]) for found in entries.values()  # (org, handling)
             for e in (found if type(found) is list else (found,))}
    orgs = repository.orgs_by_ids(session, {o for o, _h in pairs})
    handlings = intel_repo.handlings(session, {h for _o, h in pairs})
    host = partners_repo.host_centre(session)
    host_name = host.name if host else "host centre"
    labels_of: dict[tuple[int, int], str] = {}
    for org_id, hid in pairs:
        o = orgs[org_id]
        labels_of[(org_id, hid)] = policy.source_label(
            viewer, owner_id=o.id, owner_name=o.name, owner_kind=o.kind, owner_sector=o.sector,
            owner_region=o.region, attribution=handlings[hid].attribution, host_centre_name=host_name)

    all_threats: dict[str, str] = {}
    out: list[Item] = []
    per_contribution: dict[tuple[str, int], int] = defaultdict(int)
    threats_of = ctx.threats_of
    # One item per observable (519,504 at 1M observables): the common single-source case reads its
    # one entry by unpacking, and the role and actions of unlabelled, unnamed items (most bulk feeds)
    # are memoised per (kind, crime type) and (role, corroborated, confident).
    plain_roles: dict[tuple[str, str | None], str] = {}
    actions_memo: dict[tuple[str, bool, bool], list[str]] = {}
    cats_of: dict[str | None, list[str]] = {}  # shared lists, see Item
    basis_of: dict[str, list[str]] = {}
    sources_of = {pair: [label] for pair, label in labels_of.items()}
    no_related: list[str] = []
    # A single-source item without labels, name or related threats (most of a bulk feed) differs from
    # others of its shape (kind, crime type, confidence, owner, handling, contribution, linking) only
    # in value, time, object and network: the rest is built once per shape, and the shape counts the
    # items per contribution (8 dict look-ups per item become one).
    shapes: dict[tuple[Any, ...], list[Any]] = {}
    for kv, found in entries.items():
        if type(found) is not list and not found[6] and found[7] is None and found[8] not in threats_of:
            first, org, hid, cid, cat, conf, _labels, _name, stix_id, basis_text = found
            skey = (kv[0], cat, conf, org, hid, cid, basis_text)
            shape = shapes.get(skey)
            if shape is None:
                shape = shapes[skey] = _shape(kv[0], cat, conf, basis_text, sources_of[(org, hid)], plain_roles,
                                              actions_memo, cats_of, basis_of)
            shape[6] += 1
            out.append(Item(shape[0], kv[1], shape[1], shape[2], first, first, shape[3], 1, conf, no_related,
                            shape[4], shape[5], networks.get(kv, ""), (stix_id,)))
            continue
        kind, value = kv
        if type(found) is not list:  # the common case, without building sets
            first, org, hid, cid, cat, conf, labels, name, stix_id, basis_text = found
            last = first
            per_contribution[(cid, org)] += 1
            cats = cats_of.get(cat) or cats_of.setdefault(cat, [cat] if cat else [])
            stix_ids = (stix_id,)  # a tuple of text: not tracked by the garbage collector
            basis = basis_of.get(basis_text) or basis_of.setdefault(basis_text, [basis_text])
            sources, corroboration = sources_of[(org, hid)], 1
            related = _related(ctx, stix_ids, reader) if stix_id in threats_of else {}
            if not labels and name is None:
                role = plain_roles.get((kind, cat)) or plain_roles.setdefault(
                    (kind, cat), role_of(kind=kind, categories=cats))
            else:
                role = role_of(kind=kind, labels=labels or (), name=name, categories=cats)
        else:
            seen = [e[0] for e in found if e[0] is not None]
            first, last = min(seen, default=None), max(seen, default=None)
            owners = {(e[1], e[2]) for e in found}
            for cid_org in {(e[3], e[1]) for e in found}:
                per_contribution[cid_org] += 1
            cats = sorted({e[4] for e in found if e[4]})
            conf = max((e[5] for e in found if e[5] is not None), default=None)
            labels = {x for e in found if e[6] for x in e[6] if isinstance(x, str)}
            name = next((e[7] for e in found if e[7]), None)
            stix_ids = tuple(sorted({e[8] for e in found}))
            basis = sorted({e[9] for e in found})
            sources = sorted({labels_of[p] for p in owners})
            corroboration = len({o for o, _h in owners})
            related = _related(ctx, stix_ids, reader)
            role = role_of(kind=kind, labels=labels, name=name, categories=cats)
        if related:
            all_threats.update(related)
        akey = (role, corroboration < 2, conf is None or conf < 50)
        actions = actions_memo.get(akey) or actions_memo.setdefault(
            akey, actions_for(role, sources=corroboration, confidence=conf))
        out.append(Item("organisation" if kind == "victim" else kind, value, role, cats, first, last, sources,
                        corroboration, conf, sorted(related.values()) if related else no_related, actions, basis,
                        networks.get(kv, ""), stix_ids))
    for (_kind, _cat, _conf, org, _hid, cid, _basis), shape in shapes.items():
        per_contribution[(cid, org)] += shape[6]
    order = {role: i for i, role in enumerate(ROLES)}
    # By (role, -corroboration, -confidence, value): stable sorts from the last key to the first give
    # that order without a key tuple per item (tuples the garbage collector would walk).
    out.sort(key=attrgetter("value"))
    out.sort(key=lambda i: -(i.confidence or 0))
    out.sort(key=lambda i: -i.corroboration)
    out.sort(key=lambda i: order[i.role])
    hidden = [(kind, value, org) for kind, value, org in withheld_values if (kind, value) not in entries]
    kept, _ = policy.suppress_small_cells(
        [{"withheld": len({(kind, value) for kind, value, _o in hidden}), "sources": len({o for *_kv, o in hidden})}],
        k=k)
    tlp = max((handlings[h].tlp for _o, h in pairs), default=0)
    sources_used = [{"contribution_id": cid, "organisation_id": org, "items": n}
                    for (cid, org), n in sorted(per_contribution.items())]
    return CompiledReport(
        country=recipient.country, recipient=recipient, period=period, items=out,
        withheld=kept[0]["withheld"] if kept else None,
        recommendations=_recommendations(ctx, out, all_threats, reader), tlp=TLP_LEVELS[tlp],
        sources=sources_used, geo_database=geo.database_info(), k_threshold=k)


def _shape(kind: str, cat: str | None, conf: int | None, basis_text: str, sources: list[str],
           plain_roles: dict[tuple[str, str | None], str], actions_memo: dict[tuple[str, bool, bool], list[str]],
           cats_of: dict[str | None, list[str]], basis_of: dict[str, list[str]]) -> list[Any]:
    """[kind shown, role, crime types, sources, actions, basis, items counted] of a plain single-source
    item, from the shared lists and memos of ``_finish``."""
    cats = cats_of.get(cat) or cats_of.setdefault(cat, [cat] if cat else [])
    role = plain_roles.get((kind, cat)) or plain_roles.setdefault((kind, cat), role_of(kind=kind, categories=cats))
    akey = (role, True, conf is None or conf < 50)
    actions = actions_memo.get(akey) or actions_memo.setdefault(akey, actions_for(role, sources=1, confidence=conf))
    basis = basis_of.get(basis_text) or basis_of.setdefault(basis_text, [basis_text])
    return ["organisation" if kind == "victim" else kind, role, cats, sources, actions, basis, 0]


def _recommendations(ctx: _Context, items: list[Item], threats: dict[str, str],
                     reader: str) -> list[dict[str, Any]]:
    """Course-of-action objects linked to the threats found, then measures from what was found."""
    out: list[dict[str, Any]] = []
    vulns: dict[str, str] = {}
    for threat_id in threats:
        for target, readers in ctx.links_from.get(threat_id, ()):
            if reader in readers and target.startswith("vulnerability--"):
                obj = ctx.object_for(target, reader)
                if obj and isinstance(obj.get("name"), str):
                    vulns[target] = obj["name"]
    linked = set(threats) | set(vulns)
    for coa_id, links in sorted(ctx.links_from.items()):
        if not coa_id.startswith("course-of-action--"):
            continue
        mitigates = sorted({threats.get(t) or vulns[t] for t, readers in links if reader in readers and t in linked})
        obj = ctx.object_for(coa_id, reader)
        if mitigates and obj:
            out.append({"kind": "course_of_action", "title": str(obj.get("name", "Course of action")),
                        "audience": "Institutions exposed to: " + ", ".join(mitigates),
                        "text": str(obj.get("description", "")), "stix_id": coa_id})
    roles = defaultdict(int)
    cats: set[str] = set()
    for item in items:
        roles[item.role] += 1
        cats.update(item.crime_types)
    network = sum(roles[r] for r in ("c2_server", "phishing_site", "malware_hosting", "malicious_domain",
                                     "other_infrastructure"))
    found = [
        ("blocklist", network, {"n": network}),
        ("notify_victims", roles["compromised_host"] + roles["victim_organisation"],
         {"n": roles["compromised_host"] + roles["victim_organisation"]}),
        ("patch", len(vulns), {"cves": ", ".join(sorted(set(vulns.values())))}),
        ("bec", int("bec" in cats), {}),
        ("phishing", roles["phishing_site"], {}),
        ("ransomware", int("ransomware" in cats), {}),
        ("mules", roles["mule_account"] + roles["mule_wallet"], {"n": roles["mule_account"] + roles["mule_wallet"]}),
        ("fraud", roles["fraud_contact"], {}),
    ]
    for key, count, args in found:
        if count:
            title, audience, text = MEASURES[key]
            out.append({"kind": key, "title": title, "audience": audience, "text": text.format(**args)})
    return out
