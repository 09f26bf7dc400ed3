"""The server's in-process worker: on by default with SQLite, off with PostgreSQL, same queue."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from cyberfusion.app import create_app
from cyberfusion.config import get_settings
from cyberfusion.db import transaction
from cyberfusion.jobs import service
from cyberfusion.jobs.models import Job

SEEN: list[dict] = []


@service.handler("test.inprocess")
def _record(session, payload):
    SEEN.append(payload)
    return {"seen": payload["n"]}


def _wait_done(factory, job_id: int, seconds: float = 20.0) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with factory() as s:
            job = s.get(Job, job_id)
            if job.status != "queued" and job.status != "running":
                return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} was not run within {seconds} s")


def test_server_runs_queued_jobs_in_process_and_stops_with_it(engine, factory, monkeypatch):
    monkeypatch.setenv("CFC_INPROCESS_WORKER", "true")
    get_settings.cache_clear()
    SEEN.clear()
    app = create_app(get_settings(), engine=engine)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        with transaction(factory) as s:
            job_id = service.enqueue(s, kind="test.inprocess", payload={"n": 7}).id
        job = _wait_done(factory, job_id)
        assert (job.status, job.result, SEEN) == ("done", {"seen": 7}, [{"n": 7}])
        worker = app.state.worker
    assert worker.jobs_run == 1 and not worker._thread.is_alive()


def test_default_is_on_for_sqlite_only(engine, monkeypatch):
    monkeypatch.delenv("CFC_INPROCESS_WORKER", raising=False)
    get_settings.cache_clear()
    app = create_app(get_settings(), engine=engine)
    with TestClient(app):
        started = app.state.worker is not None
    assert started == (engine.dialect.name == "sqlite")
