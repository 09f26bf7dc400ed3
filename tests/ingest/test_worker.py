"""The ingest worker (a second process reading the file while the import writes) gives exactly what
the in-process path gives: the same rows in the same order, the same error at the same object, the
same stored contribution; and it falls back to in-process when it cannot start or dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cyberfusion.errors import InvalidInput
from cyberfusion.ingest import pipeline, worker
from cyberfusion.ingest.formats import parse
from cyberfusion.ingest.rows import prepare
from cyberfusion.ingest.worker import Worker
from ingest.test_pipeline import NONE_STORED, counts, import_as, ip_indicators, nothing_stored, worker_pids
from sharing.helpers import bundle_file, indicator

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def _here(fmt: str, path: Path, **kw: Any) -> list[Any]:
    return [prepare(item) for item in parse(fmt, path, file_name=path.name, errors=None, **kw)]


def _worker(fmt: str, path: Path, *, sqlite_rows: bool = False, **kw: Any) -> Worker:
    return Worker(fmt=fmt, path=path, file_name=path.name, mapping=kw.get("mapping"),
                  default_time=kw.get("default_time"), fallback=lambda: iter(_here(fmt, path, **kw)),
                  sqlite_rows=sqlite_rows)


def _here_sqlite(fmt: str, path: Path, **kw: Any) -> list[Any]:
    memo: dict[Any, str] = {}
    return [prepare(item, memo) for item in parse(fmt, path, file_name=path.name, errors=None, **kw)]


def _through_worker(fmt: str, path: Path, *, sqlite_rows: bool = False, **kw: Any) -> list[Any]:
    w = _worker(fmt, path, sqlite_rows=sqlite_rows, **kw)
    try:
        assert w.proc is not None
        return list(w)
    finally:
        w.close()


def _mixed(n: int) -> list[dict[str, Any]]:
    objects = []
    kinds = ("ipv4-addr", "domain-name", "url", "email-addr", "ipv6-addr")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        value = {"ipv4-addr": f"10.1.{i >> 8 & 255}.{i & 255}", "domain-name": f"host{i}.example.org",
                 "url": f"https://e{i}.example.com/p?q={i}", "email-addr": f"u{i}@example.net",
                 "ipv6-addr": f"2001:db8::{i:x}"}[kind]
        obj = indicator(kind, value, marking=TLP_RED if i % 7 == 0 else None)
        if i % 11 == 0:
            obj["description"] = f"Ünïcode ✓ {i}"
        if i % 13 == 0:
            obj["labels"] = ["malicious-activity", f"l{i % 3}"]
        if i % 17 == 0:
            obj["revoked"] = True
        if i % 19 == 0:
            obj["valid_until"] = "2027-01-01T00:00:00.123456Z"
        objects.append(obj)
    return objects


def test_the_worker_sends_what_prepare_gives_here(tmp_path) -> None:
    path = bundle_file(tmp_path, _mixed(1200), "mixed.json")
    assert _through_worker("stix", path) == _here("stix", path)


@pytest.mark.parametrize("corpus", ["stix21", "attack"])
def test_the_worker_agrees_on_the_conformance_bundles(tmp_path, corpus: str) -> None:
    files = sorted((CONFORMANCE / corpus).rglob("*.json"))
    checked = 0
    for path in files:
        try:
            expected = _here("stix", path)
        except InvalidInput as exc:
            with pytest.raises(InvalidInput) as caught:
                _through_worker("stix", path)
            assert caught.value.problems == exc.problems
        else:
            assert _through_worker("stix", path) == expected
        checked += 1
        if checked >= 12:  # a spread of files; each one is a process start
            break
    assert checked


def test_the_worker_agrees_on_misp_and_csv(tmp_path) -> None:
    misp = sorted((CONFORMANCE / "misp").rglob("*.json"))[:3]
    for path in misp:
        assert _through_worker("misp", path) == _here("misp", path)
    csv = tmp_path / "values.csv"
    csv.write_text("value,type\n10.0.0.1,ipv4-addr\nexample.org,domain-name\n")
    from datetime import UTC, datetime
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert _through_worker("csv", csv, default_time=now) == _here("csv", csv, default_time=now)


def test_a_bad_object_comes_back_as_the_same_error_after_the_rows_before_it(tmp_path) -> None:
    objects = ip_indicators(1700)
    objects[1234]["confidence"] = 101
    path = bundle_file(tmp_path, objects, "bad.json")
    w = _worker("stix", path)
    received = []
    with pytest.raises(InvalidInput) as caught:
        for row in w:
            received.append(row)
    w.close()
    with pytest.raises(InvalidInput) as here:
        _here("stix", path)
    assert caught.value.problems == here.value.problems
    assert [r.stix_id for r in received] == [o["id"] for o in objects[:1234]]


def test_invalid_json_comes_back_located(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
                                "objects": ip_indicators(600)})[:-40])
    with pytest.raises(InvalidInput) as caught:
        _through_worker("stix", path)
    with pytest.raises(InvalidInput) as here:
        _here("stix", path)
    assert caught.value.problems == here.value.problems


def test_no_worker_when_it_cannot_start(tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(50), "small.json")

    def broken(*args: Any, **kw: Any) -> Any:
        raise OSError("no processes left")

    w = Worker(fmt="stix", path=path, file_name=path.name, mapping=None, default_time=None,
               fallback=lambda: iter(_here("stix", path)), popen=broken)
    assert w.proc is None
    assert list(w) == _here("stix", path)


def test_a_worker_that_dies_is_replaced_by_parsing_the_rest_here(tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(3000), "three.json")
    w = _worker("stix", path)
    assert w.proc is not None
    rows = iter(w)
    first = [next(rows) for _ in range(worker.CHUNK)]
    os.kill(w.proc.pid, signal.SIGKILL)
    rest = list(rows)
    w.close()
    assert first + rest == _here("stix", path)


def test_closing_early_stops_the_worker(tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(5000), "five.json")
    w = _worker("stix", path)
    proc = w.proc
    assert proc is not None
    next(iter(w))
    w.close()
    assert proc.returncode is not None
    assert worker_pids(os.getpid()) == []


def _stored(engine, org_id: int) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    # On SQLite, the stored text itself (datetime, JSON and boolean columns as stored).
    extra = ", typeof(o.labels), typeof(o.revoked), length(o.date_added)" if engine.dialect.name == "sqlite" else ""
    with engine.connect() as conn:
        objects = conn.execute(text(
            "SELECT o.stix_id, o.type, o.spec_version, o.created, o.modified, o.created_by_ref, o.revoked, "
            "o.valid_from, o.valid_until, o.confidence, o.labels, o.name, o.search_text, o.source_ref, "
            f"o.target_ref, o.data, h.tlp{extra} FROM stix_objects o JOIN handling h ON h.id = o.handling_id "
            "WHERE o.organisation_id = :o ORDER BY o.pk"), {"o": org_id}).all()
        observables = conn.execute(text(
            "SELECT b.kind, b.value, b.range_start, b.range_end, b.stix_id, b.object_type, b.seen_at, h.tlp "
            "FROM observables b JOIN handling h ON h.id = b.handling_id WHERE b.organisation_id = :o "
            "ORDER BY b.pk"), {"o": org_id}).all()
    return [tuple(r) for r in objects] + [tuple(r) for r in observables]


def test_an_import_through_the_worker_stores_what_an_import_here_stores(world, engine, tmp_path,
                                                                         monkeypatch) -> None:
    path = bundle_file(tmp_path, _mixed(2500), "mixed.json")
    started: list[int] = []
    real = worker.Worker.__init__

    def spy(self, **kw: Any) -> None:  # type: ignore[no-untyped-def]
        real(self, **kw)
        started.append(1)

    monkeypatch.setattr(worker.Worker, "__init__", spy)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    through = import_as(world, "vendor", path)
    assert started == [1]
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 1 << 62)
    here = import_as(world, "bank", path)
    assert started == [1]
    assert (through.objects, through.observables) == (here.objects, here.observables) == (2500, 2500)
    assert _stored(engine, world.orgs["vendor"]) == _stored(engine, world.orgs["bank"])


def test_a_bad_object_through_the_worker_writes_nothing(world, engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "PARSE_AHEAD", 100)  # the bad object is met under the lock, mid-import
    monkeypatch.setattr(pipeline, "BATCH", 100)
    objects = ip_indicators(1500)
    objects[1234]["confidence"] = 101
    with pytest.raises(InvalidInput, match=r"object 1234 .*confidence 101 must be an integer from 0 to 100"):
        import_as(world, "vendor", bundle_file(tmp_path, objects, "bad.json"))
    assert nothing_stored(engine) == NONE_STORED
    assert worker_pids(os.getpid()) == []
    assert counts(engine)["contributions"] == 0


def test_the_setting_turns_the_worker_off(world, engine, tmp_path, monkeypatch) -> None:
    from cyberfusion.config import get_settings

    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(get_settings(), "ingest_worker", False)
    monkeypatch.setattr(worker.Worker, "__init__", lambda self, **kw: pytest.fail("worker started"))
    result = import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(10), "ten.json"))
    assert result.objects == 10


def test_the_worker_is_a_fresh_interpreter_not_a_fork(tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(10), "ten.json")
    calls: list[list[str]] = []

    def popen(args: list[str], **kw: Any) -> Any:
        calls.append(args)
        return subprocess.Popen(args, **kw)

    w = Worker(fmt="stix", path=path, file_name=path.name, mapping=None, default_time=None,
               fallback=lambda: iter(()), popen=popen)
    assert len(list(w)) == 10
    w.close()
    import sys
    assert calls[0][:2] == [sys.executable, "-c"]


def test_sqlite_text_is_the_repository_conversion() -> None:
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from cyberfusion.ingest.rows import sqlite_text
    from cyberfusion.intel.repository import _sqlite_datetime

    rng = random.Random(4)
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    for _ in range(5000):
        value = datetime(1970, 1, 2, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**17))
        value = value.astimezone(rng.choice(zones))
        assert sqlite_text(value) == _sqlite_datetime(value)
        # SQLAlchemy's SQLite DATETIME storage format, of the value in UTC (UTCDateTime)
        u = value.astimezone(UTC)
        assert sqlite_text(value) == (f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}:"
                                      f"{u.second:02d}.{u.microsecond:06d}")


def test_the_worker_on_sqlite_sends_sqlite_rows_and_held_versions_are_still_skipped(world, engine, tmp_path,
                                                                                      monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    objects = _mixed(900)
    first = import_as(world, "vendor", bundle_file(tmp_path, objects[:600], "first.json"))
    again = import_as(world, "vendor", bundle_file(tmp_path, objects[300:] + objects[:10], "again.json"))
    assert (first.objects, again.objects, again.skipped_versions) == (600, 300, 310)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 1 << 62)
    here = import_as(world, "bank", bundle_file(tmp_path, objects, "all.json"))
    assert here.objects == 900
    with engine.connect() as conn:
        def rows(org: int) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(text(
                "SELECT stix_id, created, modified, valid_from, valid_until, data FROM stix_objects "
                "WHERE organisation_id = :o ORDER BY stix_id"), {"o": org})]
        assert rows(world.orgs["vendor"]) == rows(world.orgs["bank"])


ORPHAN_SCRIPT = r"""
import sys, time
from pathlib import Path
from cyberfusion.ingest.worker import Worker
path = Path(sys.argv[1])
w = Worker(fmt="stix", path=path, file_name=path.name, mapping=None, default_time=None, fallback=lambda: iter(()))
next(iter(w))
print(w.proc.pid, flush=True)
time.sleep(60)
"""


def test_a_killed_importer_leaves_no_worker_behind(tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(40_000), "large.json")  # far more than the worker buffers
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(worker.__file__).parents[2]),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(path)], env=env, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert worker_pids(proc.pid) == [child]  # alive, blocked on a full buffer
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert worker_pids(proc.pid, wait=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_rows_prepared_for_sqlite_are_the_repository_conversions(tmp_path) -> None:
    from cyberfusion.intel.repository import _memo_json, _sqlite_bool, _sqlite_datetime

    path = bundle_file(tmp_path, _mixed(600), "mixed.json")
    memo: dict[Any, str] = {}
    plain = _here("stix", path)
    for item, p in zip(parse("stix", path, file_name=path.name, errors=None), plain, strict=True):
        s = prepare(item, memo)
        assert s.modified == _sqlite_datetime(p.modified)
        expected = list(p.row)
        for i in (3, 4, 7, 8):
            expected[i] = _sqlite_datetime(expected[i])
        expected[6] = _sqlite_bool(expected[6])
        expected[10] = _memo_json([expected[10]])[0]
        assert list(s.row) == expected
        assert s.observables == [(*o[:6], _sqlite_datetime(o[6])) for o in p.observables]
        assert (s.stix_id, s.refs, s.hints, s.location, s.nul) == (p.stix_id, p.refs, p.hints, p.location, p.nul)


@pytest.mark.parametrize("corpus", ["stix21", "attack", "misp"])
def test_sqlite_rows_come_through_marshal_as_prepare_gives_them_here(tmp_path, corpus: str) -> None:
    # On SQLite the rows travel in marshal's format (worker._MARSHAL): the same values, types,
    # order and shapes (tuples, lists, dicts) as prepare gives in-process.
    fmt = "misp" if corpus == "misp" else "stix"
    files = sorted((CONFORMANCE / corpus).rglob("*.json"))[:8]
    files.append(bundle_file(tmp_path, _mixed(1200), "mixed.json"))
    for path in files:
        try:
            expected = _here_sqlite(fmt, path)
        except InvalidInput as exc:
            with pytest.raises(InvalidInput) as caught:
                _through_worker(fmt, path, sqlite_rows=True)
            assert caught.value.problems == exc.problems
            continue
        got = _through_worker(fmt, path, sqlite_rows=True)
        assert got == expected
        assert [_shapes(r) for r in got] == [_shapes(r) for r in expected]


def _shapes(value: Any) -> Any:
    """The value with every type spelled out: == alone takes True for 1 and 1.0 for 1."""
    if isinstance(value, dict):
        return ("dict", [(_shapes(k), _shapes(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_shapes(v) for v in value])
    return (type(value).__name__, value)


def test_a_chunk_marshal_cannot_write_goes_as_a_pickle() -> None:
    import io
    from datetime import UTC, datetime

    from cyberfusion.ingest.rows import Prepared

    plain = Prepared("indicator--1", "2026-01-01 00:00:00.000000", ["marking--x"], {"distribution": 0}, "object 0",
                     False, ("indicator--1", 1, 1.5, None, True, '["a"]'), [("ipv4-addr", "10.0.0.1", "0a", "0a")])
    other = plain._replace(modified=datetime(2026, 1, 1, tzinfo=UTC))
    for chunk, marshalled in (([plain, plain], True), ([plain, other], False)):
        out = io.BytesIO()
        worker._send_rows(out, chunk, True)
        message = out.getvalue()[8:]
        assert (message[:1] == worker._MARSHAL) == marshalled
        kind, rows = worker._decode(message)
        assert kind == "rows" and rows == chunk
        assert [_shapes(r) for r in rows] == [_shapes(r) for r in chunk]
        assert all(type(r) is Prepared for r in rows)
