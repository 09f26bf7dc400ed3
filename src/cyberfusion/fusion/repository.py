"""All SQL of the fusion package.

Every query that returns intelligence applies the policy gate (``policy.readable_by`` on the
table's own contribution/handling/organisation columns, or intel's ``objects_readable``). The
lookup queries also return rows the asker may *not* read, flagged ``readable = 0``: those
rows only ever decide whom to notify, never what the asker is told.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (Integer, Select, Text, and_, bindparam, case, cast, delete, func, insert, literal,
                        literal_column, or_, select, tuple_, type_coerce, union, union_all, update)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cyberfusion.db import conflict_insert, core, for_update, hold_write_lock, insert_rows
from cyberfusion.fusion.models import (Alert, Delivery, HitNotification, IpPrefix, Lookup, LookupHit, Term,
                                       ValueEpoch, ValueStat, Warninglist, WarninglistEntry, WatchItem, Watchlist)
from cyberfusion.fusion.terms import HOST
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.intel.repository import insert_many, objects_readable
from cyberfusion.partners.models import Member, Organisation
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

# Above this many values a list is passed as one JSON/array parameter and joined.
_INLINE_VALUES = 200
TABLES = {"observables": Observable, "terms": Term}


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _values_table(session: Session, values: Sequence[str]) -> Any:
    """A one-column ("value") table of the given strings: a single bound parameter whatever the count."""
    if _dialect(session) == "postgresql":
        param = bindparam(None, list(values), type_=ARRAY(Text))
        return func.unnest(param).table_valued("value").render_derived()
    return func.json_each(json.dumps(list(values), ensure_ascii=False)).table_valued("value")


def readable(viewer: Viewer, purpose: str, table: Any, **kw: Any) -> Any:
    return policy.readable_by(viewer, purpose, contribution_col=table.contribution_id,
                              handling_col=table.handling_id, org_col=table.organisation_id, **kw)


def _readable_flag(viewer: Viewer, purpose: str, table: Any) -> Any:
    return case((readable(viewer, purpose, table), 1), else_=0)


def _matching(session: Session, table: Any, values: Sequence[str]) -> tuple[Any, Any]:
    """(FROM clause, extra WHERE) selecting the rows of ``table`` whose value is in ``values``."""
    if len(values) <= _INLINE_VALUES:
        return table, table.value.in_(list(values))
    vt = _values_table(session, values)
    return vt.join(table, table.value == vt.c.value), None


# --- warninglists ------------------------------------------------------------------------------

# Read on every lookup (warninglists.matcher: are the compiled lists current?): built once, run on
# the session's connection (db.core): 103 us a call against 172 us built per call through the ORM
# (2026-11-29, 1M store; a single hit lookup costs ~3.4 ms of CPU).
_WARNINGLIST_SIGNATURE = select(Warninglist.name, Warninglist.digest, Warninglist.enabled).order_by(Warninglist.name)


def warninglist_signature(session: Session) -> list[tuple[str, str, bool]]:
    return [tuple(r) for r in core(session).execute(_WARNINGLIST_SIGNATURE)]


def enabled_warninglists(session: Session) -> list[tuple[int, str, str, list[str]]]:
    return [tuple(r) for r in session.execute(
        select(Warninglist.id, Warninglist.name, Warninglist.type, Warninglist.matching_attributes)
        .where(Warninglist.enabled.is_(True)).order_by(Warninglist.name))]


def warninglist_entries(session: Session, warninglist_id: int) -> list[str]:
    return list(session.scalars(select(WarninglistEntry.value)
                                .where(WarninglistEntry.warninglist_id == warninglist_id)))


def warninglist_by_name(session: Session, name: str) -> Warninglist | None:
    return session.scalar(select(Warninglist).where(Warninglist.name == name))


def warninglist_by_ref(session: Session, ref: str) -> Warninglist | None:
    cond = or_(Warninglist.name == ref, Warninglist.slug == ref)
    if ref.isdigit():
        cond = or_(cond, Warninglist.id == int(ref))
    return session.scalars(select(Warninglist).where(cond).order_by(Warninglist.id)).first()


def warninglists(session: Session) -> list[Warninglist]:
    return list(session.scalars(select(Warninglist).order_by(Warninglist.slug, Warninglist.name)))


def replace_warninglist_entries(session: Session, warninglist_id: int, entries: Iterable[str]) -> None:
    session.execute(delete(WarninglistEntry).where(WarninglistEntry.warninglist_id == warninglist_id))
    rows = [{"warninglist_id": warninglist_id, "value": e} for e in entries]
    if rows:
        session.execute(insert(WarninglistEntry), rows)


# --- correlation: writes on ingest ------------------------------------------------------------

_TERM_SOURCES = ("url", "email-addr", "domain-name")


def _rows_for_terms(seen_at: Any) -> Select[Any]:
    o = Observable
    return (select(o.pk, o.kind, o.value, o.stix_id, o.handling_id, o.organisation_id, seen_at, o.range_start,
                   o.range_end)
            .where(o.contribution_id == bindparam("contribution_id"), o.pk > bindparam("after_pk"),
                   or_(o.kind.in_(_TERM_SOURCES), and_(o.range_start.is_not(None), o.range_start != o.range_end)))
            .order_by(o.pk).limit(bindparam("limit")))


_ROWS_FOR_TERMS = _rows_for_terms(Observable.seen_at)
# SQLite: seen_at as the text the column holds, which insert_terms writes back as it is (the
# term's seen_at is its observable's). Read as a datetime and written back, the round trip cost
# more than SQLite's own work on these rows (~1 s of an importer's ~10 s CPU for 100,000
# objects; benchmarks/ingest.py).
_ROWS_FOR_TERMS_RAW = _rows_for_terms(type_coerce(Observable.seen_at, Text).label("seen_at"))


def rows_for_terms(session: Session, contribution_id: str, *, after_pk: int, limit: int) -> list[tuple[Any, ...]]:
    """The contribution's observables that derive terms, and its CIDR ranges (for the prefix
    registry), one keyset page at a time: (pk, kind, value, stix_id, handling_id,
    organisation_id, seen_at, range_start, range_end). On SQLite seen_at is the stored text."""
    q = _ROWS_FOR_TERMS_RAW if _dialect(session) == "sqlite" else _ROWS_FOR_TERMS
    return [tuple(r) for r in core(session).execute(
        q, {"contribution_id": contribution_id, "after_pk": after_pk, "limit": limit})]


# A term row (correlate._term_rows), in this order.
TERM_COLUMNS = ("kind", "value", "range_start", "range_end", "observable_pk", "stix_id", "contribution_id",
                "organisation_id", "handling_id", "seen_at")


def insert_terms(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Term rows, tuples of TERM_COLUMNS; seen_at a datetime, or SQLite's text (rows_for_terms)."""
    insert_many(session, Term.__table__, rows, TERM_COLUMNS)


