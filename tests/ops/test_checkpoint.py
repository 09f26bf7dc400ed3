"""SQLite: the server checkpoints the write-ahead log from a thread of its own, not in requests."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cyberfusion.app import create_app
from cyberfusion.config import get_settings
from cyberfusion.ops.checkpoint import BUSY_SECONDS, REQUEST_AUTOCHECKPOINT_PAGES, WalCheckpointer, next_wait


@pytest.fixture
def sqlite_engine(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no write-ahead log of the database file to checkpoint")
    return engine


def _threshold(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()


def _write(engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS ckpt_probe (x TEXT)"))
        conn.execute(text("INSERT INTO ckpt_probe VALUES (:x)"), [{"x": "y" * 2000} for _ in range(n)])


def test_the_server_checkpoints_in_the_background_and_requests_do_not(sqlite_engine, world):
    settings = get_settings().model_copy(update={"sqlite_checkpoint_seconds": 0.05})
    app = create_app(settings, engine=sqlite_engine)
    assert _threshold(sqlite_engine) == 1000  # SQLite's default outside the server
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        checkpointer = app.state.checkpointer
        rounds: list[tuple[int, int, int] | None] = []
        original = checkpointer.checkpoint
        checkpointer.checkpoint = lambda: rounds.append(original()) or rounds[-1]  # what the thread did
        assert _threshold(sqlite_engine) == REQUEST_AUTOCHECKPOINT_PAGES
        _write(sqlite_engine, 200)  # ~100 pages into the log
        deadline = time.monotonic() + 10
        while not any(r and r[1] >= 100 and r[2] == r[1] for r in rounds) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r and r[0] == 0 and r[1] >= 100 and r[2] == r[1] for r in rounds), rounds
    # After shutdown new connections are SQLite's again.
    sqlite_engine.dispose()
    assert _threshold(sqlite_engine) == 1000


def test_one_checkpoint_reports_the_frames_it_copied(sqlite_engine):
    checkpointer = WalCheckpointer(sqlite_engine, interval=60)
    _write(sqlite_engine, 50)
    busy, frames, done = checkpointer.checkpoint()
    assert busy == 0 and frames > 0 and done == frames


def test_no_checkpointer_when_disabled_or_not_sqlite(engine, world):
    settings = get_settings().model_copy(update={"sqlite_checkpoint_seconds": 0})
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert app.state.checkpointer is None
    if engine.dialect.name != "sqlite":
        with pytest.raises(ValueError, match="only SQLite"):
            WalCheckpointer(engine, interval=1)


def test_the_planner_statistics_are_refreshed_at_start(sqlite_engine, world):
    with sqlite_engine.connect() as conn:  # a fresh store has none
        assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar() == 0
    settings = get_settings().model_copy(update={"sqlite_checkpoint_seconds": 0.05})
    app = create_app(settings, engine=sqlite_engine)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sqlite_engine.connect() as conn:
                has = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar()
                stats = conn.execute(text("SELECT count(*) FROM sqlite_stat1")).scalar() if has else 0
            if stats:
                break
            time.sleep(0.05)
    assert stats > 0  # one row per analysed index


def test_the_pace_quickens_while_the_log_grows_and_slows_when_it_is_still():
    interval = 1.0
    assert next_wait(None, None, interval=interval) == interval  # the checkpoint failed: the usual pace
    assert next_wait(None, (0, 0, 0), interval=interval) == interval  # an empty log
    assert next_wait(None, (0, 120, 120), interval=interval) == BUSY_SECONDS  # frames since start
    assert next_wait((0, 120, 120), (0, 300, 250), interval=interval) == BUSY_SECONDS  # writers at work
    assert next_wait((0, 300, 250), (0, 300, 300), interval=interval) == BUSY_SECONDS  # copied the rest
    assert next_wait((0, 300, 300), (0, 300, 300), interval=interval) == interval  # nothing changed
    assert next_wait((0, 10, 10), (0, 40, 40), interval=0.05) == 0.05  # never slower than configured


def test_the_thread_waits_as_next_wait_says(sqlite_engine, monkeypatch):
    checkpointer = WalCheckpointer(sqlite_engine, interval=2.0)
    states = iter([(0, 100, 100), (0, 400, 380), (0, 400, 400), (0, 400, 400), None])
    waits: list[float] = []

    def wait(timeout: float) -> bool:  # the stop event: record each pause, stop after five rounds
        waits.append(timeout)
        return len(waits) > 5

    monkeypatch.setattr(checkpointer, "analyze", lambda: True)
    monkeypatch.setattr(checkpointer, "checkpoint", lambda: next(states))
    monkeypatch.setattr(checkpointer._stop, "wait", wait)
    checkpointer._run()
    assert waits == [2.0, BUSY_SECONDS, BUSY_SECONDS, BUSY_SECONDS, 2.0, 2.0]
