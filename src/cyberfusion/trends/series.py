"""Time series of intelligence by crime type, region, country and sector, per week or month.

An event is one readable object: a new indicator (by the first time any of its values
was seen), an incident or a report. Every cell (group × bucket) is a figure, so every
cell goes through ``policy.suppress_small_cells``: built from fewer than k contributing
organisations, it is shown as hidden (None), zeros included, so a hidden cell and an
empty one cannot be told apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from cyberfusion.kit.regions import region_of
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.products import geo
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.trends import repository

MEASURES = ("indicators", "incidents", "reports")
DIMENSIONS = ("crime_type", "region", "country", "sector", "total")
INTERVALS = ("week", "month")
CRIME_TYPES = CATEGORIES
UNKNOWN = "unknown"


@dataclass
class Event:
    id: str
    when: datetime
    orgs: set[int] = field(default_factory=set)
    crime_types: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    sectors: set[str] = field(default_factory=set)

    def groups(self, by: str) -> Iterable[str]:
        if by == "crime_type":
            return self.crime_types or {"other"}
        if by == "country":
            return self.countries or {UNKNOWN}
        if by == "region":
            return {region_of(c) for c in self.countries} or {UNKNOWN}
        if by == "sector":
            return self.sectors or {UNKNOWN}
        return {"total"}


def bucket_start(when: datetime | date, interval: str) -> date:
    d = when.date() if isinstance(when, datetime) else when
    return d - timedelta(days=d.weekday()) if interval == "week" else d.replace(day=1)


def bucket_label(start: date, interval: str) -> str:
    if interval == "week":
        y, w, _ = start.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{start.year}-{start.month:02d}"


def next_bucket(start: date, interval: str) -> date:
    if interval == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def buckets(since: datetime, until: datetime, interval: str) -> list[date]:
    out, cur = [], bucket_start(since, interval)
    end = until.date()
    while cur < end or (cur == end and until > datetime(end.year, end.month, end.day, tzinfo=UTC)):
        out.append(cur)
        cur = next_bucket(cur, interval)
    return out


def _sectors_by_source(session: Session, viewer: Viewer, purpose: str, disseminate: bool) -> dict[str, set[str]]:
    links = [(src, dst) for src, dst, data in repository.targeting(session, viewer=viewer, purpose=purpose,
                                                                  disseminate=disseminate)
             if json.loads(data).get("relationship_type") == "targets"]
    idents = repository.identities(session, viewer=viewer, purpose=purpose, ids=[d for _s, d in links],
                                   disseminate=disseminate)
    sectors: dict[str, set[str]] = defaultdict(set)
    for src, dst in links:
        for sector in json.loads(idents[dst]).get("sectors", []) if dst in idents else ():
            if isinstance(sector, str):
                sectors[src].add(sector)
    return sectors


def collect(session: Session, *, viewer: Viewer, purpose: str, measure: str, since: datetime, until: datetime,
            disseminate: bool = False) -> list[Event]:
    """Readable events in [since, until), with their crime types, countries and sectors."""
    events: dict[str, Event] = {}
    if measure == "indicators":
        for stix_id, kind, value, seen, org, category in repository.indicator_observables(
                session, viewer=viewer, purpose=purpose, since=since, until=until, disseminate=disseminate):
            ev = events.get(stix_id)
            if ev is None:
                ev = events[stix_id] = Event(stix_id, seen)
            elif seen < ev.when:
                ev.when = seen
            ev.orgs.add(org)
            ev.crime_types.add(category or "other")
            loc = geo.locate(kind, value)
            if loc is not None:
                ev.countries.add(loc.country)
    else:
        otype = "incident" if measure == "incidents" else "report"
        for stix_id, _t, created, org, category, data in repository.objects_created(
                session, viewer=viewer, purpose=purpose, types=[otype], since=since, until=until,
                disseminate=disseminate):
            ev = events.get(stix_id) or events.setdefault(stix_id, Event(stix_id, created))
            ev.when = min(ev.when, created)
            ev.orgs.add(org)
            ev.crime_types.add(category or "other")
            country = json.loads(data).get("x_country")
            if isinstance(country, str) and len(country) == 2:
                ev.countries.add(country.upper())
    sectors = _sectors_by_source(session, viewer, purpose, disseminate)
    for ev in events.values():
        ev.sectors = sectors.get(ev.id, set())
    return list(events.values())


def matches(ev: Event, *, crime_type: str | None, region: str | None, country: str | None,
            sector: str | None) -> bool:
    if crime_type and crime_type not in (ev.crime_types or {"other"}):
        return False
    if country and country not in ev.countries:
        return False
    if region and region not in {region_of(c) for c in ev.countries}:
        return False
    return not (sector and sector not in ev.sectors)


@dataclass
class Table:
    """Counts per group and bucket after the k-threshold (None: hidden)."""

    buckets: list[date]
    interval: str
    values: dict[str, list[int | None]]
    suppressed: int

    @property
    def labels(self) -> list[str]:
        return [bucket_label(b, self.interval) for b in self.buckets]


def tabulate(events: Iterable[Event], *, by: str, interval: str, since: datetime, until: datetime, k: int,
             groups: Iterable[str] = ()) -> Table:
    spans = buckets(since, until, interval)
    index = {b: i for i, b in enumerate(spans)}
    ids: dict[tuple[str, int], set[str]] = defaultdict(set)
    orgs: dict[tuple[str, int], set[int]] = defaultdict(set)
    seen_groups: set[str] = set(groups)
    for ev in events:
        i = index.get(bucket_start(ev.when, interval))
        if i is None:
            continue
        for g in ev.groups(by):
            ids[(g, i)].add(ev.id)
            orgs[(g, i)].update(ev.orgs)
            seen_groups.add(g)
    rows = [{"group": g, "i": i, "count": len(ids.get((g, i), ())), "sources": len(orgs.get((g, i), ()))}
            for g in sorted(seen_groups) for i in range(len(spans))]
    kept, suppressed = policy.suppress_small_cells(rows, k=k)
    values: dict[str, list[int | None]] = {g: [None] * len(spans) for g in sorted(seen_groups)}
    for r in kept:
        values[r["group"]][r["i"]] = r["count"]
    return Table(spans, interval, values, suppressed)
