"""All SQL of the TAXII server and the collectors.

Every query that returns intelligence applies ``intel.repository.objects_readable`` (the
policy gate) and, on top of it, the collection's membership filter. Choosing which
version(s) of an object to serve (first, last, duplicates held by several organisations)
looks only at rows that pass both filters, so nothing the viewer may not read can
influence what it is served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (BindParameter, Integer, Text, TypeDecorator, and_, bindparam, delete, exists, false, func, or_,
                        select, true, type_coerce, update)
from sqlalchemy.orm import Session, aliased

from cyberfusion.db import UTCDateTime, for_update, utcnow
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.intel.repository import objects_readable
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.taxii.collections import Membership
from cyberfusion.taxii.models import Collector, CollectorItem, TaxiiCollection, TaxiiStatus



@dataclass(frozen=True, slots=True)
class VersionSel:
    """match[version]: any of first, last, all, and explicit version timestamps."""

    first: bool = False
    last: bool = False
    all: bool = False
    at: tuple[datetime, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """Filters of one TAXII read, already validated."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: VersionSel = VersionSel(last=True)
    spec_versions: tuple[str, ...] = ()
    added_after: datetime | None = None


def membership(m: Membership, viewer: Viewer, table: Any = StixObject) -> Any:
    """The collection's filter on ``table`` (StixObject or an alias of it)."""
    conds = []
    if m.own_only:
        conds.append(table.organisation_id == viewer.org_id)
    if m.tlp:
        conds.append(table.handling_id.in_(select(Handling.id).where(Handling.tlp.in_(m.tlp))))
    if m.categories:
        conds.append(table.contribution_id.in_(
            select(Contribution.id).where(Contribution.category.in_(m.categories))))
    if m.regions:
        conds.append(table.organisation_id.in_(select(Organisation.id).where(Organisation.region.in_(m.regions))))
        # A region would reveal the source of an anonymous contribution: only its owner sees it there.
        conds.append(or_(table.organisation_id == viewer.org_id,
                         table.handling_id.in_(select(Handling.id).where(Handling.attribution != "anonymous"))))
    if m.types:
        conds.append(table.type.in_(m.types))
    return and_(true(), *conds)


class _Now(BindParameter[datetime]):
    """The policy's "now" as a bound parameter, so that a built statement can be reused."""

    inherit_cache = True

    def __bool__(self) -> bool:  # policy.readable_by does `now or datetime.now(UTC)`
        return True


def _now_param() -> _Now:
    return _Now("now", type_=UTCDateTime(), required=True)


class _Unindexed:
    """StixObject's policy columns, with contribution_id hidden from SQLite's index choice.

    Without statistics SQLite would look rows up by the policy's contribution list and sort
    them; paging wants the (date_added, pk) index, whose order is the answer's order.
    """

    def __init__(self, table: Any) -> None:
        self.contribution_id = table.contribution_id.concat("")
        self.handling_id = table.handling_id
        self.organisation_id = table.organisation_id


def _visible(viewer: Viewer, purpose: str, m: Membership, shape: _Shape, table: Any, *,
             policy_table: Any = None) -> list[Any]:
    conds = [objects_readable(viewer, purpose, policy_table or table, now=_now_param()),
             membership(m, viewer, table)]
    if shape.spec_versions:
        conds.append(table.spec_version.in_(bindparam("specs", expanding=True)))
    return conds


