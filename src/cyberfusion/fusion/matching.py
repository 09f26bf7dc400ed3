"""Find where asked values meet the index: exact values, URL/e-mail hosts, IP containment.

Shared by lookups and value correlation. Each match is a ``Group``: all rows of one
contribution (and one handling) holding one matched value, with the asker's readable flag
computed by the policy gate in SQL. Nothing here decides what is shown: callers do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy.orm import Session

from cyberfusion.fusion import repository, valuefilter
from cyberfusion.fusion.terms import HOST, IP_KINDS, covering_starts, reverse_host
from cyberfusion.kit.observables import ip_range
from cyberfusion.sharing.viewer import Viewer


class Group(NamedTuple):
    # A named tuple, not a frozen dataclass: a lookup builds one per matched group, and the
    # dataclass's __init__ (object.__setattr__ per field) cost ~5 us each, 0.05 s of CPU for the
    # 10,000 hits of a 100,000-value batch (2026-11-27).
    kind: str  # the stored value's kind and value (may differ from the asked one: host, cidr)
    value: str
    table: str  # observables | terms
    organisation_id: int
    contribution_id: str
    handling_id: int
    readable: bool
    rows: int
    first_seen: datetime | None
    last_seen: datetime | None
    via: str  # value | host | cidr
    # With find(objects=True): the group's distinct (stix_id, object_type or "" for terms).
    objects: tuple[tuple[str, str], ...] = ()


Key = tuple[str, str]


def find(session: Session, *, viewer: Viewer, purpose: str, keys: Collection[Key],
         hosts: bool = True, ranges: bool = True, objects: bool = False,
         stored: valuefilter.Hashes | None = None) -> dict[Key, list[Group]]:
    """Every group of stored rows matching each asked (kind, value); with ``objects``, each
    group also lists its objects (what a lookup shows and tells owners, read with the match
    instead of by two more queries over the matched values). ``stored``: the hashes of the
    stored values (valuefilter.py); values not among them are not sent to the database."""
    out: dict[Key, list[Group]] = defaultdict(list)
    if not keys:
        return out
    wanted = keys if isinstance(keys, (set, frozenset)) else set(keys)
    values = set(map(itemgetter(1), wanted))
    if stored is not None:
        values = stored.filter(values)
    # Index order: probes reuse the same pages (at 1M stored, 100,000 values: 0.07 s of SQLite
    # sorted, 0.29 s unsorted, for 0.05 s of sorting; 2026-11-27).
    values = sorted(values)
    for row in repository.match_groups(session, viewer=viewer, purpose=purpose, table="observables",
                                       values=values, objects=objects):
        kind, value, org, contribution, handling, flag, n, first, last = row[:9]
        if (kind, value) in wanted:
            out[(kind, value)].append(Group(kind, value, "observables", org, contribution, handling, bool(flag), n,
                                            first, last, "value", _objects(row, 9, objects)))
    if hosts:
        # A domain asked: URLs and e-mail addresses on exactly that host.
        hosts_of = {reverse_host(v): v for k, v in wanted if k == "domain-name"}
        if stored is not None and hosts_of:
            hosts_of = {h: hosts_of[h] for h in stored.filter(hosts_of)}
        for row in repository.match_groups(session, viewer=viewer, purpose=purpose, table="terms",
                                           values=sorted(hosts_of), objects=objects):
            kind, value, org, contribution, handling, flag, n, first, last = row[:9]
            if kind == HOST:
                out[("domain-name", hosts_of[value])].append(Group(kind, value, "terms", org, contribution, handling,
                                                                   bool(flag), n, first, last, "host",
                                                                   _objects(row, 9, objects)))
    if ranges:
        _ranges(session, viewer, purpose, [k for k in wanted if k[0] in IP_KINDS], out, objects)
    return out


def _objects(row: tuple, at: int, objects: bool) -> tuple[tuple[str, str], ...]:
    return repository.group_objects(row[at]) if objects else ()


def _ranges(session: Session, viewer: Viewer, purpose: str, ip_keys: list[Key],
            out: dict[Key, list[Group]], objects: bool = False) -> None:
    if not ip_keys:
        return
    asked_ranges = [k for k in ip_keys if "/" in k[1]]
    for key in asked_ranges:
        # An asked range: stored addresses and ranges inside it.
        start, end = ip_range(key[1])
        if start == end:
            continue
        for table in repository.TABLES:
            for row in repository.range_groups(session, viewer=viewer, purpose=purpose, table=table,
                                               inside=(start, end), objects=objects):
                kind, value, org, contribution, handling, flag, n, first, last, _rs, _re = row[:11]
                if (kind, value) != key:
                    out[key].append(Group(kind, value, table, org, contribution, handling, bool(flag), n,
                                          first, last, "cidr", _objects(row, 11, objects)))
    prefixes = [p for p in repository.ip_prefixes(session) if p < 128]
    if not prefixes:
        return  # no stored range can contain an address: no work per address
    singles: dict[str, list[Key]] = defaultdict(list)  # address hex -> asked keys
    for key in ip_keys:
        start, end = ip_range(key[1])
        if start == end:
            singles[start].append(key)
    by_start: dict[str, list[str]] = defaultdict(list)  # candidate network start -> addresses under it
    for address in singles:
        for start in covering_starts(address, prefixes):
            by_start[start].append(address)
    for table in repository.TABLES:
        for row in repository.range_groups(session, viewer=viewer, purpose=purpose, table=table,
                                           starts=sorted(by_start), objects=objects):
            kind, value, org, contribution, handling, flag, n, first, last, rs, re_ = row[:11]
            group = Group(kind, value, table, org, contribution, handling, bool(flag), n, first, last, "cidr",
                          _objects(row, 11, objects))
            for address in by_start.get(rs, ()):
                if address <= re_:
                    for key in singles[address]:
                        out[key].append(group)