_IP_PREFIXES = select(IpPrefix.prefix).order_by(IpPrefix.prefix)


def ip_prefixes(session: Session) -> list[int]:
    return list(core(session).scalars(_IP_PREFIXES))


# --- the lookup's filter of stored values (valuefilter.py) ---------------------------------------

_VALUE_MARKS = select(select(ValueEpoch.deletions).where(ValueEpoch.id == 1).scalar_subquery(),
                      select(func.max(Observable.pk)).scalar_subquery(),
                      select(func.max(Term.pk)).scalar_subquery())


def value_marks(session: Session) -> tuple[int | None, int, int]:
    """(rows ever deleted, highest observable key, highest term key), as the session reads
    them now: three index probes. The first is None if the counter's row is missing."""
    deletions, observables, terms = core(session).execute(_VALUE_MARKS).one()
    return deletions, observables or 0, terms or 0


def stored_values(session: Session, *, table: str, after: int, upto: int) -> Iterator[str]:
    """The values of the rows with ``after < key <= upto``: every observable's, and the host
    terms' (what ``match_groups`` compares asked values with)."""
    t = TABLES[table]
    q = select(t.value).where(t.pk > after, t.pk <= upto)
    if table == "terms":
        q = q.where(t.kind == HOST)
    return core(session).execute(q).scalars()


def add_prefixes(session: Session, prefixes: Iterable[int]) -> None:
    rows = [{"prefix": p} for p in sorted(set(prefixes))]
    if rows:
        session.execute(conflict_insert(session, IpPrefix).on_conflict_do_nothing(), rows)


def _contribution_terms(contribution_id: str) -> Any:
    """Distinct (kind, value) of a contribution: its observables and their derived terms."""
    return union(select(Observable.kind, Observable.value).where(Observable.contribution_id == contribution_id),
                 select(Term.kind, Term.value).where(Term.contribution_id == contribution_id)).subquery()


def count_contribution(session: Session, contribution_id: str) -> None:
    """Add one to the per-value aggregate of every value and term of the contribution (set-based)."""
    t = _contribution_terms(contribution_id)
    # "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join constraint.
    source = select(t.c.value, t.c.kind, literal(1)).where(literal(True))
    stmt = conflict_insert(session, ValueStat).from_select(["value", "kind", "contributions"], source)
    stmt = stmt.on_conflict_do_update(index_elements=["value", "kind"],
                                      set_={"contributions": ValueStat.contributions + 1})
    session.execute(stmt)


def forget_contribution(session: Session, contribution_id: str) -> None:
    """Take a contribution out of the aggregates (call before its rows are deleted)."""
    t = _contribution_terms(contribution_id)
    keys = select(t.c.value, t.c.kind)
    session.execute(update(ValueStat).where(tuple_(ValueStat.value, ValueStat.kind).in_(keys))
                    .values(contributions=ValueStat.contributions - 1))
    session.execute(delete(ValueStat).where(ValueStat.contributions <= 0))


def rebuild_values(session: Session) -> int:
    """Recompute every aggregate from the index (after retention deleted contributions)."""
    session.execute(delete(ValueStat))
    rows = union_all(select(Observable.kind, Observable.value, Observable.contribution_id),
                     select(Term.kind, Term.value, Term.contribution_id)).subquery()
    active = select(Contribution.id).where(Contribution.status != "deleted")
    source = (select(rows.c.value, rows.c.kind, func.count(func.distinct(rows.c.contribution_id)))
              .where(rows.c.contribution_id.in_(active)).group_by(rows.c.value, rows.c.kind))
    session.execute(insert(ValueStat).from_select(["value", "kind", "contributions"], source))
    return session.scalar(select(func.count()).select_from(ValueStat)) or 0