def _version_filter(viewer: Viewer, purpose: str, m: Membership, shape: _Shape) -> Any:
    s = StixObject
    o = aliased(StixObject)
    same = [o.stix_id == s.stix_id, *_visible(viewer, purpose, m, shape, o)]
    # A row alone of its id (has_siblings false, migration 0002) is its id's first, last and only
    # version: the seek into the other rows of the id is skipped for it (at 1M objects the seek was
    # ~40% of a page's server CPU although almost every object has one row).
    alone = s.has_siblings == false()
    # The same version held by several organisations is served once: the earliest stored row.
    duplicate = exists().where(*same, o.modified == s.modified, o.pk < s.pk)
    first, last, every, at = shape.versions
    if every:
        return or_(alone, ~duplicate)
    conds = []
    # "A later version, or the same one stored earlier" as one range on (stix_id, modified) of
    # uq_stix_version_owner, refined by pk: the plain OR of the two became a MULTI-INDEX OR, two
    # seeks per row (EXPLAIN QUERY PLAN; tests/taxii/test_taxii_pagination.py).
    if last:
        conds.append(or_(alone, ~exists().where(*same, o.modified >= s.modified,
                                                 or_(o.modified > s.modified, o.pk < s.pk))))
    if first:
        conds.append(or_(alone, ~exists().where(*same, o.modified <= s.modified,
                                                 or_(o.modified < s.modified, o.pk < s.pk))))
    if at:
        conds.append(and_(s.modified.in_(bindparam("at", expanding=True, type_=UTCDateTime())),
                          or_(alone, ~duplicate)))
    return or_(*conds)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decides the SQL text of a page query (the values are bound per request)."""

    ids: bool
    types: bool
    versions: tuple[bool, bool, bool, bool]
    spec_versions: bool
    added_after: bool
    after: str  # "" (first page), "same" or "later" (see page)
    columns: str  # objects | manifest | feed | exists
    dialect: str


class _Passthrough(TypeDecorator[Any]):
    """A column read without conversion: the driver's own value (text on SQLite)."""

    impl = Text
    cache_ok = True


