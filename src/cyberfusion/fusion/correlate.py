"""Correlation through the observables index: no pairwise table, ever.

On ingest (``after_import``, in the import's transaction) a contribution's observables get
their derived terms (host names with reversed labels, URL IP literals), the per-value aggregates are
bumped with one set-based statement, new CIDR prefix lengths are registered, and watchlists
are matched. Everything else is computed at read time from the index:

  * ``correlations`` — what the viewer may read about one value: corroboration (how many
    organisations whose data it may read reported it), first/last seen, sightings, related
    values through host, registered domain, CIDR containment and file hashes carried together.
  * ``related`` — the connected group of objects around one object, hop by hop.

Over-correlation guard: a value or term present in more than ``common_threshold``
contributions is "common": it is still searchable and shown, but no cluster edge goes
through it. Warninglisted values are never correlated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.config import Settings, get_settings
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.fusion import matching, repository, warninglists
from cyberfusion.fusion.terms import (HASH_KINDS, IP_KINDS, REGDOM, TERM_SOURCE_KINDS, Key, covering_starts,
                                      derived_term, link_via, prefix_of, query_keys, reverse_host, shown, stronger,
                                      term_range)
from cyberfusion.intel.models import Contribution
from cyberfusion.intel.service import summary
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

PAGE = 20_000
MAX_DEPTH = 4


# --- on ingest -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CorrelationSummary:
    terms: int
    new_prefixes: int
    alerts: int

    def as_dict(self) -> dict[str, int]:
        return {"terms": self.terms, "new_prefixes": self.new_prefixes, "alerts": self.alerts}


def _term_rows(rows: list[tuple[Any, ...]], contribution_id: str | None,
               prefixes: set[int]) -> list[tuple[Any, ...]]:
    """Term rows (repository.TERM_COLUMNS) for observables (pk, kind, value, stix_id, handling,
    owner, seen_at, range start, range end[, contribution]); collects the prefix lengths of CIDR
    ranges on the way."""
    out = []
    for row in rows:
        pk, kind, value, stix_id, handling_id, org_id, seen_at, range_start, range_end = row[:9]
        cid = contribution_id or row[9]
        if range_start is not None and range_start != range_end:
            p = prefix_of(range_start, range_end)
            if p is not None:
                prefixes.add(p)
        term = derived_term(kind, value) if kind in TERM_SOURCE_KINDS else None
        if term is None:
            continue
        start, end = term_range(*term)
        out.append((term[0], term[1], start, end, pk, stix_id, cid, org_id, handling_id, seen_at))
    return out


def after_import(session: Session, *, contribution: Contribution, viewer: Viewer,
                 now: datetime | None = None) -> CorrelationSummary:
    """Index a freshly imported contribution for correlation and raise watchlist alerts.

    ``viewer`` is the importing member (the hook's contract with the pipeline); alerts are
    decided for each watchlist's own member, never for the importer."""
    from cyberfusion.fusion import watch

    terms = 0
    prefixes: set[int] = set()
    after = 0
    while rows := repository.rows_for_terms(session, contribution.id, after_pk=after, limit=PAGE):
        batch = _term_rows(rows, contribution.id, prefixes)
        repository.insert_terms(session, batch)
        terms += len(batch)
        after = rows[-1][0]
    known = set(repository.ip_prefixes(session)) if prefixes else set()
    repository.add_prefixes(session, prefixes - known)
    repository.count_contribution(session, contribution.id)
    alerts = watch.match_contribution(session, contribution=contribution, now=now)
    if alerts:
        from cyberfusion.fusion.alerts import schedule
        schedule(session)  # delivery (webhooks, e-mail) by `cfc worker`, in this import's transaction
    return CorrelationSummary(terms=terms, new_prefixes=len(prefixes - known), alerts=alerts)


def forget_contribution(session: Session, *, contribution_id: str) -> None:
    """Take a contribution out of the per-value aggregates; call before retention deletes its rows.

    (Its derived terms go with its observables: the foreign key cascades.)"""
    repository.forget_contribution(session, contribution_id)


def rebuild(session: Session) -> dict[str, int]:
    """Derive missing terms (data imported before fusion existed) and recount every aggregate."""
    prefixes: set[int] = set()
    terms = 0
    after = 0
    while rows := repository.observables_without_terms(session, after_pk=after, limit=PAGE):
        batch = _term_rows(rows, None, prefixes)
        repository.insert_terms(session, batch)
        terms += len(batch)
        after = rows[-1][0]
    repository.add_prefixes(session, prefixes - set(repository.ip_prefixes(session)))
    values = repository.rebuild_values(session)
    audit.record(session, action="fusion.rebuild", detail={"terms_added": terms, "values": values})
    return {"terms_added": terms, "values": values, **repository.table_counts(session)}


# --- one value -----------------------------------------------------------------------------------

def _parse(value: str, kind: str | None) -> tuple[str, str]:
    from cyberfusion.fusion.hits import parse_value
    found = parse_value(value, kind)
    if found is None:
        raise InvalidInput(f"not a recognised observable: {value!r}", field="value")
    return found


def correlations(session: Session, *, viewer: Viewer, purpose: str, value: str, kind: str | None = None,
                 settings: Settings | None = None) -> dict[str, Any]:
    """What the viewer may read about one value, and what it correlates with (all policy-filtered)."""
    settings = settings or get_settings()
    policy.require_purpose(viewer, purpose)
    key = _parse(value, kind)
    listed = warninglists.matcher(session).match(*key)
    direct = [g for g in matching.find(session, viewer=viewer, purpose=purpose, keys=[key]).get(key, [])
              if g.readable]
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for g in direct:
        pairs[g.table].add((g.kind, g.value))
    objects: dict[str, str] = {}
    for table, ps in pairs.items():
        for _k, _v, stix_id, otype in repository.readable_objects_for(session, viewer=viewer, purpose=purpose,
                                                                      table=table, pairs=ps):
            objects.setdefault(stix_id, otype)
    related = [] if listed else _related_values(session, viewer=viewer, purpose=purpose, key=key,
                                                objects=sorted(objects))
    counts = repository.value_counts(session, [key])
    sightings = repository.sighting_counts(session, viewer=viewer, purpose=purpose, stix_ids=objects)
    ids = sorted(objects)
    audit.record(session, action="fusion.correlation.read", viewer=viewer, purpose=purpose, object_ids=ids[:500],
                 detail={"objects": len(ids)})
    return {
        "kind": key[0], "value": key[1], "warninglists": listed,
        "common": counts.get(key, 0) > settings.common_threshold,
        "corroboration": len({g.organisation_id for g in direct}),
        "first_seen": min((g.first_seen for g in direct if g.first_seen), default=None),
        "last_seen": max((g.last_seen for g in direct if g.last_seen), default=None),
        "sightings": sum(sightings.values()),
        "object_count": len(ids),
        "objects": [{"id": s, "type": objects[s] or s.split("--", 1)[0]} for s in ids[:100]],
        "matched": sorted({(*shown(g.kind, g.value), g.via) for g in direct}),
        "related": related,
    }


def _related_values(session: Session, *, viewer: Viewer, purpose: str, key: tuple[str, str],
                    objects: list[str]) -> list[dict[str, Any]]:
    """Other values reached through the value's host, registered domain or co-carried hashes."""
    keys: list[Key] = []
    term = derived_term(*key)
    if term is not None:
        keys += query_keys(*term, derived=True)
    keys += query_keys(*key)
    if key[0] in HASH_KINDS and objects:
        for stix_id, kind, value, *_rest in repository.readable_object_terms(session, viewer=viewer, purpose=purpose,
                                                                           stix_ids=objects):
            if kind in HASH_KINDS and (kind, value) != key:
                keys.append(Key(kind, value, "hash"))
    found: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    own = {key, shown(*term) if term else key}
    exact: dict[tuple[str, str], Key] = {}
    for k in keys:
        if not k.subtree and (k.kind, k.value) not in exact:
            exact[(k.kind, k.value)] = k
    for stix_id, kind, value, table in repository.readable_objects_matching(
            session, viewer=viewer, purpose=purpose, pairs=exact, limit=5000):
        found[(*shown(kind, value), link_via(exact[(kind, value)], table))].add(stix_id)
    roots = [k.value for k in keys if k.subtree]
    for stix_id, kind, value, root in repository.readable_objects_in_subtrees(
            session, viewer=viewer, purpose=purpose, roots=roots, limit=5000):
        found[(*shown(kind, value), "registered_domain")].add(stix_id)
    best: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for (k, v, via), ids in found.items():
        if (k, v) in own:
            continue
        current = best.get((k, v))
        if current is None or stronger(via, current[0]) == via:
            best[(k, v)] = (via, ids | (current[1] if current else set()))
    return [{"kind": k, "value": v, "via": via, "objects": len(ids)} for (k, v), (via, ids) in sorted(best.items())]


# --- clusters --------------------------------------------------------------------------------------

@dataclass
class _Graph:
    nodes: dict[str, int]
    edges: dict[tuple[str, str], tuple[str, str, str]]
    max_nodes: int
    truncated: bool = False

    def link(self, a: str, b: str, via: str, kind: str, value: str, depth: int, frontier: list[str]) -> None:
        if a == b:
            return
        if b not in self.nodes:
            if len(self.nodes) >= self.max_nodes:
                self.truncated = True
                return
            self.nodes[b] = depth
            frontier.append(b)
        pair = (a, b) if a < b else (b, a)
        current = self.edges.get(pair)
        if current is None or stronger(via, current[0]) != current[0]:
            self.edges[pair] = (via, kind, value)


def related(session: Session, *, viewer: Viewer, purpose: str, stix_id: str, depth: int = 2,
            max_nodes: int | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """The objects linked to one object by shared infrastructure, up to ``depth`` hops."""
    settings = settings or get_settings()
    policy.require_purpose(viewer, purpose)
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"must be between 1 and {MAX_DEPTH}", field="depth")
    max_nodes = max_nodes or settings.cluster_max_nodes
    if not 2 <= max_nodes <= 5000:
        raise InvalidInput("must be between 2 and 5000", field="max_nodes")
    if not repository.latest_readable(session, viewer=viewer, purpose=purpose, stix_ids=[stix_id]):
        raise NotFound(f"no object {stix_id}")
    wl = warninglists.matcher(session)
    graph = _Graph({stix_id: 0}, {}, max_nodes)
    skipped: dict[tuple[str, str], str] = {}
    frontier = [stix_id]
    for hop in range(1, depth + 1):
        if not frontier or graph.truncated:
            break
        frontier = _hop(session, viewer=viewer, purpose=purpose, frontier=frontier, hop=hop, graph=graph,
                        skipped=skipped, wl=wl, threshold=settings.common_threshold)
    found = repository.latest_readable(session, viewer=viewer, purpose=purpose, stix_ids=graph.nodes)
    nodes = [summary(found[s]) | {"depth": d} for s, d in sorted(graph.nodes.items(), key=lambda x: (x[1], x[0]))
             if s in found]
    edges = [{"source": a, "target": b, "via": via, "kind": k, "value": v}
             for (a, b), (via, k, v) in sorted(graph.edges.items()) if a in found and b in found]
    audit.record(session, action="fusion.related", viewer=viewer, purpose=purpose,
                 object_ids=[n["id"] for n in nodes], detail={"object": stix_id, "depth": depth})
    return {"object": stix_id, "depth": depth, "nodes": nodes, "edges": edges, "truncated": graph.truncated,
            "skipped": [{"kind": k, "value": v, "reason": r} for (k, v), r in sorted(skipped.items())]}


def _hop(session: Session, *, viewer: Viewer, purpose: str, frontier: list[str], hop: int, graph: _Graph,
         skipped: dict[tuple[str, str], str], wl: warninglists.Matcher, threshold: int) -> list[str]:
    sources: dict[tuple[str, str], list[tuple[str, Key]]] = defaultdict(list)  # exact key -> (object, key)
    subtrees: dict[str, set[str]] = defaultdict(set)  # reversed registered domain -> objects
    singles: list[tuple[str, str, str, str]] = []  # (object, kind, value, address hex)
    ranges: list[tuple[str, str, str, str, str]] = []  # (object, kind, value, start, end)
    hashes: dict[str, list[tuple[str, str]]] = defaultdict(list)  # object -> its hash terms
    for sid, kind, value, rs, re_, table in repository.readable_object_terms(session, viewer=viewer,
                                                                           purpose=purpose, stix_ids=frontier):
        names = wl.match(*shown(kind, value))
        if names:
            skipped[shown(kind, value)] = "warninglist: " + ", ".join(names)
            continue
        for k in query_keys(kind, value, derived=table == "terms"):
            if not k.subtree:
                sources[(k.kind, k.value)].append((sid, k))
            elif names := wl.match("domain-name", reverse_host(k.value)):
                skipped[(REGDOM, reverse_host(k.value))] = "warninglist: " + ", ".join(names)
            else:
                subtrees[k.value].add(sid)
        if kind in IP_KINDS and rs is not None:
            (singles.append((sid, kind, value, rs)) if rs == re_ else ranges.append((sid, kind, value, rs, re_)))
        if kind in HASH_KINDS:
            hashes[sid].append((kind, value))
    counts = repository.value_counts(session, sources)
    for key in [k for k in sources if counts.get(k, 0) > threshold]:
        skipped[shown(*key)] = "common"
        del sources[key]
    for root in list(subtrees):
        if repository.subtree_contributions(session, root, cap=threshold + 1) > threshold:
            skipped[(REGDOM, reverse_host(root))] = "common"
            del subtrees[root]
    nxt: list[str] = []
    limit = graph.max_nodes * 20
    found = repository.readable_objects_matching(session, viewer=viewer, purpose=purpose, pairs=sources, limit=limit)
    for sid2, kind, value, table in found:
        for src, k in sources.get((kind, value), ()):
            graph.link(src, sid2, link_via(k, table), *shown(kind, value), hop, nxt)
    for sid2, _kind, _value, root in repository.readable_objects_in_subtrees(
            session, viewer=viewer, purpose=purpose, roots=list(subtrees), limit=limit):
        for src in subtrees[root]:
            graph.link(src, sid2, "registered_domain", REGDOM, reverse_host(root), hop, nxt)
    _cidr_links(session, viewer=viewer, purpose=purpose, singles=singles, ranges=ranges, graph=graph, hop=hop,
                nxt=nxt, wl=wl, threshold=threshold, skipped=skipped, limit=limit)
    _hash_links(session, viewer=viewer, purpose=purpose, hashes=hashes, found=found, graph=graph, hop=hop, nxt=nxt,
                threshold=threshold, skipped=skipped, limit=limit)
    return nxt


def _cidr_links(session: Session, *, viewer: Viewer, purpose: str, singles: list[tuple[str, str, str, str]],
                ranges: list[tuple[str, str, str, str, str]], graph: _Graph, hop: int, nxt: list[str],
                wl: warninglists.Matcher, threshold: int, skipped: dict[tuple[str, str], str], limit: int) -> None:
    rows: list[tuple[str, str, tuple[str, str, str, str, str, str]]] = []  # (source object, source value, row)
    prefixes = [p for p in repository.ip_prefixes(session) if p < 128]
    if singles and prefixes:
        by_start: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for sid, _kind, value, address in singles:
            for start in covering_starts(address, prefixes):
                by_start[start].append((sid, address))
        for row in repository.readable_objects_in_ranges(session, viewer=viewer, purpose=purpose,
                                                         starts=sorted(by_start), limit=limit):
            for sid, address in by_start.get(row[3], ()):
                if address <= row[4]:
                    rows.append((sid, address, row))
    for sid, _kind, _value, start, end in ranges[:100]:
        for row in repository.readable_objects_in_ranges(session, viewer=viewer, purpose=purpose,
                                                         inside=(start, end), limit=limit):
            rows.append((sid, start, row))
    if not rows:
        return
    counts = repository.value_counts(session, {(r[1], r[2]) for _s, _a, r in rows})
    for sid, _address, (sid2, kind, value, _rs, _re, _table) in rows:
        names = wl.match(kind, value)
        if names:
            skipped[(kind, value)] = "warninglist: " + ", ".join(names)
        elif counts.get((kind, value), 0) > threshold:
            skipped[(kind, value)] = "common"
        else:
            graph.link(sid, sid2, "cidr", kind, value, hop, nxt)


def _hash_links(session: Session, *, viewer: Viewer, purpose: str, hashes: dict[str, list[tuple[str, str]]],
                found: list[tuple[str, str, str, str]], graph: _Graph, hop: int, nxt: list[str], threshold: int,
                skipped: dict[tuple[str, str], str], limit: int) -> None:
    """An object carrying several hashes makes them one file: link the source to every object
    holding any of the other hashes, in the same hop."""
    carriers: dict[str, set[str]] = defaultdict(set)  # neighbour carrying a source's hash -> sources
    for sid2, kind, value, _table in found:
        if kind in HASH_KINDS:
            for src, hs in hashes.items():
                if (kind, value) in hs and sid2 != src:
                    carriers[sid2].add(src)
    if not carriers:
        return
    equivalent: dict[tuple[str, str], set[str]] = defaultdict(set)  # other hash -> sources
    for sid2, kind, value, *_rest in repository.readable_object_terms(session, viewer=viewer, purpose=purpose,
                                                                      stix_ids=carriers):
        if kind in HASH_KINDS:
            for src in carriers[sid2]:
                if (kind, value) not in hashes[src]:
                    equivalent[(kind, value)].add(src)
    counts = repository.value_counts(session, equivalent)
    for key in [k for k in equivalent if counts.get(k, 0) > threshold]:
        skipped[key] = "common"
        del equivalent[key]
    for sid3, kind, value, _table in repository.readable_objects_matching(session, viewer=viewer, purpose=purpose,
                                                                          pairs=equivalent, limit=limit):
        for src in equivalent.get((kind, value), ()):
            graph.link(src, sid3, "hash", kind, value, hop, nxt)


__all__ = ["after_import", "forget_contribution", "rebuild", "correlations", "related", "CorrelationSummary"]
