"""All SQL of the intelligence store. Every query that returns intelligence takes the
viewer and the purpose and applies ``policy.readable_by``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import (JSON, Boolean, and_, bindparam, exists, false, func, insert, literal_column, or_, select,
                        text, tuple_, union, union_all)
from sqlalchemy.orm import Session, aliased

from cyberfusion.db import UTCDateTime, core, hold_write_lock
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.kit.timeutil import sqlite_datetime
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing import policy
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer


def objects_readable(viewer: Viewer, purpose: str, table: Any = StixObject, **kw: Any) -> Any:
    return policy.readable_by(viewer, purpose, contribution_col=table.contribution_id,
                              handling_col=table.handling_id, org_col=table.organisation_id, **kw)


def observables_readable(viewer: Viewer, purpose: str, **kw: Any) -> Any:
    return policy.readable_by(viewer, purpose, contribution_col=Observable.contribution_id,
                              handling_col=Observable.handling_id, org_col=Observable.organisation_id, **kw)


# One alias for every "newer version" test: its columns are then the same objects at each call,
# so "newer version" tests can be built once per viewer (_latest_only_now).
_NEWER = aliased(StixObject, name="newer")


def latest_only(viewer: Viewer, purpose: str, **kw: Any) -> Any:
    """No newer version of the same object is readable by this viewer (every "latest versions" read:
    intel, web, AI; TAXII chooses among first/last/all itself)."""
    return _latest_only_now(viewer, purpose) if not kw else _no_newer(objects_readable(viewer, purpose, _NEWER, **kw))


@lru_cache(maxsize=1024)
def _latest_only_now(viewer: Viewer, purpose: str) -> Any:
    """``latest_only`` at the time each statement runs, built once per viewer and purpose (see
    policy.readable_by)."""
    return _no_newer(objects_readable(viewer, purpose, _NEWER))


def _no_newer(newer_readable: Any) -> Any:
    # A row alone of its id (has_siblings false, migration 0002) has no newer version: the seek
    # into the other rows of the id is skipped for it.
    return or_(StixObject.has_siblings == false(),
               ~exists().where(_NEWER.stix_id == StixObject.stix_id, _NEWER.modified > StixObject.modified,
                               newer_readable))


# --- writes ------------------------------------------------------------------------------------

def handling_by_digest(session: Session, digest: str) -> Handling | None:
    return session.scalar(select(Handling).where(Handling.digest == digest))


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def contribution(session: Session, contribution_id: str) -> Contribution:
    return session.get_one(Contribution, contribution_id)


def contribution_by_digest(session: Session, *, org_id: int, digest: str, now: datetime) -> Contribution | None:
    """The organisation's contribution of this very file, if one is still in force."""
    return session.scalar(select(Contribution).where(Contribution.organisation_id == org_id,
                                                     Contribution.digest == digest,
                                                     policy.contributions_in_force(now)).limit(1))


def _existing_versions(in_ids: Any) -> Any:
    return (select(StixObject.stix_id, StixObject.modified, StixObject.contribution_id,
                   policy.contributions_in_force(bindparam("now", type_=UTCDateTime())))
            .join(Contribution, Contribution.id == StixObject.contribution_id)
            .where(StixObject.organisation_id == bindparam("org_id"), in_ids))


# SQLite: the ids as one JSON array parameter, read by json_each (the same index seeks per id, plan
# tested in tests/intel/test_repository_insert.py): an IN list of the importer's 2,000 ids per
# batch was 2,000 bound parameters for SQLAlchemy to coerce, render and process on every call,
# ~5-13 ms of CPU per batch against ~2 ms this way. Built once: building the statement for each
# batch was a third of the call (py-spy, 100k import, 2026-11-28).
_EXISTING_VERSIONS_JSON = _existing_versions(
    StixObject.stix_id.in_(text("SELECT value FROM json_each(:held_ids)")))
_EXISTING_VERSIONS_IN = _existing_versions(StixObject.stix_id.in_(bindparam("held_ids", expanding=True)))