def observables_without_terms(session: Session, *, after_pk: int, limit: int) -> list[tuple[Any, ...]]:
    """Term-deriving observables with no terms yet, in pk order (backfill for data older than fusion)."""
    o = Observable
    has_terms = select(Term.observable_pk).where(Term.observable_pk == o.pk).exists()
    return [tuple(r) for r in session.execute(
        select(o.pk, o.kind, o.value, o.stix_id, o.handling_id, o.organisation_id, o.seen_at, o.range_start,
               o.range_end, o.contribution_id)
        .where(o.pk > after_pk, or_(o.kind.in_(_TERM_SOURCES), o.range_start != o.range_end), ~has_terms)
        .order_by(o.pk).limit(limit))]


def value_counts(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    wanted = set(keys)  # (sorting the keys too cost ~0.01 s for a batch's 10,000 hits: only values need order)
    if not wanted:
        return {}
    values = sorted({v for _k, v in wanted})
    dialect, shape = _dialect(session), _shape(values)
    return {(k, v): n for k, v, n in core(session).execute(_value_counts_statement(dialect, shape),
                                                           _values_param(values, dialect, shape)) if (k, v) in wanted}


@lru_cache(maxsize=8)
def _value_counts_statement(dialect: str, shape: str) -> Any:
    src, where = _values_source(ValueStat, dialect, shape)
    q = select(ValueStat.kind, ValueStat.value, ValueStat.contributions).select_from(src)
    return q if where is None else q.where(where)


def table_counts(session: Session) -> dict[str, int]:
    out = {}
    for name, model in (("observables", Observable), ("fusion_terms", Term), ("fusion_values", ValueStat)):
        out[name] = session.scalar(select(func.count()).select_from(model)) or 0
    return out


# --- matching for lookups (grouped, with the asker's readable flag) --------------------------

def _readable_clause(viewer: Viewer, purpose: str, table: str) -> Any:
    """``readable`` on a table by name. policy.readable_by keeps the condition per viewer, purpose
    and table, with "now" a parameter taken when each statement runs."""
    t = StixObject if table == "stix_objects" else TABLES[table]
    return readable(viewer, purpose, t)


@lru_cache(maxsize=512)
def _match_statement(viewer: Viewer, purpose: str, table: str, dialect: str, shape: str,
                     objects: bool = False) -> Any:
    """The grouped match query with the policy flag, built once per viewer, purpose and shape
    (one value, a short list inline, or a long list as a table); the asked values and "now" are
    parameters. One value is a plain equality: an "expanding" list is re-rendered at every
    execution, which cost more than the query of a one-value lookup. With ``objects``, a last
    column lists the group's objects (``group_objects``)."""
    t = TABLES[table]
    src, where = _values_source(t, dialect, shape)
    # Readability depends only on (contribution, handling, owner), which are grouped on: an
    # aggregate of the flag, not a grouping key, so the policy condition is in the SQL once.
    flag = func.max(case((_readable_clause(viewer, purpose, table), 1), else_=0)).label("readable")
    cols = [t.kind, t.value, t.organisation_id, t.contribution_id, t.handling_id, flag, func.count(),
            func.min(t.seen_at), func.max(t.seen_at)]
    if objects:
        cols.append(_objects_aggregate(t, dialect))
    q = (select(*cols).select_from(src)
         .group_by(t.kind, t.value, t.organisation_id, t.contribution_id, t.handling_id))
    if where is not None:
        q = q.where(where)
    return q


def _objects_aggregate(t: Any, dialect: str) -> Any:
    """The distinct objects of a group as one string: "stix_id type" (observables) or "stix_id"
    (terms, which do not keep the type), comma-separated (neither holds a comma or a blank)."""
    item = t.stix_id + " " + t.object_type if t is Observable else t.stix_id
    if dialect == "postgresql":
        return func.string_agg(item.distinct(), literal_column("','"))
    return func.group_concat(item.distinct())


def group_objects(text: str | None) -> tuple[tuple[str, str], ...]:
    """(stix_id, object_type or "") of a group's aggregated objects column."""
    if not text:
        return ()
    if "," not in text:  # one object: most groups
        sid, _, otype = text.partition(" ")
        return ((sid, otype),)
    return tuple((sid, otype) for sid, _, otype in (x.partition(" ") for x in text.split(",")))


def match_groups(session: Session, *, viewer: Viewer, purpose: str, table: str,
                 values: Sequence[str], objects: bool = False) -> list[tuple[Any, ...]]:
    """Per (kind, value, owner, contribution, handling, readable): row count and first/last seen;
    with ``objects``, then the group's objects (``group_objects`` reads them)."""
    if not values:
        return []
    dialect = _dialect(session)
    shape = _shape(values)
    q = _match_statement(viewer, purpose, table, dialect, shape, objects)
    return [tuple(r) for r in core(session).execute(q, _values_param(values, dialect, shape))]


def _shape(values: Sequence[str]) -> str:
    return "one" if len(values) == 1 else "inline" if len(values) <= _INLINE_VALUES else "table"


def _values_source(t: Any, dialect: str, shape: str) -> tuple[Any, Any]:
    """(FROM, WHERE) selecting the rows of ``t`` whose value is the parameter ``match_values``:
    one value (a plain equality: an "expanding" list is re-rendered at every execution, which
    cost more than a one-value query), a short list inline, or a long list as a table."""
    if shape == "one":
        return t, t.value == bindparam("match_values", type_=Text)
    if shape == "inline":
        return t, t.value.in_(bindparam("match_values", expanding=True))
    vt = _list_table(dialect, "match_values")
    return vt.join(t, t.value == vt.c.value), None


def _values_param(values: Sequence[str], dialect: str, shape: str) -> dict[str, Any]:
    return {"match_values": values[0] if shape == "one" else _list_param(list(values), dialect, shape)}


def range_groups(session: Session, *, viewer: Viewer, purpose: str, table: str,
                 starts: Sequence[str] = (), inside: tuple[str, str] | None = None,
                 objects: bool = False) -> list[tuple[Any, ...]]:
    """Stored ranges starting at one of ``starts`` (containment candidates) or stored addresses
    and ranges inside ``inside``; grouped like match_groups plus range_start, range_end (and
    with ``objects``, then the group's objects)."""
    t = TABLES[table]
    flag = _readable_flag(viewer, purpose, t).label("readable")
    cols = (t.kind, t.value, t.organisation_id, t.contribution_id, t.handling_id, flag, func.count(),
            func.min(t.seen_at), func.max(t.seen_at), t.range_start, t.range_end)
    if objects:
        cols = (*cols, _objects_aggregate(t, _dialect(session)))
    if inside is not None:
        q = select(*cols).where(t.range_start >= inside[0], t.range_start <= inside[1], t.range_end <= inside[1])
    elif starts:
        if len(starts) <= _INLINE_VALUES:
            q = select(*cols).where(t.range_start.in_(list(starts)))
        else:
            vt = _values_table(session, starts)
            q = select(*cols).select_from(vt.join(t, t.range_start == vt.c.value))
        q = q.where(t.range_start != t.range_end)
    else:
        return []
    q = q.group_by(t.kind, t.value, t.organisation_id, t.contribution_id, t.handling_id, flag, t.range_start,
                   t.range_end)
    return [tuple(r) for r in session.execute(q.limit(10_000))]


def readable_objects_for(session: Session, *, viewer: Viewer, purpose: str, table: str,
                         pairs: Iterable[tuple[str, str]], handling_ids: Iterable[int] | None = None,
                         own_org_id: int | None = None, limit: int = 20_000) -> list[tuple[str, str, str, str]]:
    """(kind, value, stix_id, object_type) of readable rows holding these values; with
    ``handling_ids``, only rows under those handlings (or the ``own_org_id``'s own rows)."""
    pairs = set(pairs)
    values = sorted({v for _k, v in pairs})
    if not values:
        return []
    dialect, shape = _dialect(session), _shape(values)
    q = _objects_statement(viewer, purpose, table, dialect, shape, handling_ids is not None, own_org_id is not None)
    params = _values_param(values, dialect, shape) | {"row_limit": limit}
    if handling_ids is not None:
        params["handling_ids"] = sorted(set(handling_ids))
        if own_org_id is not None:
            params["own_org_id"] = own_org_id
    return [tuple(r) for r in session.execute(q, params) if (r[0], r[1]) in pairs]


# The statements of a hit's answer are built once per viewer, purpose and shape (like
# _match_statement): building a select around the policy condition cost about as much CPU as
# running it, and a one-value lookup runs several of them.

@lru_cache(maxsize=512)
def _objects_statement(viewer: Viewer, purpose: str, table: str, dialect: str, shape: str, by_handling: bool,
                       own_org: bool) -> Any:
    t = TABLES[table]
    src, where = _values_source(t, dialect, shape)
    otype = t.object_type if t is Observable else literal("")
    q = (select(t.kind, t.value, t.stix_id, otype).select_from(src)
         .where(_readable_clause(viewer, purpose, table)).distinct().limit(bindparam("row_limit")))
    if where is not None:
        q = q.where(where)
    if by_handling:
        allowed = t.handling_id.in_(bindparam("handling_ids", expanding=True))
        q = q.where(or_(allowed, t.organisation_id == bindparam("own_org_id")) if own_org else allowed)
    return q


def sighting_counts(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Iterable[str]) -> dict[str, int]:
    ids = sorted(set(stix_ids))
    if not ids:
        return {}
    dialect = _dialect(session)
    shape = "inline" if len(ids) <= _INLINE_VALUES else "table"
    q = _sightings_statement(viewer, purpose, dialect, shape)
    return {ref: n for ref, n in core(session).execute(q, {"refs": _list_param(ids, dialect, shape)})}


@lru_cache(maxsize=256)
def _sightings_statement(viewer: Viewer, purpose: str, dialect: str, shape: str) -> Any:
    # A long list is one JSON/array parameter, not chunks of an "expanding" IN: SQLAlchemy
    # rendered a bind parameter per id, ~0.03 s of CPU for the ~10,000 objects of a
    # 100,000-value batch's hits (2026-11-27).
    if shape == "inline":
        wanted = StixObject.source_ref.in_(bindparam("refs", expanding=True))
    else:
        wanted = StixObject.source_ref.in_(select(_list_table(dialect, "refs").c.value))
    return (select(StixObject.source_ref, func.count(func.distinct(StixObject.stix_id)))
            .where(StixObject.type == "sighting", wanted,
                   _readable_clause(viewer, purpose, "stix_objects")).group_by(StixObject.source_ref))


def _list_table(dialect: str, name: str) -> Any:
    """A one-column ("value") table of the text list bound as parameter ``name`` (``_list_param``)."""
    if dialect == "postgresql":
        return func.unnest(bindparam(name, type_=ARRAY(Text))).table_valued("value").render_derived()
    return func.json_each(bindparam(name, type_=Text)).table_valued("value")


def _list_param(values: list[str], dialect: str, shape: str) -> Any:
    if shape == "table" and dialect != "postgresql":
        return json.dumps(values, ensure_ascii=False)
    return values


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --- clustering --------------------------------------------------------------------------------

def readable_object_terms(session: Session, *, viewer: Viewer, purpose: str,
                          stix_ids: Iterable[str]) -> list[tuple[str, str, str, str | None, str | None, str]]:
    """(stix_id, kind, value, range_start, range_end, "observables"|"terms") readable for these objects."""
    ids = sorted(set(stix_ids))
    out: list[tuple[str, str, str, str | None, str | None, str]] = []
    for name, t in TABLES.items():
        for chunk in _chunks(ids, 500):
            q = (select(t.stix_id, t.kind, t.value, t.range_start, t.range_end)
                 .where(t.stix_id.in_(chunk), readable(viewer, purpose, t)).distinct())
            out.extend((*r, name) for r in session.execute(q))
    return out


def readable_objects_matching(session: Session, *, viewer: Viewer, purpose: str,
                              pairs: Iterable[tuple[str, str]], limit: int) -> list[tuple[str, str, str, str]]:
    """(stix_id, kind, value, table) of readable rows in either table whose (kind, value) is asked."""
    pairs = set(pairs)
    values = sorted({v for _k, v in pairs})
    out: list[tuple[str, str, str, str]] = []
    if not values:
        return out
    for name, t in TABLES.items():
        src, where = _matching(session, t, values)
        q = (select(t.stix_id, t.kind, t.value).select_from(src)
             .where(readable(viewer, purpose, t)).distinct().limit(limit))
        if where is not None:
            q = q.where(where)
        out.extend((s, k, v, name) for s, k, v in session.execute(q) if (k, v) in pairs)
    return out


def readable_objects_in_ranges(session: Session, *, viewer: Viewer, purpose: str, starts: Sequence[str] = (),
                               inside: tuple[str, str] | None = None,
                               limit: int) -> list[tuple[str, str, str, str, str, str]]:
    """(stix_id, kind, value, range_start, range_end, table) of readable IP rows: ranges starting at
    ``starts`` (candidates to contain an address), or rows lying inside ``inside``."""
    out: list[tuple[str, str, str, str, str, str]] = []
    for name, t in TABLES.items():
        cols = (t.stix_id, t.kind, t.value, t.range_start, t.range_end)
        if inside is not None:
            q = select(*cols).where(t.range_start >= inside[0], t.range_start <= inside[1],
                                    t.range_end <= inside[1])
        elif starts:
            q = select(*cols).where(t.range_start.in_(list(starts)), t.range_start != t.range_end)
        else:
            return out
        q = q.where(readable(viewer, purpose, t)).distinct().limit(limit)
        out.extend((*r, name) for r in session.execute(q))
    return out


def _subtree(root: str) -> Any:
    """A reversed registered domain and every reversed host below it ('.' < '/' in byte order)."""
    return and_(Term.kind == "host", or_(Term.value == root, and_(Term.value > root + ".", Term.value < root + "/")))


def readable_objects_in_subtrees(session: Session, *, viewer: Viewer, purpose: str, roots: Sequence[str],
                                 limit: int) -> list[tuple[str, str, str, str]]:
    """(stix_id, kind, value, root) of readable host terms under these reversed registered domains."""
    out: list[tuple[str, str, str, str]] = []
    for root in sorted(set(roots)):
        q = (select(Term.stix_id, Term.kind, Term.value).where(_subtree(root), readable(viewer, purpose, Term))
             .distinct().limit(limit))
        out.extend((sid, k, v, root) for sid, k, v in session.execute(q))
    return out


def subtree_contributions(session: Session, root: str, *, cap: int) -> int:
    """Contributions with a host under this reversed registered domain, counted up to ``cap``."""
    inner = select(Term.contribution_id).where(_subtree(root)).distinct().limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(inner)) or 0


