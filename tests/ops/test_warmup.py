"""The server's warm-up (ops/warmup.py): what the first requests would load, loaded at start;
/readyz says "starting" until it is done."""

from __future__ import annotations

import gc
import logging
import sys
import threading

from fastapi.testclient import TestClient

from cyberfusion.kit import gcutil
from cyberfusion.ops import warmup


def test_readyz_answers_starting_until_the_warm_up_is_done_and_healthz_at_once(engine, monkeypatch):
    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings

    release = threading.Event()
    real = warmup.steps

    def held(*, jobs: bool):  # the real steps behind one that waits for the test
        return [("held by the test", lambda: release.wait(30)), *real(jobs=jobs)]

    monkeypatch.setattr(warmup, "steps", held)
    monkeypatch.setenv("CFC_SERVER_WARM_UP", "true")
    get_settings.cache_clear()
    app = create_app(get_settings(), engine=engine)
    with TestClient(app) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert r.json()["status"] == "starting"
        assert client.get("/healthz").status_code == 200
        release.set()
        assert app.state.warm_up.wait(60)
        assert client.get("/readyz").json()["status"] == "ready"
        assert list(app.state.warm_up.timings) == ["held by the test", "public suffix list",
                                                   "ingest and STIX validation"]  # no jobs in tests' servers
        assert app.state.warm_up.failed == {}


def test_the_steps_load_what_requests_and_jobs_would_load_first():
    from cyberfusion.kit import observables
    from cyberfusion.products import geo

    assert [name for name, _ in warmup.steps(jobs=False)] == ["public suffix list", "ingest and STIX validation"]
    w = warmup.WarmUp(warmup.steps(jobs=True))
    w.start()
    assert w.wait(120) and w.failed == {}
    assert list(w.timings) == ["public suffix list", "ingest and STIX validation", "job handlers",
                               "geolocation tables"]
    assert observables._suffix_trie.cache_info().currsize == 1
    assert {"stix2validator", "stix2patterns.validator", "cyberfusion.ingest.stix",
            "cyberfusion.jobs.handlers"} <= set(sys.modules)
    assert geo._tables is not None


def test_a_failing_step_is_logged_and_the_rest_still_run(caplog):
    ran: list[str] = []

    def broken() -> None:
        raise OSError("data file missing")

    w = warmup.WarmUp([("broken", broken), ("next", lambda: ran.append("next"))])
    with caplog.at_level(logging.WARNING, logger="cyberfusion.server"):
        w.start()
        assert w.wait(10)
    assert w.done and ran == ["next"] and w.failed == {"broken": "OSError: data file missing"}
    assert "warm-up: broken failed (data file missing)" in caplog.text


def test_what_the_warm_up_loaded_in_a_server_is_set_aside_from_full_collections():
    loaded: list[list[int]] = []
    gcutil.freeze_long_lived()
    try:
        w = warmup.WarmUp([("data", lambda: loaded.append([1, 2, 3]))])
        w.start()
        assert w.wait(10)
        assert gc.is_tracked(loaded[0]) and not any(o is loaded[0] for o in gc.get_objects())
    finally:
        gcutil.unfreeze_long_lived()
