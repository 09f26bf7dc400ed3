"""The job queue: retries with backoff, dead-letter, lease expiry, and exactly-once under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import InvalidInput
from cyberfusion.jobs import repository, service
from cyberfusion.jobs.models import Job

CALLS: list[dict] = []


@service.handler("test.flaky")
def _flaky(session, payload):
    CALLS.append(payload)
    if len(CALLS) < payload["fail_times"] + 1:
        raise RuntimeError(f"boom {len(CALLS)}")
    return {"ok": len(CALLS)}


def test_unknown_kind_is_refused(session):
    with pytest.raises(InvalidInput) as exc:
        service.enqueue(session, kind="nope")
    assert exc.value.field == "kind"


def test_retries_with_backoff_then_succeeds(factory):
    CALLS.clear()
    with transaction(factory) as s:
        job_id = service.enqueue(s, kind="test.flaky", payload={"fail_times": 2}).id
    backoff = timedelta(milliseconds=1)
    assert service.run_batch(factory, worker="w1", backoff=backoff) == 1
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.last_error) == ("queued", 1, "RuntimeError: boom 1")
    time.sleep(0.01)
    service.run_batch(factory, worker="w1", backoff=backoff)
    time.sleep(0.01)
    service.run_batch(factory, worker="w1", backoff=backoff)
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.result) == ("done", 3, {"ok": 3})


def test_dead_letter_after_max_attempts(factory):
    CALLS.clear()
    with transaction(factory) as s:
        job_id = service.enqueue(s, kind="test.flaky", payload={"fail_times": 99}, max_attempts=2).id
    for _ in range(3):
        service.run_batch(factory, worker="w1", backoff=timedelta(0))
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.attempts, job.last_error) == ("dead", 2, "RuntimeError: boom 2")
    assert len(CALLS) == 2


def test_expired_lease_is_taken_over(factory):
    with transaction(factory) as s:
        job_id = service.enqueue(s, kind="test.flaky", payload={"fail_times": 0}).id
    with transaction(factory) as s:
        [job] = repository.claim(s, worker="dead-worker", now=utcnow(), lease=timedelta(seconds=-1), limit=5)
        assert job.id == job_id
    CALLS.clear()
    assert service.run_batch(factory, worker="w2") == 1
    with factory() as s:
        job = s.get(Job, job_id)
        assert (job.status, job.locked_by, job.attempts) == ("done", "w2", 2)  # who finished it
    with transaction(factory) as s:  # the old worker can no longer complete it
        assert repository.finish(s, job_id=job_id, worker="dead-worker", now=utcnow(), result=None) is False


WORKER = """
import sys, time
from sqlalchemy import text
from cyberfusion.db import make_engine, make_sessionmaker
from cyberfusion.jobs import service
from datetime import timedelta

@service.handler("test.effect")
def effect(session, payload):
    session.execute(text("INSERT INTO job_effects (n) VALUES (:n)"), {"n": payload["n"]})
    time.sleep(float(sys.argv[2]))
    return None

factory = make_sessionmaker(make_engine(sys.argv[1]))
service.work(factory, once=True, limit=25, lease=timedelta(seconds=3), idle_sleep=0.05)
"""


def test_workers_do_each_job_exactly_once_even_when_one_is_killed(engine, factory, tmp_path):
    n_jobs = 10_000 if engine.dialect.name == "postgresql" else 2_000
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS job_effects (n INTEGER NOT NULL)"))
        conn.execute(text("DELETE FROM job_effects"))
    now = utcnow()
    with transaction(factory) as s:
        s.execute(Job.__table__.insert(), [
            {"kind": "test.effect", "payload": {"n": i}, "status": "queued", "attempts": 0, "max_attempts": 5,
             "run_after": now, "created_at": now} for i in range(n_jobs)])
    url = engine.url.render_as_string(hide_password=False)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    victim = subprocess.Popen([sys.executable, str(script), url, "0.05"], env=env)
    workers = [subprocess.Popen([sys.executable, str(script), url, "0"], env=env)
               for _ in range(3 if engine.dialect.name == "postgresql" else 1)]
    time.sleep(2.5)
    victim.send_signal(signal.SIGKILL)  # dies holding a claimed batch, mid-job
    victim.wait()
    deadline = time.time() + 120
    for w in workers:
        w.wait(timeout=max(1, deadline - time.time()))
    # the survivors stop when the queue looks empty; leases of the killed worker expire after 3 s
    time.sleep(3.2)
    Path(script).write_text(WORKER)
    subprocess.run([sys.executable, str(script), url, "0"], env=env, check=True, timeout=120)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT n, COUNT(*) FROM job_effects GROUP BY n")).all()
        statuses = dict(conn.execute(text("SELECT status, COUNT(*) FROM jobs GROUP BY status")).all())
    assert len(rows) == n_jobs and all(count == 1 for _, count in rows)
    assert statuses == {"done": n_jobs}


def test_unique_enqueue_returns_the_waiting_job_brought_forward(factory):
    with transaction(factory) as s:
        later = service.enqueue(s, kind="test.flaky", payload={"fail_times": 0}, delay=timedelta(hours=1),
                                unique=True)
        assert service.enqueue(s, kind="test.flaky", delay=timedelta(hours=2), unique=True).id == later.id
        assert later.run_after > utcnow() + timedelta(minutes=59)  # a later request does not delay it
        again = service.enqueue(s, kind="test.flaky", unique=True)
        assert again.id == later.id and again.run_after <= utcnow()
        assert repository.counts(s) == {"queued": 1}
    CALLS.clear()
    assert service.run_batch(factory, worker="w1") == 1
    with transaction(factory) as s:  # nothing is waiting any more: a new job
        assert service.enqueue(s, kind="test.flaky", payload={"fail_times": 0}, unique=True).id != later.id