def latest_readable(session: Session, *, viewer: Viewer, purpose: str,
                    stix_ids: Iterable[str]) -> dict[str, StixObject]:
    """The newest readable version of each object."""
    ids = sorted(set(stix_ids))
    out: dict[str, StixObject] = {}
    for chunk in _chunks(ids, 500):
        for row in session.scalars(select(StixObject).where(StixObject.stix_id.in_(chunk),
                                                            objects_readable(viewer, purpose))):
            cur = out.get(row.stix_id)
            if cur is None or (row.modified, row.pk) > (cur.modified, cur.pk):
                out[row.stix_id] = row
    return out


# --- lookups and hit notifications ------------------------------------------------------------

_INSERT_LOOKUP = insert(Lookup.__table__).returning(Lookup.__table__.c.id)


def add_lookup(session: Session, values: dict[str, Any]) -> int:
    """Record one lookup; its id. (Core, not the ORM: one row per API lookup, never changed
    but for its notification count.)"""
    return core(session).execute(_INSERT_LOOKUP, values).scalar_one()


_MAX_LOOKUP_ID = select(func.max(Lookup.__table__.c.id))


def add_lookups(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Record lookups; their ids, in the order of ``rows``.

    Several on SQLite (a group writer's batch, groupcommit.py) in one INSERT of many rows, with
    the ids SQLite itself would give them (one above the highest, in order: the table's key is
    the rowid) taken under the write lock, held here from before the highest is read; SQLite's
    RETURNING gives rows in no stated order, so it cannot say which id is whose. One INSERT ...
    RETURNING each otherwise (PostgreSQL's ids come from its sequence)."""
    if len(rows) <= 1 or _dialect(session) != "sqlite":
        return [add_lookup(session, row) for row in rows]
    hold_write_lock(session)
    first = (core(session).scalar(_MAX_LOOKUP_ID) or 0) + 1
    insert_rows(session, Lookup.__table__, [{**row, "id": first + i} for i, row in enumerate(rows)])
    return list(range(first, first + len(rows)))


# The hit rows and notifications of a lookup are written by one INSERT ... SELECT each over the
# rows passed as one parameter (json_each on SQLite, unnest of one array per column on
# PostgreSQL) rather than by executemany: SQLAlchemy processed 15 parameters of each of the
# ~10,000 notifications of a 100,000-value batch one by one (with RETURNING, in batches of
# multi-row VALUES), ~0.1 s of CPU at 1M stored (2026-11-27); what is the same for every row
# (the lookup, the asker, the time) is one ordinary parameter. The rows keep their order (ids
# are given in it). tests/fusion/test_fusion_lookup_equivalence.py checks the rows written.

def _rows_source(dialect: str, columns: tuple[tuple[str, Any], ...]) -> Any:
    """A subquery of the rows of the parameter(s) ``_rows_param`` makes, with these columns."""
    if dialect == "postgresql":
        arrays = [bindparam(f"rows_{name}", type_=ARRAY(type_)) for name, type_ in columns]
        return func.unnest(*arrays).table_valued(*(name for name, _t in columns)).render_derived()
    j = func.json_each(bindparam("rows", type_=Text)).table_valued("value", "key")
    return select(*(func.json_extract(j.c.value, f"$[{i}]").label(name) for i, (name, _t) in enumerate(columns))
                  ).order_by(j.c.key).subquery()


def _rows_param(dialect: str, columns: tuple[tuple[str, Any], ...], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    if dialect == "postgresql":
        return {f"rows_{name}": [r[i] for r in rows] for i, (name, _t) in enumerate(columns)}
    return {"rows": json.dumps(rows, ensure_ascii=False)}


_HIT_COLUMNS = (("lookup_id", Integer()), ("kind", Text()), ("value", Text()), ("answer", Text()),
                ("refs", Text()))


def add_lookup_hits(session: Session, rows: list[tuple[int, str, str, str, str]]) -> None:
    """The values of lookups that hit: (lookup id, kind, value, answer, references as JSON text)
    each; one statement for the rows of every lookup given (a group writer's batch)."""
    if rows:
        dialect = _dialect(session)
        session.execute(_hits_statement(dialect), _rows_param(dialect, _HIT_COLUMNS, rows))


@lru_cache(maxsize=2)
def _hits_statement(dialect: str) -> Any:
    t = LookupHit.__table__
    src = _rows_source(dialect, _HIT_COLUMNS)
    source = select(src.c.lookup_id, src.c.kind, src.c.value, src.c.answer,
                    cast(src.c.refs, t.c.references.type) if dialect == "postgresql" else src.c.refs)
    return insert(t).from_select(["lookup_id", "kind", "value", "answer", "references"], source)


_NOTIFICATION_COLUMNS = (("reference", Text()), ("owner_org_id", Integer()), ("kind", Text()), ("value", Text()),
                         ("object_ids", Text()), ("owner_label", Text()), ("asker_told", Text()))


def upsert_notifications(session: Session, rows: list[tuple[str, int, str, str, str, str, str]], *,
                         asker_org_id: int, asker_member_id: int, purpose: str, lookup_id: int,
                         now: datetime) -> dict[tuple[int, str, str], str]:
    """Raise new notifications or renew existing ones (one statement, safe under concurrent lookups);
    rows are (reference if new, owner, kind, value, the owner's object ids as JSON text, the owner
    as the asker may name it, what the asker was told); returns each row's reference keyed
    (owner, kind, value)."""
    if not rows:
        return {}
    dialect = _dialect(session)
    params = {"asker_org_id": asker_org_id, "asker_member_id": asker_member_id, "purpose": purpose,
              "lookup_id": lookup_id, "now": now}
    out: dict[tuple[int, str, str], str] = {}
    for chunk in _chunks(rows, 5000):
        out.update({(o, k, v): ref for o, k, v, ref in session.execute(
            _upsert_notifications_statement(dialect),
            params | _rows_param(dialect, _NOTIFICATION_COLUMNS, list(chunk)))})
    return out


@lru_cache(maxsize=2)
def _upsert_notifications_statement(dialect: str) -> Any:
    # Built once per dialect: ``excluded`` makes a proxy of every column, which cost more CPU
    # than the upsert of a one-value lookup itself.
    n = HitNotification.__table__.c
    src = _rows_source(dialect, _NOTIFICATION_COLUMNS)
    now = bindparam("now", type_=n.first_asked_at.type)
    source = select(src.c.reference, src.c.owner_org_id, bindparam("asker_org_id", type_=n.asker_org_id.type),
                    bindparam("asker_member_id", type_=n.asker_member_id.type), src.c.kind, src.c.value,
                    bindparam("purpose", type_=n.purpose.type), bindparam("lookup_id", type_=n.lookup_id.type),
                    cast(src.c.object_ids, n.object_ids.type) if dialect == "postgresql" else src.c.object_ids,
                    src.c.owner_label, src.c.asker_told, literal(1), now, now, literal("open"))
    # "WHERE true" keeps SQLite's parser from reading ON CONFLICT as a join constraint.
    source = source.where(literal(True))
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(HitNotification.__table__).from_select(
        ["reference", "owner_org_id", "asker_org_id", "asker_member_id", "kind", "value", "purpose", "lookup_id",
         "object_ids", "owner_label", "asker_told", "times_asked", "first_asked_at", "last_asked_at", "status"],
        source)
    stmt = stmt.on_conflict_do_update(
        index_elements=["owner_org_id", "asker_org_id", "kind", "value", "purpose"],
        set_={"times_asked": n.times_asked + 1, "last_asked_at": stmt.excluded.last_asked_at,
              "lookup_id": stmt.excluded.lookup_id, "asker_member_id": stmt.excluded.asker_member_id,
              "owner_label": stmt.excluded.owner_label, "asker_told": stmt.excluded.asker_told,
              "object_ids": stmt.excluded.object_ids})
    return stmt.returning(n.owner_org_id, n.kind, n.value, n.reference)


def add_all(session: Session, rows: Iterable[Any]) -> None:
    session.add_all(list(rows))
    session.flush()


def owner_inbox(session: Session, *, owner_org_id: int, status: str | None, after_id: int | None,
                limit: int) -> list[tuple[HitNotification, Organisation, Member]]:
    q = (select(HitNotification, Organisation, Member)
         .join(Organisation, Organisation.id == HitNotification.asker_org_id)
         .join(Member, Member.id == HitNotification.asker_member_id)
         .where(HitNotification.owner_org_id == owner_org_id))
    if status:
        q = q.where(HitNotification.status == status)
    if after_id:
        q = q.where(HitNotification.id < after_id)
    return [tuple(r) for r in session.execute(q.order_by(HitNotification.id.desc()).limit(limit))]


def asker_sent(session: Session, *, asker_org_id: int, after_id: int | None,
               limit: int) -> list[HitNotification]:
    """What the asker may see of its own hits: those it was told about, and owners' answers that
    chose to reveal themselves; never a hit it was answered "no_hit" for and that stayed so."""
    q = select(HitNotification).where(
        HitNotification.asker_org_id == asker_org_id,
        or_(HitNotification.asker_told != "no_hit", HitNotification.decision.in_(("share", "contact"))))
    if after_id:
        q = q.where(HitNotification.id < after_id)
    return list(session.scalars(q.order_by(HitNotification.id.desc()).limit(limit)))


def notification_by_reference(session: Session, reference: str) -> HitNotification | None:
    return session.scalar(select(HitNotification).where(HitNotification.reference == reference))






# --- watchlists -----------------------------------------------------------------------------------

def watchlists_for(session: Session, *, org_id: int, member_id: int) -> list[Watchlist]:
    """The member's own watchlists and its organisation's."""
    return list(session.scalars(select(Watchlist).where(
        Watchlist.organisation_id == org_id,
        or_(Watchlist.scope == "organisation", Watchlist.member_id == member_id)).order_by(Watchlist.id)))


def watchlist(session: Session, watchlist_id: int) -> Watchlist | None:
    return session.get(Watchlist, watchlist_id)


def items_of(session: Session, watchlist_ids: Iterable[int]) -> list[WatchItem]:
    ids = sorted(set(watchlist_ids))
    if not ids:
        return []
    return list(session.scalars(select(WatchItem).where(WatchItem.watchlist_id.in_(ids)).order_by(WatchItem.id)))


def watch_item(session: Session, item_id: int) -> WatchItem | None:
    return session.get(WatchItem, item_id)


def delete_row(session: Session, row: Any) -> None:
    session.delete(row)
    session.flush()


def active_watch_items(session: Session) -> list[tuple[WatchItem, Watchlist]]:
    return [tuple(r) for r in session.execute(
        select(WatchItem, Watchlist).join(Watchlist, Watchlist.id == WatchItem.watchlist_id)
        .where(Watchlist.active.is_(True)).order_by(WatchItem.id))]






def keyword_objects(session: Session, *, contribution_id: str,
                    keywords: Sequence[str]) -> list[tuple[int, str, str, str, int]]:
    """(pk, stix_id, type, search_text, handling_id) of the contribution's objects mentioning a keyword."""
    if not keywords:
        return []
    q = (select(StixObject.pk, StixObject.stix_id, StixObject.type, StixObject.search_text, StixObject.handling_id)
         .where(StixObject.contribution_id == contribution_id,
                or_(*(StixObject.search_text.like(f"%{k}%", escape="\\") for k in keywords))))
    return [tuple(r) for r in session.execute(q)]


def readable_pks(session: Session, *, viewer: Viewer, purpose: str, table: str, pks: Sequence[int]) -> set[int]:
    """Which of these rows (observables, or "objects") the viewer may read for the purpose."""
    t = StixObject if table == "objects" else TABLES[table]
    out: set[int] = set()
    for chunk in _chunks(sorted(set(pks)), 500):
        out.update(session.scalars(select(t.pk).where(t.pk.in_(chunk), readable(viewer, purpose, t))))
    return out


def count_readable_objects(session: Session, *, viewer: Viewer, purpose: str, contribution_id: str) -> int:
    return session.scalar(select(func.count()).select_from(StixObject).where(
        StixObject.contribution_id == contribution_id, objects_readable(viewer, purpose))) or 0


# --- alerts ---------------------------------------------------------------------------------------

def insert_alerts(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert, skipping duplicates (same recipient and dedup key); returns how many were new."""
    if not rows:
        return 0
    stmt = (conflict_insert(session, Alert).on_conflict_do_nothing(index_elements=["recipient", "dedup_key"])
            .returning(Alert.id))
    return sum(len(session.execute(stmt, list(chunk)).all()) for chunk in _chunks(rows, 2000))


def inbox(session: Session, *, viewer: Viewer, purpose: str, recipients: Sequence[str], unread: bool,
          after_id: int | None, limit: int) -> list[Alert]:
    q = select(Alert).where(Alert.recipient.in_(list(recipients)), readable(viewer, purpose, Alert))
    if unread:
        q = q.where(Alert.read_at.is_(None))
    if after_id:
        q = q.where(Alert.id < after_id)
    return list(session.scalars(q.order_by(Alert.id.desc()).limit(limit)))


def mark_read(session: Session, *, ids: Sequence[int], recipients: Sequence[str], now: datetime) -> int:
    result = session.execute(update(Alert).where(Alert.id.in_(list(ids)), Alert.recipient.in_(list(recipients)),
                                                 Alert.read_at.is_(None)).values(read_at=now))
    return result.rowcount or 0


def unbatched_alerts(session: Session, *, before: datetime, limit: int = 50_000) -> list[tuple[Alert, Watchlist]]:
    return [tuple(r) for r in session.execute(
        select(Alert, Watchlist).join(Watchlist, Watchlist.id == Alert.watchlist_id)
        .where(Alert.batched_at.is_(None), Alert.created_at <= before)
        .order_by(Alert.recipient, Alert.id).limit(limit))]


def readable_alert_ids(session: Session, *, viewer: Viewer, purpose: str, ids: Sequence[int],
                       now: datetime | None = None) -> set[int]:
    out: set[int] = set()
    for chunk in _chunks(sorted(set(ids)), 500):
        out.update(session.scalars(select(Alert.id).where(Alert.id.in_(chunk),
                                                          readable(viewer, purpose, Alert, now=now))))
    return out


def set_batched(session: Session, ids: Sequence[int], now: datetime) -> None:
    for chunk in _chunks(sorted(set(ids)), 500):
        session.execute(update(Alert).where(Alert.id.in_(chunk)).values(batched_at=now))


def last_delivery_at(session: Session, recipients: Sequence[str]) -> dict[str, datetime]:
    if not recipients:
        return {}
    return {r: at for r, at in session.execute(
        select(Delivery.recipient, func.max(Delivery.created_at)).where(Delivery.recipient.in_(list(recipients)))
        .group_by(Delivery.recipient))}


def deliveries_due(session: Session, *, now: datetime, limit: int) -> list[Delivery]:
    q = (select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
         .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    return list(session.scalars(for_update(session, q, skip_locked=True)))


def deliveries(session: Session, *, status: str | None, limit: int) -> list[Delivery]:
    q = select(Delivery)
    if status:
        q = q.where(Delivery.status == status)
    return list(session.scalars(q.order_by(Delivery.id.desc()).limit(limit)))


def delivery(session: Session, delivery_id: int) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def org_members(session: Session, org_id: int) -> list[Member]:
    return list(session.scalars(select(Member).where(Member.organisation_id == org_id, Member.active.is_(True))))


def members_by_ids(session: Session, ids: Iterable[int]) -> dict[int, Member]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(ids)))}