def existing_versions(session: Session, *, org_id: int, keys: Sequence[tuple[str, datetime]],
                      now: datetime) -> dict[tuple[str, datetime], tuple[str, bool]]:
    """Which (stix_id, modified) versions this organisation already holds: for each, the holding
    contribution and whether that contribution is still in force (retention not yet reached)."""
    if not keys:
        return {}
    ids = sorted({k[0] for k in keys})
    if session.get_bind().dialect.name == "sqlite":
        statement, held_ids = _EXISTING_VERSIONS_JSON, json.dumps(ids)
    else:
        statement, held_ids = _EXISTING_VERSIONS_IN, ids
    rows = core(session).execute(statement, {"org_id": org_id, "held_ids": held_ids, "now": now})
    return {(r[0], r[1]): (r[2], bool(r[3])) for r in rows}


# Core inserts on the tables, not ORM bulk inserts: measured 1.26x faster, and one executemany
# per batch instead of a statement per run of rows that happen to share the same columns.
# Rows are dicts with the same keys, or tuples in the order of ``columns`` (the importer's rows).
# Rows whose values are SQLite's already (the ingest worker's): insert_converted.
def insert_objects(session: Session, rows: Sequence[Any], *, columns: Sequence[str] | None = None) -> None:
    insert_many(session, StixObject.__table__, rows, columns)


def insert_observables(session: Session, rows: Sequence[Any], *, columns: Sequence[str] | None = None) -> None:
    insert_many(session, Observable.__table__, rows, columns)


def insert_converted(session: Session, *, objects: list[Any], object_columns: Sequence[str],
                     observables: list[Any], observable_columns: Sequence[str]) -> None:
    """SQLite: object and observable rows whose values are SQLite's already (the ingest worker's
    rows, ingest.rows.prepare for SQLite), each given as one flat list of values, the columns of
    one row after the other. Stores what insert_objects/insert_observables store for the same rows
    unconverted (tests/intel/test_repository_insert.py); no per-row tuples, and no turning rows
    into columns and back, which insert_many spends ~3 passes over every value on."""
    _insert_flat(session, StixObject.__table__, objects, object_columns)
    _insert_flat(session, Observable.__table__, observables, observable_columns)


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    row_sql = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row_sql] * rows)


