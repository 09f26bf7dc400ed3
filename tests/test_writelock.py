"""SQLite writers take turns on writelock's lock: across threads and processes, first come first
served in a process, released at commit/rollback and by the kernel when a process dies, and a
writer that waits too long gets SQLite's "database is locked" (503 in the API)."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from cyberfusion import writelock
from cyberfusion.db import database_error, make_engine, make_sessionmaker, transaction
from cyberfusion.errors import Unavailable

SRC = str(Path(writelock.__file__).resolve().parents[1])


def _engine(path: Path, *, timeout: float | None = None, busy_ms: int | None = None):  # type: ignore[no-untyped-def]
    kwargs = {}
    if timeout is not None:
        kwargs["connect_args"] = {"factory": writelock.connection_factory(str(path), timeout=timeout)}
    eng = make_engine(f"sqlite:///{path}", **kwargs)
    if busy_ms is not None:  # after db._sqlite_pragmas: SQLite's own wait for its lock
        event.listen(eng, "connect", lambda c, _r: c.execute(f"PRAGMA busy_timeout={busy_ms}"))
    return eng


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    eng = _engine(path)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (who TEXT, i INTEGER)"))
    eng.dispose()
    return path


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]


def test_a_transaction_holds_the_turn_from_its_first_write_to_commit_or_rollback(db):
    eng = _engine(db)
    lock = writelock.WriterLock.for_path(str(db))
    factory = make_sessionmaker(eng)
    with transaction(factory) as s:
        s.execute(text("SELECT count(*) FROM t"))
        assert not lock._busy  # reads take no turn
        s.execute(text("INSERT INTO t VALUES ('a', 1)"))
        assert lock._busy and s.connection().connection.dbapi_connection.holds_writer_lock
    assert not lock._busy
    with pytest.raises(RuntimeError), transaction(factory) as s:
        s.execute(text("INSERT INTO t VALUES ('b', 2)"))
        raise RuntimeError("rolled back")
    assert not lock._busy
    assert _count(db) == 1
    eng.dispose()


def test_threads_writing_at_once_never_see_sqlite_busy_even_without_its_busy_handler(db):
    # busy_timeout=0: any writer reaching SQLite's lock while another holds it fails at once,
    # so no error here means the writers queued on writelock's lock, not in SQLite's handler.
    eng = _engine(db, busy_ms=0)
    factory = make_sessionmaker(eng)
    errors: list[Exception] = []

    def write(who: str) -> None:
        for i in range(50):
            try:
                with transaction(factory) as s:
                    s.execute(text("INSERT INTO t VALUES (:w, :i)"), {"w": who, "i": i})
                    time.sleep(0.001)  # hold the lock a while: the others arrive meanwhile
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _count(db) == 200
    eng.dispose()


CHILD = textwrap.dedent("""
    import sys, threading, time
    from sqlalchemy import event, text
    from cyberfusion.db import make_engine, make_sessionmaker, transaction
    path, who, plain = sys.argv[1], sys.argv[2], sys.argv[3] == "plain"
    if plain:  # SQLite alone, no writer lock: the control
        import sqlite3
        def connect():
            c = sqlite3.connect(path, timeout=0, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            return c
    eng = make_engine(f"sqlite:///{path}")
    event.listen(eng, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=0"))
    factory = make_sessionmaker(eng)
    errors = []
    def write(t):
        c = connect() if plain else None
        for i in range(40):
            try:
                if plain:
                    c.execute("INSERT INTO t VALUES (?, ?)", (f"{who}{t}", i))
                    time.sleep(0.002)
                    c.commit()
                else:
                    with transaction(factory) as s:
                        s.execute(text("INSERT INTO t VALUES (:w, :i)"), {"w": f"{who}{t}", "i": i})
                        time.sleep(0.002)
            except Exception as exc:
                errors.append(str(exc))
                if plain:
                    c.rollback()
    threads = [threading.Thread(target=write, args=(t,)) for t in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(len(errors), errors[:1])
""")


def _children(db: Path, mode: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(db), f"p{n}", mode], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        out.append(stdout.strip())
    return out


def test_processes_writing_at_once_take_turns_on_the_lock_file(db):
    assert _children(db, "locked") == ["0 []", "0 []"]
    assert _count(db) == 2 * 2 * 40
    assert (db.parent / "w.db-writer").exists()


def test_the_control_without_the_lock_does_collide(db):
    # The same writers on bare sqlite3 connections with busy_timeout=0: SQLite refuses the ones
    # that arrive while another holds its lock (what the busy handler's sleeps used to absorb).
    out = _children(db, "plain")
    assert sum(int(line.split()[0]) for line in out) > 0, out
    assert "database is locked" in "".join(out)


def test_a_killed_writer_leaves_no_lock_behind(db):
    holder = textwrap.dedent("""
        import sys, time
        from sqlalchemy import text
        from cyberfusion.db import make_engine
        eng = make_engine(f"sqlite:///{sys.argv[1]}")
        conn = eng.connect()
        conn.execute(text("INSERT INTO t VALUES ('killed', 1)"))
        print("holding", flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", holder, str(db)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        eng = _engine(db, timeout=0.3)
        with pytest.raises(OperationalError, match="database is locked"), eng.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES ('waits', 1)"))  # the child holds the lock file
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        start = time.monotonic()
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES ('after', 1)"))
        assert time.monotonic() - start < 0.3
        with eng.connect() as conn:
            assert conn.execute(text("SELECT who FROM t ORDER BY rowid")).scalars().all() == ["after"]
        eng.dispose()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_waiters_in_a_process_get_the_lock_in_the_order_they_came(tmp_path):
    lock = writelock.WriterLock(str(tmp_path / "fifo.db"))
    assert lock.acquire(1)
    order: list[int] = []

    def wait(n: int) -> None:
        assert lock.acquire(10)
        order.append(n)
        lock.release()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=wait, args=(n,)))
        threads[-1].start()
        while len(lock._waiters) < n + 1:  # queued before the next one comes
            time.sleep(0.001)
    lock.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]
    assert not lock._busy and not lock._waiters


def test_a_waiter_that_times_out_leaves_the_queue(tmp_path):
    lock = writelock.WriterLock(str(tmp_path / "t.db"))
    assert lock.acquire(1)
    start = time.monotonic()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(0.2)))
    t.start()
    t.join(10)
    assert got == [False] and 0.2 <= time.monotonic() - start < 2
    assert not lock._waiters
    lock.release()
    assert lock.acquire(0.1)  # free again
    lock.release()


