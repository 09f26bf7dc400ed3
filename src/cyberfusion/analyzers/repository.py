"""All SQL of the analyzers package. Reads that return intelligence (inputs, runs) take the
viewer and the purpose and apply ``policy.readable_by``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from cyberfusion.analyzers.models import AnalyzerCache, AnalyzerConfig, AnalyzerRun
from cyberfusion.db import for_update
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.intel.repository import observables_readable
from cyberfusion.sharing import policy
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def runs_readable(viewer: Viewer, purpose: str, **kw: Any) -> Any:
    """A run is readable exactly when its input is: same contribution, handling and owner."""
    return policy.readable_by(viewer, purpose, contribution_col=AnalyzerRun.contribution_id,
                              handling_col=AnalyzerRun.handling_id, org_col=AnalyzerRun.organisation_id, **kw)


# --- inputs ------------------------------------------------------------------------------------

def inputs_for_value(session: Session, *, viewer: Viewer, purpose: str, kind: str, value: str,
                     limit: int) -> list[tuple[str, str, int, int]]:
    """(stix_id, contribution_id, handling_id, organisation_id): one readable holder per handling.

    Results of analyzers are not inputs: they hold the value only because it was analysed."""
    analyzer_results = select(Contribution.id).where(Contribution.source_format == "analyzer")
    rows = session.execute(
        select(func.min(Observable.stix_id), Observable.contribution_id, Observable.handling_id,
               Observable.organisation_id)
        .where(Observable.kind == kind, Observable.value == value, observables_readable(viewer, purpose),
               ~Observable.contribution_id.in_(analyzer_results))
        .group_by(Observable.contribution_id, Observable.handling_id, Observable.organisation_id)
        .order_by(Observable.contribution_id, Observable.handling_id).limit(limit))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def observables_of_version(session: Session, row: StixObject) -> list[tuple[str, str]]:
    """The indexed (kind, value) pairs of one stored object version (the caller has read it)."""
    return [(k, v) for k, v in session.execute(
        select(Observable.kind, Observable.value).where(
            Observable.stix_id == row.stix_id, Observable.contribution_id == row.contribution_id,
            Observable.handling_id == row.handling_id).distinct().order_by(Observable.kind, Observable.value))]


def contribution_observables(session: Session, *, contribution_id: str,
                             kinds: Sequence[str]) -> list[tuple[str, str, str, int]]:
    """(kind, value, stix_id, handling_id) of one contribution, one row per value and handling."""
    rows = session.execute(
        select(Observable.kind, Observable.value, func.min(Observable.stix_id), Observable.handling_id)
        .where(Observable.contribution_id == contribution_id, Observable.kind.in_(list(kinds)))
        .group_by(Observable.kind, Observable.value, Observable.handling_id)
        .order_by(Observable.kind, Observable.value))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def input_facts(session: Session, *, contribution_id: str, handling_id: int) -> tuple[Contribution, Handling]:
    contribution = session.get(Contribution, contribution_id)
    handling = session.get(Handling, handling_id)
    assert contribution is not None and handling is not None  # foreign keys
    return contribution, handling


# --- runs ------------------------------------------------------------------------------------

def open_run(session: Session, *, analyzer: str, version: str, kind: str, value: str, contribution_id: str,
             handling_id: int, requested_org_id: int) -> AnalyzerRun | None:
    """A queued or running run for the same analyzer, input and requesting organisation."""
    return session.scalar(select(AnalyzerRun).where(
        AnalyzerRun.analyzer == analyzer, AnalyzerRun.analyzer_version == version, AnalyzerRun.kind == kind,
        AnalyzerRun.value == value, AnalyzerRun.contribution_id == contribution_id,
        AnalyzerRun.handling_id == handling_id, AnalyzerRun.requested_org_id == requested_org_id,
        AnalyzerRun.status.in_(("queued", "running"))).limit(1))


def claim_queued(session: Session, *, limit: int, ids: Sequence[int] | None = None,
                 stale_before: datetime | None = None) -> list[AnalyzerRun]:
    """Queued runs (and runs a dead process left running), oldest first; other workers skip the
    rows taken here (PostgreSQL)."""
    waiting = AnalyzerRun.status == "queued"
    if stale_before is not None:
        waiting = or_(waiting, and_(AnalyzerRun.status == "running", AnalyzerRun.started_at < stale_before))
    q = select(AnalyzerRun).where(waiting)
    if ids is not None:
        q = q.where(AnalyzerRun.id.in_(list(ids)))
    q = q.order_by(AnalyzerRun.id).limit(limit)
    return list(session.scalars(for_update(session, q, skip_locked=True)))


def queued_among(session: Session, *, ids: Sequence[int]) -> list[int]:
    """Those of these runs still waiting in the queue (e.g. deferred by a rate limit)."""
    return list(session.scalars(select(AnalyzerRun.id).where(AnalyzerRun.id.in_(list(ids)),
                                                              AnalyzerRun.status == "queued")
                                .order_by(AnalyzerRun.id)))


def calls_since(session: Session, *, analyzer: str, since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(AnalyzerRun).where(
        AnalyzerRun.analyzer == analyzer, AnalyzerRun.called_at >= since)) or 0


def list_runs(session: Session, *, viewer: Viewer, purpose: str, status: str | None = None,
              analyzer: str | None = None, stix_id: str | None = None, mine: bool = False,
              before_id: int | None = None, limit: int = 50) -> list[AnalyzerRun]:
    q = select(AnalyzerRun).where(runs_readable(viewer, purpose))
    if status:
        q = q.where(AnalyzerRun.status == status)
    if analyzer:
        q = q.where(AnalyzerRun.analyzer == analyzer)
    if stix_id:
        q = q.where(AnalyzerRun.stix_id == stix_id)
    if mine:
        q = q.where(AnalyzerRun.requested_org_id == viewer.org_id)
    if before_id:
        q = q.where(AnalyzerRun.id < before_id)
    return list(session.scalars(q.order_by(AnalyzerRun.id.desc()).limit(limit)))


def run_readable(session: Session, *, viewer: Viewer, purpose: str, run_id: int) -> AnalyzerRun | None:
    return session.scalar(select(AnalyzerRun).where(AnalyzerRun.id == run_id, runs_readable(viewer, purpose)))


def runs_by_ids(session: Session, ids: Sequence[int]) -> list[AnalyzerRun]:
    return list(session.scalars(select(AnalyzerRun).where(AnalyzerRun.id.in_(list(ids))).order_by(AnalyzerRun.id)))


# --- cache ------------------------------------------------------------------------------------

def cache_get(session: Session, key: str) -> AnalyzerCache | None:
    return session.scalar(select(AnalyzerCache).where(AnalyzerCache.key == key))


def cache_put(session: Session, *, key: str, analyzer: str, version: str, organisation_id: int,
              result: dict[str, Any], created_at: datetime, expires_at: datetime) -> None:
    row = cache_get(session, key)
    if row is None:
        session.add(AnalyzerCache(key=key, analyzer=analyzer, analyzer_version=version,
                                  organisation_id=organisation_id, result=result, created_at=created_at,
                                  expires_at=expires_at))
    else:
        row.result, row.created_at, row.expires_at = result, created_at, expires_at
    session.flush()


# --- configuration ----------------------------------------------------------------------------

def config(session: Session, name: str) -> AnalyzerConfig | None:
    return session.get(AnalyzerConfig, name)


def configs(session: Session) -> dict[str, AnalyzerConfig]:
    return {c.name: c for c in session.scalars(select(AnalyzerConfig))}


# --- results -------------------------------------------------------------------------------------

def held_ids(session: Session, *, org_id: int, ids: Sequence[str], now: datetime) -> set[str]:
    """Which of these STIX ids the organisation holds in any version, in a contribution in force."""
    if not ids:
        return set()
    return set(session.scalars(select(StixObject.stix_id)
                               .join(Contribution, Contribution.id == StixObject.contribution_id)
                               .where(StixObject.organisation_id == org_id,
                                      StixObject.stix_id.in_(sorted(set(ids))),
                                      policy.contributions_in_force(now)).distinct()))


def contribution_holding(session: Session, *, org_id: int, stix_id: str, now: datetime) -> str | None:
    return session.scalar(select(StixObject.contribution_id)
                          .join(Contribution, Contribution.id == StixObject.contribution_id)
                          .where(StixObject.organisation_id == org_id, StixObject.stix_id == stix_id,
                                 policy.contributions_in_force(now))
                          .order_by(StixObject.modified.desc()).limit(1))


# --- retention ----------------------------------------------------------------------------------

def purge(session: Session, *, now: datetime) -> tuple[int, int]:
    """Drop expired cache entries; blank the values of runs whose input contribution was deleted."""
    cache = session.execute(delete(AnalyzerCache).where(AnalyzerCache.expires_at <= now)).rowcount
    deleted = select(Contribution.id).where(Contribution.status == "deleted")
    runs = session.execute(update(AnalyzerRun).where(
        AnalyzerRun.contribution_id.in_(deleted), AnalyzerRun.value != "")
        .values(value="", summary=None, error=None)).rowcount
    return cache or 0, runs or 0
