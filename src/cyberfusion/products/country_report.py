"""Compile country cyber activity reports from the shared intelligence, through the policy gate.

One pass serves any number of recipients: every row's policy key is resolved in SQL for
each recipient (purpose ``threat_reporting``, ``disseminate=True``) and for the generating
analyst (to count what was withheld), then the row is linked to countries by IP
geolocation, ccTLD, IBAN/phone country code or a location declared in the data, and goes
to the report of each linked country whose recipient may receive it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

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
Key = repository.Key


@dataclass(frozen=True)
class Recipient:
    country: str
    org_id: int
    org_name: str
    viewer: Viewer


@dataclass
class Item:
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
    stix_ids: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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

    def counts(self) -> dict[str, int]:
        out = {role: 0 for role in ROLES}
        for item in self.items:
            out[item.role] += 1
        return {r: n for r, n in out.items() if n}

    def summary(self) -> dict[str, Any]:
        return {"country": self.country, "country_name": self.country_name, "region": self.region,
                "period": self.period.label, "recipient": self.recipient.org_name, "items": len(self.items),
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


class _Acc:
    __slots__ = (
        "basis",
        "cats",
        "cids",
        "conf",
        "first",
        "labels",
        "last",
        "name",
        "network",
        "owners",
        "stix_ids",
    )

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.owners: set[tuple[int, int]] = set()  # (organisation, handling)
        self.cids: set[tuple[str, int]] = set()  # (contribution, organisation)
        self.cats: set[str] = set()
        self.conf: int | None = None
        self.labels: set[str] = set()
        self.name: str | None = None
        self.stix_ids: set[str] = set()
        self.basis: set[str] = set()
        self.network = ""

    def add(self, *, seen: datetime | None, org: int, hid: int, cid: str, cat: str | None, conf: int | None,
            labels: Any, name: str | None, stix_id: str, basis: str) -> None:
        if seen is not None:
            if self.first is None or seen < self.first:
                self.first = seen
            if self.last is None or seen > self.last:
                self.last = seen
        self.owners.add((org, hid))
        self.cids.add((cid, org))
        if cat:
            self.cats.add(cat)
        if conf is not None and (self.conf is None or conf > self.conf):
            self.conf = conf
        if labels:
            self.labels.update(x for x in labels if isinstance(x, str))
        if name and self.name is None:
            self.name = name
        self.stix_ids.add(stix_id)
        self.basis.add(basis)


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


def _locate(cache: dict[tuple[str, str], geo.Located | None], kind: str, value: str) -> geo.Located | None:
    key = (kind, value)
    try:
        return cache[key]
    except KeyError:
        found = cache[key] = geo.locate(kind, value)
        return found


def compile_reports(session: Session, *, generator: Viewer, recipients: list[Recipient], period: Period,
                    k: int) -> list[CompiledReport]:
    """One report per recipient (one recipient per country), from a single pass over the data."""
    by_country = {r.country: r for r in recipients}
    readers: dict[str, tuple[Viewer, bool]] = {GENERATOR: (generator, False)}
    readers.update((r.country, (r.viewer, True)) for r in recipients)
    gate = Gate(session, readers)
    ctx = _load_context(session, gate)
    items: dict[str, dict[tuple[str, str], _Acc]] = {c: {} for c in by_country}
    withheld: dict[str, dict[tuple[str, str], set[int]]] = {c: defaultdict(set) for c in by_country}
    located: dict[tuple[str, str], geo.Located | None] = {}
    targets = set(by_country)
    declared_ids = set(ctx.declared) | set(ctx.objects)
    for r, row_readers in _resolved(gate, repository.scan_observables(session, start=period.start,
                                                                      end=period.end, kinds=SCAN_KINDS)):
        kv = (r.kind, r.value)
        loc = located[kv] if kv in located else _locate(located, r.kind, r.value)
        links: list[tuple[str, str, str | None]] = []  # (country, basis, reader the link needs) …
        if loc is not None and loc.country in targets:
            links.append((loc.country, loc.basis, None))
        if r.stix_id in declared_ids:
            for country in targets:
                links.extend((c, "declared", country) for c in ctx.countries_of(r.stix_id, country)
                             if c == country)
        for country, basis, via in links:
            if country in row_readers and (via is None or via == country):
                acc = items[country].get(kv)
                if acc is None:
                    acc = items[country][kv] = _Acc()
                    if loc is not None and loc.basis == "ip_geolocation":
                        acc.network = loc.detail
                acc.add(seen=r.seen_at, org=r.organisation_id, hid=r.handling_id, cid=r.contribution_id,
                        cat=r.category, conf=r.confidence, labels=r.labels, name=r.name, stix_id=r.stix_id,
                        basis=_basis_text(basis, loc if basis != "declared" else None))
            elif GENERATOR in row_readers and (via is None or country in ctx.countries_of(r.stix_id, GENERATOR)):
                withheld[country][kv].add(r.organisation_id)
    _add_victims(ctx, items, period)
    return [_finish(session, ctx, by_country[c], period, items[c], withheld[c], k) for c in sorted(by_country)]


def _basis_text(basis: str, loc: geo.Located | None) -> str:
    if basis == "ip_geolocation":
        return "IP geolocation"
    if basis == "cctld" and loc:
        return f"ccTLD {loc.detail}"
    if basis == "iban":
        return "IBAN country code"
    if basis == "phone" and loc:
        return f"phone country code {loc.detail}"
    return "country stated in the data"


def _add_victims(ctx: _Context, items: dict[str, dict[tuple[str, str], _Acc]], period: Period) -> None:
    for identity_id, created, (cid, hid, org), category, readers in ctx.victims:
        if created is not None and not (period.start <= created < period.end):
            continue
        for country, report_items in items.items():
            if country not in readers or country not in ctx.countries_of(identity_id, country):
                continue
            identity = ctx.object_for(identity_id, country)
            if identity is None or not isinstance(identity.get("name"), str):
                continue
            kv = ("victim", identity["name"])
            acc = report_items.get(kv) or report_items.setdefault(kv, _Acc())
            acc.add(seen=created, org=org, hid=hid, cid=cid, cat=category, conf=identity.get("confidence"),
                    labels=identity.get("sectors") or (), name=None, stix_id=identity_id,
                    basis="country stated in the data")


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


def _finish(session: Session, ctx: _Context, recipient: Recipient, period: Period,
            accs: dict[tuple[str, str], _Acc], withheld_values: dict[tuple[str, str], set[int]],
            k: int) -> CompiledReport:
    viewer, reader = recipient.viewer, recipient.country
    owners = {o for acc in accs.values() for o, _h in acc.owners}
    orgs = repository.orgs_by_ids(session, owners)
    handlings = intel_repo.handlings(session, {h for acc in accs.values() for _o, h in acc.owners})
    host = partners_repo.host_centre(session)
    host_name = host.name if host else "host centre"
    label_cache: dict[tuple[int, int], str] = {}

    def label(org_id: int, hid: int) -> str:
        if (org_id, hid) not in label_cache:
            o = orgs[org_id]
            label_cache[(org_id, hid)] = policy.source_label(
                viewer, owner_id=o.id, owner_name=o.name, owner_kind=o.kind, owner_sector=o.sector,
                owner_region=o.region, attribution=handlings[hid].attribution, host_centre_name=host_name)
        return label_cache[(org_id, hid)]

    all_threats: dict[str, str] = {}
    out: list[Item] = []
    per_contribution: dict[tuple[str, int], int] = defaultdict(int)
    for (kind, value), acc in accs.items():
        related = _related(ctx, acc.stix_ids, reader)
        all_threats.update(related)
        role = role_of(kind=kind, labels=acc.labels, name=acc.name, categories=acc.cats)
        corroboration = len({o for o, _h in acc.owners})
        out.append(Item(
            kind="organisation" if kind == "victim" else kind, value=value, role=role,
            crime_types=sorted(acc.cats), first_seen=acc.first, last_seen=acc.last,
            sources=sorted({label(o, h) for o, h in acc.owners}), corroboration=corroboration,
            confidence=acc.conf, related=sorted(related.values()),
            actions=actions_for(role, sources=corroboration, confidence=acc.conf),
            basis=sorted(acc.basis), network=acc.network, stix_ids=sorted(acc.stix_ids)))
        for cid_org in acc.cids:
            per_contribution[cid_org] += 1
    out.sort(key=lambda i: (list(ROLES).index(i.role), -i.corroboration, -(i.confidence or 0), i.value))
    hidden = {kv: o for kv, o in withheld_values.items() if kv not in accs}
    kept, _ = policy.suppress_small_cells(
        [{"withheld": len(hidden), "sources": len(set().union(*hidden.values())) if hidden else 0}], k=k)
    tlp = max((handlings[h].tlp for acc in accs.values() for _o, h in acc.owners), default=0)
    sources = [{"contribution_id": cid, "organisation_id": org, "items": n}
               for (cid, org), n in sorted(per_contribution.items())]
    return CompiledReport(
        country=recipient.country, recipient=recipient, period=period, items=out,
        withheld=kept[0]["withheld"] if kept else None,
        recommendations=_recommendations(ctx, out, all_threats, reader), tlp=TLP_LEVELS[tlp],
        sources=sources, geo_database=geo.database_info(), k_threshold=k)


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