def test_no_write_turn_in_time_is_sqlites_database_is_locked_and_a_503(db):
    eng = _engine(db, timeout=0.2)
    holder = _engine(db)
    with holder.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES ('holder', 1)"))
        with pytest.raises(OperationalError) as caught, eng.begin() as other:
            other.execute(text("INSERT INTO t VALUES ('late', 1)"))
    assert str(caught.value.orig) == "database is locked (no write turn within 0.2 s)"
    err = database_error(caught.value)
    assert isinstance(err, Unavailable) and err.status == 503
    with eng.connect() as conn:
        assert conn.execute(text("SELECT who FROM t")).scalars().all() == ["holder"]
    eng.dispose()
    holder.dispose()


def test_hold_write_lock_without_a_turn_is_the_same_503(db):
    """db.hold_write_lock (BEGIN IMMEDIATE before the first read: audit appends, job claims)
    calls the lock outside SQLAlchemy's execute; its "database is locked" reaches callers as
    SQLAlchemy's OperationalError all the same, so the API, TAXII, web and CLI map it to 503 /
    a one-line error, not to an unexpected error."""
    from cyberfusion.db import hold_write_lock
    eng = _engine(db, timeout=0.2)
    holder = _engine(db)
    with holder.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES ('holder', 1)"))
        with make_sessionmaker(eng)() as session, pytest.raises(OperationalError) as caught:
            hold_write_lock(session)
    assert str(caught.value.orig) == "database is locked (no write turn within 0.2 s)"
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    err = database_error(caught.value)
    assert isinstance(err, Unavailable) and err.status == 503
    with make_sessionmaker(eng)() as session:  # the connection is usable again once the turn is free
        hold_write_lock(session)
        session.rollback()
    eng.dispose()
    holder.dispose()