def as_utc(value: Any) -> datetime:
    """A timestamp read through ``_Passthrough``: SQLite's text or the driver's datetime, as aware UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


_STATEMENTS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_STATEMENTS_MAX = 512
_STATEMENTS_LOCK = threading.Lock()


def _columns(shape: _Shape) -> list[Any]:
    s = StixObject
    added = type_coerce(s.date_added, _Passthrough())
    if shape.columns == "objects":
        return [s.pk, added, s.stix_id, s.handling_id, s.data]
    if shape.columns == "manifest":
        return [s.pk, added, s.stix_id, s.modified, s.spec_version]
    if shape.columns == "feed":
        return [s.pk, added, s.stix_id, s.handling_id, s.data, s.contribution_id]
    return [s.pk]


def _statement(viewer: Viewer, purpose: str, m: Membership, shape: _Shape) -> Any:
    """The page query for this viewer, purpose, collection and filter shape, built once.

    Building the policy expression costs far more than running it; the statement is
    reused with fresh values (now, ids, cursor ...) bound at each execution. The viewer
    (every field of it) is part of the key, so nothing is shared between viewers.
    """
    key = (viewer, purpose, m, shape)
    with _STATEMENTS_LOCK:
        stmt = _STATEMENTS.get(key)
        if stmt is not None:
            _STATEMENTS.move_to_end(key)
            return stmt
    s = StixObject
    outer_policy = _Unindexed(s) if shape.dialect == "sqlite" and not shape.ids else None
    stmt = select(*_columns(shape)).where(*_visible(viewer, purpose, m, shape, s, policy_table=outer_policy),
                                          _version_filter(viewer, purpose, m, shape))
    if shape.ids:
        stmt = stmt.where(s.stix_id.in_(bindparam("ids", expanding=True)))
    if shape.types:
        stmt = stmt.where(s.type.in_(bindparam("types", expanding=True)))
    if shape.added_after:
        stmt = stmt.where(s.date_added > bindparam("added_after", type_=UTCDateTime()))
    if shape.after == "same":  # the rest of the cursor's date_added: an index seek on (date_added, pk)
        stmt = stmt.where(s.date_added == bindparam("after_ts", type_=UTCDateTime()),
                          s.pk > bindparam("after_pk", type_=Integer()))
    elif shape.after == "later":
        stmt = stmt.where(s.date_added > bindparam("after_ts", type_=UTCDateTime()))
    stmt = stmt.order_by(s.date_added, s.pk).limit(bindparam("lim", type_=Integer()))
    with _STATEMENTS_LOCK:
        _STATEMENTS[key] = stmt
        while len(_STATEMENTS) > _STATEMENTS_MAX:
            _STATEMENTS.popitem(last=False)
    return stmt


def page(session: Session, *, viewer: Viewer, purpose: str, m: Membership, q: Query,
         after: tuple[datetime, int] | None, limit: int, columns: str,
         now: datetime | None = None) -> list[Any]:
    """Up to ``limit`` rows in (date_added, pk) order after the cursor position.

    Rows by ``columns``: objects (pk, date_added, stix_id, handling_id, data), manifest
    (pk, date_added, stix_id, modified, spec_version), feed (objects + contribution_id) or
    exists (pk); date_added is raw
    (see ``as_utc``) because converting it on every row costs more than the query.
    """
    sel = q.versions
    shape = _Shape(ids=bool(q.ids), types=bool(q.types), versions=(sel.first, sel.last, sel.all, bool(sel.at)),
                   spec_versions=bool(q.spec_versions), added_after=q.added_after is not None,
                   after="", columns=columns, dialect=session.get_bind().dialect.name)
    params: dict[str, Any] = {"now": now or utcnow(), "lim": limit}
    if q.ids:
        params["ids"] = list(q.ids)
    if q.types:
        params["types"] = list(q.types)
    if sel.at:
        params["at"] = list(sel.at)
    if q.spec_versions:
        params["specs"] = list(q.spec_versions)
    if q.added_after is not None:
        params["added_after"] = q.added_after
    conn = session.connection()
    if after is None:
        return list(conn.execute(_statement(viewer, purpose, m, shape), params).all())
    # "(date_added, pk) > cursor" as two index seeks: the rows of the cursor's own date_added after its
    # pk, then later date_addeds. (SQLite would use only date_added of a row-value comparison, and one
    # import stores all its rows under one date_added: deep pages would rescan them.)
    params["after_ts"], params["after_pk"] = after
    rows = list(conn.execute(_statement(viewer, purpose, m, replace(shape, after="same")), params).all())
    if len(rows) < limit:
        params["lim"] = limit - len(rows)
        rows += conn.execute(_statement(viewer, purpose, m, replace(shape, after="later")), params).all()
    return rows


# Built once: building the select cost more than running it (a page's handling: 224 -> 100 us).
_HANDLINGS = select(Handling).where(Handling.id.in_(bindparam("ids", expanding=True)))


def handling_rows(session: Session, ids: Sequence[int]) -> dict[int, Handling]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {h.id: h for h in session.scalars(_HANDLINGS, {"ids": ids})}


def own_versions(session: Session, *, org_id: int, stix_id: str,
                 q: Query) -> list[tuple[int, datetime, str]]:
    """(pk, modified, contribution_id) of the organisation's own rows of an object."""
    s = StixObject
    stmt = select(s.pk, s.modified, s.contribution_id).where(s.stix_id == stix_id, s.organisation_id == org_id)
    if q.spec_versions:
        stmt = stmt.where(s.spec_version.in_(q.spec_versions))
    return [(r[0], r[1], r[2]) for r in session.execute(stmt.order_by(s.modified, s.pk))]


def delete_versions(session: Session, *, org_id: int, stix_id: str, pks: Sequence[int]) -> int:
    """Remove the organisation's own rows of one object and their observables index entries."""
    s = StixObject
    contributions = [r[0] for r in session.execute(select(s.contribution_id).where(s.pk.in_(list(pks))).distinct())]
    n = session.execute(delete(s).where(s.pk.in_(list(pks)), s.organisation_id == org_id)).rowcount
    remaining = select(s.modified).where(s.stix_id == stix_id, s.organisation_id == org_id)
    # Observables carry the object id, not the version: drop them once no version of it is left here.
    for cid in contributions:
        if session.execute(remaining.where(s.contribution_id == cid).limit(1)).first() is None:
            session.execute(delete(Observable).where(Observable.stix_id == stix_id,
                                                     Observable.contribution_id == cid,
                                                     Observable.organisation_id == org_id))
    return n


