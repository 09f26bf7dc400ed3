"""SQL of the job queue. Claims are atomic: PostgreSQL uses FOR UPDATE SKIP LOCKED so workers
never wait on each other; SQLite has a single writer, so an UPDATE … RETURNING is atomic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from cyberfusion.jobs.models import Job


def add(session: Session, job: Job) -> Job:
    session.add(job)
    session.flush()
    return job


def claim(session: Session, *, worker: str, now: datetime, lease: timedelta, limit: int,
          kinds: list[str] | None = None) -> list[Job]:
    """Take up to `limit` due jobs: queued ones, and running ones whose lease ran out."""
    due = or_(and_(Job.status == "queued", Job.run_after <= now),
              and_(Job.status == "running", Job.locked_until < now))
    pick = select(Job.id).where(due).order_by(Job.run_after, Job.id).limit(limit)
    if kinds:
        pick = pick.where(Job.kind.in_(kinds))
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(session.scalars(pick))
    if not ids:
        return []
    # Re-check "due" in the UPDATE itself: on SQLite the SELECT above is not locked, so another
    # worker may have claimed (or even finished) some of these jobs in between.
    until = now + lease
    session.execute(update(Job).where(Job.id.in_(ids), due).values(
        status="running", locked_by=worker, locked_until=until, attempts=Job.attempts + 1))
    session.flush()
    return list(session.scalars(select(Job).where(Job.id.in_(ids), Job.locked_by == worker,
                                                  Job.locked_until == until, Job.status == "running")
                                .order_by(Job.id).execution_options(populate_existing=True)))


def finish(session: Session, *, job_id: int, worker: str, now: datetime, result: dict[str, Any] | None) -> bool:
    """Mark done only if this worker still holds the lease (else another worker took it over)."""
    done = session.execute(update(Job).where(Job.id == job_id, Job.locked_by == worker, Job.status == "running")
                           .values(status="done", finished_at=now, locked_until=None, result=result))
    return done.rowcount == 1


def retry_or_bury(session: Session, *, job_id: int, worker: str, now: datetime, error: str,
                  backoff: timedelta) -> str | None:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.locked_by != worker or job.status != "running":
        return None
    job.last_error = error[:4000]
    job.locked_by, job.locked_until = None, None
    if job.attempts >= job.max_attempts:
        job.status, job.finished_at = "dead", now
    else:
        job.status, job.run_after = "queued", now + backoff * (2 ** (job.attempts - 1))
    session.flush()
    return job.status


def queued_of_kind(session: Session, kind: str) -> Job | None:
    return session.scalars(select(Job).where(Job.kind == kind, Job.status == "queued").order_by(Job.id)
                           .limit(1)).first()


def payloads_of_kind(session: Session, kind: str, *, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(p or {}) for p in session.scalars(select(Job.payload).where(Job.kind == kind,
                                                                           Job.status.in_(statuses)))]


def counts(session: Session) -> dict[str, int]:
    return {s: n for s, n in session.execute(select(Job.status, func.count()).group_by(Job.status))}


def listing(session: Session, *, status: str | None = None, limit: int = 100) -> list[Job]:
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        q = q.where(Job.status == status)
    return list(session.scalars(q))