def test_the_api_answers_503_with_retry_after_while_another_writer_holds_the_turn(engine, world):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no writer lock of this kind")
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.partners.models import Organisation

    path = engine.url.database
    impatient = make_engine(f"sqlite:///{path}",
                            connect_args={"factory": writelock.connection_factory(path, timeout=0.3)})
    h = {"Authorization": f"Bearer {world.token('admin')}"}
    body = {"name": "Late Unit", "kind": "law_enforcement", "country": "FR"}
    with TestClient(create_app(engine=impatient)) as client:
        assert client.get("/api/v1/organisations", headers=h).status_code == 200  # token checked: no write
        with engine.begin() as conn:  # another writer holds the turn
            conn.execute(text("UPDATE organisations SET name = name WHERE id = -1"))
            r = client.post("/api/v1/organisations", json=body, headers=h)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["retry-after"] == "5"
        assert r.json()["detail"] == "the database is unavailable; retry shortly"
        with world.factory() as s:
            assert s.scalar(select(func.count()).select_from(Organisation).where(Organisation.name == "Late Unit")) == 0
        r = client.post("/api/v1/organisations", json=body, headers=h)  # the turn is free again
        assert r.status_code in (200, 201), r.text
    impatient.dispose()


def test_the_connections_own_execute_shortcut_takes_the_turn_too(db):
    eng = _engine(db)
    raw = eng.raw_connection()
    try:
        raw.driver_connection.execute("INSERT INTO t VALUES ('raw', 1)")
        assert raw.driver_connection.holds_writer_lock and raw.driver_connection.in_transaction
        raw.driver_connection.commit()
        assert not raw.driver_connection.holds_writer_lock
        assert not writelock.WriterLock.for_path(str(db))._busy
    finally:
        raw.close()
    eng.dispose()


def test_a_connection_dropped_without_close_gives_the_turn_back(db):
    lock = writelock.WriterLock.for_path(str(db))
    conn = sqlite3.connect(db, factory=writelock.connection_factory(str(db), timeout=1))
    conn.execute("INSERT INTO t VALUES ('dropped', 1)")
    assert lock._busy
    del conn
    gc.collect()  # sqlite3's statement cache refers back to its connection: a cycle
    assert not lock._busy
    assert _count(db) == 0  # never committed


# -- background work (jobs) lets waiting requests go first, without starving ------------------


def _queue(lock: writelock.WriterLock, order: list[str], name: str, *, background: bool) -> threading.Thread:
    """A thread waiting for `lock` (held), queued before this returns; it records its turn."""
    def wait() -> None:
        assert lock.acquire(10, background=background)
        order.append(name)
        lock.release()

    queued = len(lock._waiters) + len(lock._background)
    t = threading.Thread(target=wait)
    t.start()
    while len(lock._waiters) + len(lock._background) < queued + 1:
        time.sleep(0.001)
    return t


def test_waiting_requests_go_before_waiting_background_work_each_kind_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(writelock, "BACKGROUND_YIELD_SECONDS", 60.0)
    lock = writelock.WriterLock(str(tmp_path / "p.db"))
    assert lock.acquire(1)
    order: list[str] = []
    threads = [_queue(lock, order, name, background=name.startswith("job"))
               for name in ("job0", "req0", "job1", "req1", "req2")]
    lock.release()
    for t in threads:
        t.join(10)
    assert order == ["req0", "req1", "req2", "job0", "job1"]
    assert not lock._busy and not lock._waiters and not lock._background


def test_background_work_waits_for_requests_no_longer_than_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(writelock, "BACKGROUND_YIELD_SECONDS", 0.05)
    lock = writelock.WriterLock(str(tmp_path / "s.db"))
    assert lock.acquire(1)
    order: list[str] = []
    threads = [_queue(lock, order, "job0", background=True), _queue(lock, order, "req0", background=False)]
    time.sleep(0.1)  # job0 has waited past its bound: the next turn is its own, requests or not
    threads.append(_queue(lock, order, "req1", background=False))
    lock.release()
    for t in threads:
        t.join(10)
    assert order == ["job0", "req0", "req1"]


def test_a_background_waiter_that_times_out_leaves_the_queue(tmp_path):
    lock = writelock.WriterLock(str(tmp_path / "b.db"))
    assert lock.acquire(1)
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(0.1, background=True)))
    t.start()
    t.join(10)
    assert got == [False] and not lock._background
    lock.release()
    assert lock.acquire(0.1, background=True)
    lock.release()
    assert not lock._busy