# --- status resources ----------------------------------------------------------------------------

def add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def status_by_id(session: Session, status_id: str) -> TaxiiStatus | None:
    return session.get(TaxiiStatus, status_id)


def purge_statuses(session: Session, *, before: datetime) -> int:
    """Delete the status resources of POSTs made before this time; returns how many."""
    return session.execute(delete(TaxiiStatus).where(TaxiiStatus.request_timestamp < before)).rowcount or 0


# --- custom collections --------------------------------------------------------------------------

def custom_collections(session: Session, *, enabled_only: bool = True) -> list[TaxiiCollection]:
    q = select(TaxiiCollection).order_by(TaxiiCollection.alias)
    if enabled_only:
        q = q.where(TaxiiCollection.enabled.is_(True))
    return list(session.scalars(q))


def collection_by_alias(session: Session, alias: str) -> TaxiiCollection | None:
    return session.scalar(select(TaxiiCollection).where(TaxiiCollection.alias == alias))


# --- collectors ------------------------------------------------------------------------------------

def collectors(session: Session) -> list[tuple[Collector, str]]:
    return [(c, name) for c, name in session.execute(
        select(Collector, Organisation.name).join(Organisation, Collector.organisation_id == Organisation.id)
        .order_by(Collector.name))]


def collector_by_name(session: Session, name: str) -> Collector | None:
    return session.scalar(select(Collector).where(Collector.name == name))


def claim_collectors(session: Session, *, owner: str, now: datetime, lease: timedelta,
                     names: Sequence[str] = (), due_only: bool = True, limit: int = 10) -> list[int]:
    """Lease collectors for a run: due (or named) ones whose lease is free or ran out."""
    free = or_(Collector.lease_until.is_(None), Collector.lease_until < now)
    pick = select(Collector.id).where(Collector.enabled.is_(True), free)
    if names:
        pick = pick.where(Collector.name.in_(list(names)))
    if due_only:
        pick = pick.where(Collector.next_run_at <= now)
    pick = pick.order_by(Collector.next_run_at, Collector.id).limit(limit)
    ids = list(session.scalars(for_update(session, pick, skip_locked=True)))
    if ids:
        session.execute(update(Collector).where(Collector.id.in_(ids)).values(
            lease_owner=owner, lease_until=now + lease, status="running", run_pages=0, run_objects=0, run_skipped=0,
            last_run_at=now))
    return ids


def collector_for_update(session: Session, collector_id: int, owner: str) -> Collector | None:
    """The collector row if this worker still holds its lease."""
    row = session.get(Collector, collector_id, populate_existing=True)
    return row if row is not None and row.lease_owner == owner else None


def collector_item(session: Session, collector_id: int, item: str) -> CollectorItem | None:
    return session.get(CollectorItem, (collector_id, item))


def collector_items(session: Session, collector_id: int) -> dict[str, tuple[int, str]]:
    return {i: (t, d) for i, t, d in session.execute(
        select(CollectorItem.item, CollectorItem.timestamp, CollectorItem.digest)
        .where(CollectorItem.collector_id == collector_id))}


def delete_collector(session: Session, collector: Collector) -> None:
    session.execute(delete(CollectorItem).where(CollectorItem.collector_id == collector.id))
    session.delete(collector)
    session.flush()


def next_collector_run(session: Session) -> datetime | None:
    """When the earliest enabled collector is due (None without any)."""
    return session.scalar(select(func.min(Collector.next_run_at)).where(Collector.enabled.is_(True)))