def _insert_flat(session: Session, table: Any, values: list[Any], columns: Sequence[str]) -> None:
    if not values:
        return
    width = len(columns)
    columns = tuple(columns)
    connection = session.connection()
    # As many rows per INSERT as SQLite's limit on bound variables allows (see insert_many).
    step = max(1, _sqlite_variable_limit(connection.connection.dbapi_connection) // width) * width
    for start in range(0, len(values), step):
        params = tuple(values[start:start + step])
        connection.exec_driver_sql(_insert_sql(table.name, columns, len(params) // width), params)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """What UTCDateTime + SQLAlchemy's SQLite DATETIME store, byte for byte
    ("YYYY-MM-DD HH:MM:SS.ffffff")."""
    return None if value is None else sqlite_datetime(value)


def _sqlite_json(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's JSON type on SQLite: json.dumps, None as 'null'


_JSON_NULL = _sqlite_json(None)


def _memo_json(values: list[Any]) -> list[str]:
    """_sqlite_json of each value; None and lists of strings (labels: a feed repeats a few) are
    converted once per distinct value. json.dumps cost 3 µs a call, 60 ms per 20,000 objects'
    labels; this 22 ms."""
    seen: dict[tuple[str, ...], str] = {}
    out = []
    for v in values:
        if v is None:
            out.append(_JSON_NULL)
        elif type(v) is list and all(type(x) is str for x in v):
            key = tuple(v)
            text_ = seen.get(key)
            if text_ is None:
                text_ = seen[key] = _sqlite_json(v)
            out.append(text_)
        else:
            out.append(_sqlite_json(v))
    return out


def _sqlite_bool(value: Any) -> int | None:
    return None if value is None else int(bool(value))


_MISSING: Any = object()


def _memo_datetimes(values: list[datetime | None], seen: dict[datetime | None, str | None]) -> list[str | None]:
    """_sqlite_datetime of each value, each distinct instant converted once (``seen``, shared by the
    batch's columns): a batch repeats many (date_added is one value; an indicator's created,
    modified and valid_from are often equal)."""
    out = []
    for v in values:
        text_ = seen.get(v, _MISSING)
        if text_ is _MISSING:
            # A str is SQLite's text already (the ingest worker's rows: ingest.rows.with_sqlite_times).
            text_ = seen[v] = v if type(v) is str else _sqlite_datetime(v)
        out.append(text_)
    return out


def insert_many(session: Session, table: Any, rows: Sequence[Any], columns: Sequence[str] | None = None) -> None:
    """Insert a batch of rows that all have the same keys (dicts), or tuples of ``columns``
    (the bulk inserts of imports: objects, observables, correlation terms).

    On SQLite the rows go to the driver directly, converted here as the column types would
    (a str in a UTCDateTime column is taken as SQLite's text already, as read back raw):
    SQLAlchemy's per-value type processing was 24% of import CPU (cProfile, 20k indicators),
    more than SQLite's own work. PostgreSQL keeps the Core path (psycopg binds natively).
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        session.execute(insert(table), rows if columns is None else [dict(zip(columns, r)) for r in rows])
        return
    # Column by column: one conversion function per column over a list (0.14 s -> 0.07 s of
    # CPU for 20,000 object rows, against per-row loops over the converters).
    names = list(rows[0]) if columns is None else list(columns)
    values: list[Any] = ([[row[name] for row in rows] for name in names] if columns is None
                         else [list(c) for c in zip(*rows)])
    seen: dict[datetime | None, str | None] = {None: None}
    for i, name in enumerate(names):
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            values[i] = _memo_datetimes(values[i], seen)
        elif isinstance(column_type, JSON):
            values[i] = _memo_json(values[i])
        elif isinstance(column_type, Boolean):
            values[i] = list(map(_sqlite_bool, values[i]))
    # Many rows per INSERT statement rather than executemany (one statement per row): the
    # search index's FTS5 table (migration 0900, kept by an AFTER INSERT trigger) writes its
    # pending postings out as a new segment at the end of every statement, so one row per
    # statement cost ~60 µs of segment writing and merging per row (1.7 s CPU for 20,000
    # objects against 0.7 s this way, the trigger and its index unchanged).
    _insert_flat(session, table, list(chain.from_iterable(zip(*values))), names)


def _sqlite_variable_limit(raw: Any) -> int:
    """Bound parameters one SQLite statement may take (32,766 since SQLite 3.32, 999 before)."""
    return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


# --- free-text search --------------------------------------------------------------------------

INDEXED_MIN_CHARS = 3  # the trigram indexes find nothing shorter
# Up to this many candidate rows from the index are filtered exactly. More means a frequent text:
# the plain query then costs about the same (SQLite, measured at 1M) or less (PostgreSQL walks
# the (date_added, pk) index and stops at a page; fetching the candidates cost 17 ms at 200k).
TEXT_CANDIDATES_MAX = 2000


def text_or_values_match(session: Session, *, viewer: Viewer, purpose: str, text: str | None,
                         values: Sequence[tuple[str, str]] = ()) -> Any | None:
    """Condition of a search: one of the object's readable observables is among ``values``, or
    its search text contains ``text`` (case-insensitive, a literal substring: % _ and quotes
    are plain characters). None when neither is given.

    Without an index the substring test reads every stored version (a rare text: 0.8 s CPU at
    1M objects on SQLite, 11 ms with the index; benchmarks/search.py). From 3 characters on, the trigram index (migration 0900) is asked
    for the rows that may contain the text; when those are few the condition names them, so
    the query reads only them. The exact test stays in the condition either way: the index
    only narrows, it never decides. With values as well, the two sets of row ids are united
    in a subquery: as an OR, SQLite walked every row of the readable contributions instead.
    """
    by_value = StixObject.stix_id.in_(
        # (value, kind): the order of ix_observables_value. In the other order SQLite could not use
        # that index for the row-value IN and walked the observables of every readable
        # contribution instead (345 ms for one domain at 200k objects; 1 ms now).
        select(Observable.stix_id).where(tuple_(Observable.value, Observable.kind).in_([(v, k) for k, v in values]),
                                         observables_readable(viewer, purpose))) if values else None
    if not text:
        return by_value
    needle = text.lower()
    exact = StixObject.search_text.contains(needle, autoescape=True)  # % and _ literal
    pks = None
    if len(needle) >= INDEXED_MIN_CHARS and "\x00" not in needle:  # FTS5 strings cannot hold NUL
        pks = _text_candidates(session, needle, TEXT_CANDIDATES_MAX + 1)
    if pks is None or len(pks) > TEXT_CANDIDATES_MAX:
        return exact if by_value is None else or_(by_value, exact)
    by_text = and_(StixObject.pk.in_(pks), exact) if pks else false()
    if by_value is None:
        return by_text
    return StixObject.pk.in_(union(select(StixObject.pk).where(by_value), select(StixObject.pk).where(by_text)))


def _text_candidates(session: Session, needle: str, limit: int) -> list[int]:
    """Row ids whose search text may contain ``needle``: a superset of the exact matches."""
    if session.get_bind().dialect.name == "sqlite":
        # The needle as one FTS5 string (its own quotes doubled): every character literal, and
        # the trigram tokenizer turns it into a phrase of consecutive trigrams (case-folded).
        phrase = '"' + needle.replace('"', '""') + '"'
        indexed = (select(literal_column("rowid")).select_from(text("stix_objects_search"))
                   .where(text("stix_objects_search MATCH :q").bindparams(q=phrase)))
        # The rows the job has not indexed yet (above the watermark) are tested directly, in the
        # same statement: one snapshot, so a job step committing meanwhile cannot hide any row.
        not_yet = select(StixObject.pk).where(StixObject.pk > _SEARCH_INDEXED_THROUGH,
                                              StixObject.search_text.contains(needle, autoescape=True))
        return list(session.scalars(union_all(indexed, not_yet).limit(limit)))
    # PostgreSQL: LIKE (as exact as the final test) is answered from the GIN trigram index
    return list(session.scalars(select(StixObject.pk).where(
        StixObject.search_text.contains(needle, autoescape=True)).limit(limit)))


# --- search index upkeep (SQLite) -----------------------------------------------------------------

# Migration 0901: the FTS5 index holds exactly the rows up to this pk; the rows above it are
# indexed by the search.index job (intel.search_index) and, until then, tested directly.
_SEARCH_INDEXED_THROUGH = text("(SELECT indexed_through FROM search_index_state)")


def search_index_deferred(session: Session) -> bool:
    """Whether imported rows wait for the search.index job (SQLite) or are indexed by the
    database as they are inserted (PostgreSQL's GIN index)."""
    return session.get_bind().dialect.name == "sqlite"


def search_index_lag(session: Session) -> int:
    """Rows stored but not yet in the search index (0 on PostgreSQL)."""
    if not search_index_deferred(session):
        return 0
    return session.scalar(select(func.count()).select_from(StixObject).where(
        StixObject.pk > _SEARCH_INDEXED_THROUGH)) or 0


def index_search_rows(session: Session, *, limit: int) -> tuple[int, bool]:
    """SQLite: add the next ``limit`` rows above the watermark to the search index and move the
    watermark past them, in the caller's transaction (which holds the write lock from here on).
    Returns (rows indexed, whether none are left)."""
    if not search_index_deferred(session):
        return 0, True
    hold_write_lock(session)  # the watermark read below must not change before it is moved
    after = session.scalar(text("SELECT indexed_through FROM search_index_state"))
    pks = list(session.scalars(select(StixObject.pk).where(StixObject.pk > after)
                               .order_by(StixObject.pk).limit(limit + 1)))
    if not pks:
        return 0, True
    upto = pks[min(limit, len(pks)) - 1]
    # One statement for the whole step: FTS5 writes one segment per statement (see insert_rows).
    session.execute(text("INSERT INTO stix_objects_search(rowid, search_text) "
                         "SELECT pk, search_text FROM stix_objects WHERE pk > :after AND pk <= :upto"),
                    {"after": after, "upto": upto})
    session.execute(text("UPDATE search_index_state SET indexed_through = :upto"), {"upto": upto})
    return min(limit, len(pks)), len(pks) <= limit


# --- reads (policy-filtered) -------------------------------------------------------------------

def search_objects(session: Session, *, viewer: Viewer, purpose: str, text: str | None,
                   values: Sequence[tuple[str, str]] = (), types: Sequence[str] = (),
                   since: datetime | None = None, until: datetime | None = None,
                   source_kinds: Sequence[str] = (), after: tuple[datetime, int] | None = None,
                   limit: int = 50) -> list[StixObject]:
    """Latest readable versions matching the query, newest first, keyset-paged on (date_added, pk)."""
    q = select(StixObject).where(objects_readable(viewer, purpose), latest_only(viewer, purpose))
    match = text_or_values_match(session, viewer=viewer, purpose=purpose, text=text, values=values)
    if match is not None:
        q = q.where(match)
    if types:
        q = q.where(StixObject.type.in_(list(types)))
    if since:
        q = q.where(StixObject.modified >= since)
    if until:
        q = q.where(StixObject.modified < until)
    if source_kinds:
        q = q.where(StixObject.organisation_id.in_(
            select(Organisation.id).where(Organisation.kind.in_(list(source_kinds)))))
    if after:
        q = q.where(tuple_(StixObject.date_added, StixObject.pk) < tuple_(*after))
    q = q.order_by(StixObject.date_added.desc(), StixObject.pk.desc()).limit(limit)
    return list(session.scalars(q))


def versions(session: Session, *, viewer: Viewer, purpose: str, stix_id: str) -> list[StixObject]:
    return list(session.scalars(select(StixObject).where(
        StixObject.stix_id == stix_id, objects_readable(viewer, purpose))
        .order_by(StixObject.modified.desc(), StixObject.pk)))


def relationships_of(session: Session, *, viewer: Viewer, purpose: str, stix_id: str,
                     limit: int = 500) -> list[StixObject]:
    return list(session.scalars(select(StixObject).where(
        or_(StixObject.source_ref == stix_id, StixObject.target_ref == stix_id),
        objects_readable(viewer, purpose), latest_only(viewer, purpose))
        .order_by(StixObject.type, StixObject.modified.desc()).limit(limit)))


# Built once (the ids are an "expanding" parameter): a hit lookup reads both for one value,
# and building the statement cost about as much CPU as running it.
_CONTRIBUTIONS_WITH_OWNER = (select(Contribution, Organisation, Handling)
                             .join(Organisation, Contribution.organisation_id == Organisation.id)
                             .join(Handling, Contribution.handling_id == Handling.id)
                             .where(Contribution.id.in_(bindparam("ids", expanding=True))))
_HANDLINGS = select(Handling).where(Handling.id.in_(bindparam("ids", expanding=True)))


def contributions_with_owner(session: Session, ids: Iterable[str]) -> list[tuple[Contribution, Organisation, Handling]]:
    ids = sorted(set(ids))
    if not ids:
        return []
    return list(session.execute(_CONTRIBUTIONS_WITH_OWNER, {"ids": ids}))


def handlings(session: Session, ids: Iterable[int]) -> dict[int, Handling]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {h.id: h for h in session.scalars(_HANDLINGS, {"ids": ids})}


def iter_readable_objects(session: Session, *, viewer: Viewer, purpose: str,
                          contribution_id: str | None = None, types: Sequence[str] = (),
                          since: datetime | None = None, disseminate: bool = False,
                          batch: int = 2000) -> Iterator[StixObject]:
    """Stream the latest readable versions in (date_added, pk) order, batch by batch."""
    last: tuple[datetime, int] | None = None
    while True:
        q = select(StixObject).where(objects_readable(viewer, purpose, disseminate=disseminate),
                                     latest_only(viewer, purpose, disseminate=disseminate))
        if contribution_id:
            q = q.where(StixObject.contribution_id == contribution_id)
        if types:
            q = q.where(StixObject.type.in_(list(types)))
        if since:
            q = q.where(StixObject.date_added >= since)
        if last:
            q = q.where(tuple_(StixObject.date_added, StixObject.pk) > tuple_(*last))
        rows = list(session.scalars(q.order_by(StixObject.date_added, StixObject.pk).limit(batch)))
        if not rows:
            return
        yield from rows
        last = (rows[-1].date_added, rows[-1].pk)
        session.expunge_all()


def readable_observables(session: Session, *, viewer: Viewer, purpose: str, kinds: Sequence[str] = (),
                         disseminate: bool = False) -> Iterator[tuple[str, str]]:
    """Distinct (kind, value) pairs the viewer may read, in value order (for blocklists)."""
    q = select(Observable.kind, Observable.value).where(
        observables_readable(viewer, purpose, disseminate=disseminate)).distinct()
    if kinds:
        q = q.where(Observable.kind.in_(list(kinds)))
    yield from session.execute(q.order_by(Observable.kind, Observable.value))


def count_readable(session: Session, *, viewer: Viewer, purpose: str) -> int:
    return session.scalar(select(func.count()).select_from(StixObject).where(
        objects_readable(viewer, purpose), latest_only(viewer, purpose))) or 0


def observable_stats(session: Session, *, viewer: Viewer, purpose: str) -> list[dict[str, Any]]:
    """Per observable kind: values and how many distinct organisations contributed them."""
    rows = session.execute(select(Observable.kind, func.count(func.distinct(Observable.value)),
                                  func.count(func.distinct(Observable.organisation_id)))
                           .where(observables_readable(viewer, purpose)).group_by(Observable.kind))
    return [{"kind": k, "values": v, "sources": s} for k, v, s in rows]


# --- retention -----------------------------------------------------------------------------------

def contributions_due(session: Session, *, now: datetime, status: str = "active") -> list[Contribution]:
    return list(session.scalars(select(Contribution).where(
        Contribution.status == status,
        or_(Contribution.review_at <= now, and_(Contribution.expires_at.is_not(None),
                                                Contribution.expires_at <= now)))))


def contributions_to_notify(session: Session, *, before: datetime) -> list[Contribution]:
    return list(session.scalars(select(Contribution).where(
        Contribution.status == "active", Contribution.review_notified_at.is_(None),
        Contribution.review_at <= before)))


def hidden_before(session: Session, *, cutoff: datetime) -> list[Contribution]:
    return list(session.scalars(select(Contribution).where(
        Contribution.status == "hidden", Contribution.hidden_at <= cutoff)))


def delete_contribution_rows(session: Session, contribution_id: str) -> tuple[int, int]:
    from sqlalchemy import delete
    o = session.execute(delete(Observable).where(Observable.contribution_id == contribution_id)).rowcount
    s = session.execute(delete(StixObject).where(StixObject.contribution_id == contribution_id)).rowcount
    return s, o


# --- ingest ordering -----------------------------------------------------------------------------

_INGEST_LOCK = 7304200  # pg_advisory_xact_lock key of every ingest
_ONE_MICROSECOND = timedelta(microseconds=1)


# SQLite page cache of an import's connection while it runs, in KiB. With the default 2 MiB the
# random-key indexes (stix_id, the version key, observable values) outgrow the cache after a few
# tens of thousands of objects, and inserts spill and re-read pages through the WAL: a
# 50,000-indicator import took 5.32 s CPU at 2 MiB, 4.89 s at 64 MiB (best of 3, interleaved,
# busy machine; the inserts alone 2.3-2.6 s -> 1.7-1.9 s). Pages are only taken as needed.
IMPORT_CACHE_KIB = 64 * 1024


@contextmanager
def import_page_cache(session: Session) -> Iterator[None]:
    """SQLite: the import's connection gets a page cache of IMPORT_CACHE_KIB until the import
    ends, then its own size back (pages the import dirtied stay until the caller commits)."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    raw = session.connection().connection.dbapi_connection
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    kib = max(IMPORT_CACHE_KIB, -before if before < 0 else 0)  # never smaller than it was (in KiB)
    raw.execute(f"PRAGMA cache_size = {-kib}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def lock_ingest(session: Session) -> None:
    """Serialise ingests until commit (taken before the first write of an import's transaction).

    With ``ingest_clock`` this makes date_added follow commit order, so a client paging or
    polling with added_after (TAXII, /api/v1) never skips rows committed after it read past
    their time; it also makes the "same file again" check of concurrent imports exact.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({_INGEST_LOCK})"))
    else:
        hold_write_lock(session)  # SQLite's one writer lock, taken now instead of at the first insert


def ingest_clock(session: Session, now: datetime) -> datetime:
    """A date_added later than every stored one (clocks of several servers may disagree)."""
    latest = session.scalar(select(func.max(StixObject.date_added)))
    if latest is not None and latest >= now:
        return latest + _ONE_MICROSECOND
    return now