def test_jobs_write_as_background_work_requests_do_not(tmp_path):
    import cyberfusion.jobs.handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.db import upgrade
    from cyberfusion.jobs.service import enqueue, run_batch

    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    upgrade(engine)
    factory = make_sessionmaker(engine)
    lock = writelock.WriterLock.for_path(str(tmp_path / "jobs.db"))
    real, seen = lock.acquire, []

    def spy(timeout: float, *, background: bool = False) -> bool:
        seen.append(background)
        return real(timeout, background=background)

    lock.acquire = spy  # type: ignore[method-assign]
    try:
        with transaction(factory) as s:  # as an API request would
            enqueue(s, kind="taxii.purge_status")
        assert seen == [False]
        assert run_batch(factory, worker="w") == 1  # its claim, then the job and its completion
        assert len(seen) == 3 and seen[1:] == [True, True]
    finally:
        del lock.acquire
        engine.dispose()


_ORDERED = textwrap.dedent("""
    import sys, time
    from cyberfusion import writelock
    path, name, out, mode = sys.argv[1:5]
    lock = writelock.WriterLock.for_path(path)
    assert lock.acquire(20)
    if mode == "hold":
        print("holding", flush=True)
        sys.stdin.readline()
    with open(out, "a") as f:
        f.write(name + "\\n")
    time.sleep(0.05)
    lock.release()
""")


@pytest.mark.parametrize("background", [True, False])
def test_across_processes_a_background_waiter_lets_a_later_request_go_first(tmp_path, monkeypatch, background):
    # H holds the lock; this process's writer starts waiting on it, then R (another process, a
    # request) does. Background, ours lets R go first; interactive (the control), first come first served.
    monkeypatch.setattr(writelock, "BACKGROUND_YIELD_SECONDS", 30.0)
    path, out = str(tmp_path / "x.db"), tmp_path / "order.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}

    def child(name: str, mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", _ORDERED, path, name, str(out), mode], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    holder = child("H", "hold")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    lock = writelock.WriterLock(path)

    def ours() -> None:
        assert lock.acquire(20, background=background)
        with open(out, "a") as f:
            f.write("ours\n")
        lock.release()

    t = threading.Thread(target=ours)
    t.start()
    request = None
    try:
        while lock._fd is None:  # ours is waiting on H's lock file
            time.sleep(0.001)
        time.sleep(0.05)
        request = child("R", "go")
        probe = os.open(path + "-writer-urgent", os.O_RDWR)
        deadline = time.monotonic() + 20
        while not writelock._held_elsewhere(probe) and time.monotonic() < deadline:  # R waits
            time.sleep(0.001)
        os.close(probe)
        if not background:  # R's wait shows only while ours holds the gate: give R time to queue
            time.sleep(0.1)
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(20) == 0 and request.wait(20) == 0
        t.join(20)
    finally:
        for p in (holder, request):
            if p is not None and p.poll() is None:
                p.kill()
    got = out.read_text().split()
    assert got == (["H", "R", "ours"] if background else ["H", "ours", "R"])


def test_the_trace_records_each_write_turn_with_its_holder(tmp_path):
    # CFC_WRITELOCK_TRACE is read at import: a process of its own.
    script = textwrap.dedent("""
        import sys
        from sqlalchemy import text
        from cyberfusion import writelock
        from cyberfusion.db import make_engine, make_sessionmaker, transaction
        eng = make_engine(f"sqlite:///{sys.argv[1]}")
        factory = make_sessionmaker(eng)
        with transaction(factory) as s:
            s.execute(text("CREATE TABLE t (i INTEGER)"))
        with transaction(factory) as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
        with writelock.holder("job:x"), transaction(factory) as s:
            s.execute(text("INSERT INTO t VALUES (2)"))
    """)
    trace = tmp_path / "trace.jsonl"
    env = {**os.environ, "CFC_WRITELOCK_TRACE": str(trace),
           "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "tr.db")], env=env, check=True, timeout=60)
    import json

    turns = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [t["holder"] for t in turns][-1] == "job:x"
    assert len(turns) >= 2 and all(t["asked"] <= t["taken"] <= t["released"] for t in turns)
    assert writelock._TRACE_PATH is None  # off in this process: nothing written, nothing recorded
