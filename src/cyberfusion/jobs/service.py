"""Enqueue work and run it: retries with exponential backoff, a lease (visibility timeout)
so a killed worker's jobs are picked up again, and a dead-letter state after max attempts.

A job's own database work and its completion commit in one transaction, so a job whose
worker dies is redone from scratch and its effects are never applied twice.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cyberfusion import writelock
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import InvalidInput
from cyberfusion.jobs import repository
from cyberfusion.jobs.models import Job

log = logging.getLogger("cyberfusion.jobs")
Handler = Callable[[Session, dict[str, Any]], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}
LEASE = timedelta(seconds=60)
BACKOFF = timedelta(seconds=5)


@dataclass(frozen=True)
class Retry:
    """A job kind's own retry rules: its first backoff (instead of the worker's), and a hook run
    in the transaction that records a failure, with the job's new state (queued again or dead)."""

    backoff: Callable[[], timedelta] | None = None
    on_failure: Callable[[Session, dict[str, Any], Job], None] | None = None


RETRY: dict[str, Retry] = {}


def handler(kind: str, *, retry: Retry | None = None) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of this kind."""
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        if retry is not None:
            RETRY[kind] = retry
        return fn
    return register


def enqueue(session: Session, *, kind: str, payload: dict[str, Any] | None = None, max_attempts: int = 5,
            delay: timedelta = timedelta(0), unique: bool = False) -> Job:
    """Queue a job; with ``unique``, a job of this kind already waiting (not running) is returned
    instead, brought forward if it was due later than this one would be."""
    if kind not in HANDLERS:
        raise InvalidInput(f"no handler for job kind {kind!r}; known: {', '.join(sorted(HANDLERS))}", field="kind")
    now = utcnow()
    if unique and (waiting := repository.queued_of_kind(session, kind)) is not None:
        waiting.run_after = min(waiting.run_after, now + delay)
        session.flush()
        return waiting
    return repository.add(session, Job(kind=kind, payload=payload or {}, max_attempts=max_attempts,
                                       run_after=now + delay, created_at=now, status="queued", attempts=0))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_batch(factory: sessionmaker[Session], *, worker: str, limit: int = 20, lease: timedelta = LEASE,
              backoff: timedelta = BACKOFF, kinds: list[str] | None = None) -> int:
    """Claim and run one batch; returns how many jobs were claimed. Its writes are background
    work: with SQLite, API requests waiting for the write lock go first (writelock.background)."""
    with writelock.background():
        return _run_batch(factory, worker=worker, limit=limit, lease=lease, backoff=backoff, kinds=kinds)


def _run_batch(factory: sessionmaker[Session], *, worker: str, limit: int, lease: timedelta,
               backoff: timedelta, kinds: list[str] | None) -> int:
    with writelock.holder("jobs:claim"), transaction(factory) as session:
        jobs = [(j.id, j.kind, dict(j.payload or {})) for j in
                repository.claim(session, worker=worker, now=utcnow(), lease=lease, limit=limit, kinds=kinds)]
    for job_id, kind, payload in jobs:
        try:
            with writelock.holder(f"job:{kind}"), transaction(factory) as session:
                result = HANDLERS[kind](session, payload)
                if not repository.finish(session, job_id=job_id, worker=worker, now=utcnow(), result=result):
                    raise _LeaseLost()
        except _LeaseLost:
            log.warning("job %s: lease lost to another worker; its work was rolled back", job_id)
        except Exception as exc:  # noqa: BLE001 - any failure of a job is recorded and retried
            log.warning("job %s (%s) failed: %s", job_id, kind, exc)
            rules = RETRY.get(kind, Retry())
            with transaction(factory) as session:
                status = repository.retry_or_bury(session, job_id=job_id, worker=worker, now=utcnow(),
                                                  error=f"{type(exc).__name__}: {exc}",
                                                  backoff=rules.backoff() if rules.backoff else backoff)
                if status is not None and rules.on_failure is not None:
                    rules.on_failure(session, payload, session.get(Job, job_id))
    return len(jobs)


class _LeaseLost(Exception):
    pass


def work(factory: sessionmaker[Session], *, once: bool = False, idle_sleep: float = 1.0,
         stop: Callable[[], bool] = lambda: False, **kw: Any) -> int:
    """Run jobs until stopped (or until the queue is empty with once=True); returns jobs run."""
    worker = kw.pop("worker", None) or worker_name()
    total = 0
    while not stop():
        n = run_batch(factory, worker=worker, **kw)
        total += n
        if n == 0:
            if once:
                break
            time.sleep(idle_sleep)
    return total
