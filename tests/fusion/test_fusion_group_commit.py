"""Lookups' rows written by one writer per process (groupcommit.py): many requests at once, each
answered only with its rows committed, every row exactly once, the audit chain intact, a bad
lookup failing alone, and a writer that cannot write answering 503, never hanging."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cyberfusion import db, writelock
from cyberfusion.audit import repository as audit_repo
from cyberfusion.audit import service as audit
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction
from cyberfusion.errors import Unavailable
from cyberfusion.fusion import hits
from cyberfusion.fusion.models import HitNotification, Lookup, LookupHit
from cyberfusion.groupcommit import GroupCommit
from fusion.fusion_helpers import give, indicator

STORED = {"198.51.100.7": "vendor", "evil-bank.example.com": "bank", "203.0.113.9": "telco"}
ASKERS = ("ncb_fr", "le_gb", "intl", "ncb_ru")  # amber+strict, red, amber, amber+strict


@pytest.fixture
def held(world, tmp_path):
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.7")])
    give(world, tmp_path, "bank", [indicator("domain-name", "evil-bank.example.com")], tlp="amber",
         hit_reveal=False)
    give(world, tmp_path, "telco", [indicator("ipv4-addr", "203.0.113.9")])
    return world


def _asked(i: int) -> str:
    stored = list(STORED)
    return stored[i % 3] if i % 2 == 0 else f"192.0.2.{i % 250}"


def _expected(world, key: str, value: str) -> dict:
    """The answer of the direct path (the caller's transaction), rolled back: the oracle."""
    s = world.factory()
    try:
        result = hits.lookup(s, viewer=world.viewer(key), purpose="investigation", values=[value]).results[0]
    finally:
        s.rollback()
        s.close()
    answer = {k: v for k, v in result.items() if k != "references"} | {"references": len(result.get("references", ()))}
    return json.loads(json.dumps(answer, default=datetime.isoformat))  # as the API sends it


def _check_rows(world, answers: list[tuple[str, str, dict]]) -> None:
    """Each answer is the direct path's; its lookup row, hit rows and audit entry are present
    exactly once, and every reference it was given is a committed notification."""
    oracle = {(k, v): _expected(world, k, v) for k, v, _a in answers}
    ids = [a["lookup_id"] for _k, _v, a in answers]
    assert len(set(ids)) == len(ids)
    with world.factory() as s:
        assert sorted(s.scalars(select(Lookup.id))) == sorted(ids)
        audited = Counter(e.detail["lookup_id"] for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "fusion.lookup")))
        assert audited == Counter(ids)
        hit_rows = Counter((h.lookup_id, h.kind, h.value) for h in s.scalars(select(LookupHit)))
        assert set(hit_rows.values()) <= {1}
        notes = {n.reference: n for n in s.scalars(select(HitNotification))}
        hits_seen = 0
        for key, value, a in answers:
            row = s.get(Lookup, a["lookup_id"])
            assert row.member_id == world.members[key] and row.value_count == 1
            result = a["results"][0]
            got = {k: v for k, v in result.items() if k != "references"} | {
                "references": len(result.get("references", ()))}
            assert json.loads(json.dumps(got, default=datetime.isoformat)) == oracle[(key, value)], (key, value)
            for ref in result.get("references", ()):  # the reference it was given is durable
                assert notes[ref["reference"]].owner_org_id == world.orgs[STORED[value]]
            if result["result"] == "hit":
                hits_seen += 1
                assert hit_rows[(a["lookup_id"], result["kind"], value)] == 1
            elif value not in STORED:
                assert not any(k[0] == a["lookup_id"] for k in hit_rows)
        assert hits_seen > len(answers) // 4  # the test asks stored values, and they are answered
        assert audit.verify(s).ok


def test_many_threads_looking_up_at_once(held, engine):
    writer = GroupCommit(engine)

    def one(i: int) -> tuple[str, str, dict]:
        key, value = ASKERS[i % len(ASKERS)], _asked(i)
        with transaction(held.factory) as s:
            r = hits.lookup(s, viewer=held.viewer(key), purpose="investigation", values=[value], writer=writer)
        return key, value, r.as_dict()

    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(80)))
    finally:
        writer.close()
    _check_rows(held, answers)
    assert writer.batches <= 80


def test_many_api_requests_at_once(held, client, engine):
    writer = client.app.state.lookup_writer
    assert (writer is not None) == (engine.dialect.name == "sqlite")  # PostgreSQL: the direct path
    tokens = {k: held.token(k) for k in ASKERS}

    def one(i: int) -> tuple[str, str, dict]:
        key, value = ASKERS[i % len(ASKERS)], _asked(i)
        r = client.post("/api/v1/lookup", json={"purpose": "investigation", "values": [value]},
                        headers={"Authorization": f"Bearer {tokens[key]}"})
        assert r.status_code == 200, r.text
        return key, value, r.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(60)))
    _check_rows(held, answers)


def _entry(s, n: int) -> int:
    audit.record(s, action="test.group", detail={"n": n})
    return n


def _written(engine) -> list[int]:
    with db.make_sessionmaker(engine)() as s:
        return sorted(e.detail["n"] for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "test.group")))


def _while_first_writes(writer: GroupCommit, writes: list, hold: float = 0.0) -> list:
    """Submit writes[0], and the others while it is being written: they make the next batch."""
    started, go = threading.Event(), threading.Event()
    first = writes[0]

    def held_first(s):
        started.set()
        assert go.wait(10)
        return first(s)

    out: list = [None] * len(writes)

    def run(i, w):
        try:
            out[i] = writer.submit(w)
        except Exception as exc:  # noqa: BLE001 - what the request would raise
            out[i] = exc

    threads = [threading.Thread(target=run, args=(0, held_first))]
    threads[0].start()
    assert started.wait(10)
    for i, w in enumerate(writes[1:], 1):
        threads.append(threading.Thread(target=run, args=(i, w)))
        threads[-1].start()
    deadline = time.monotonic() + 10
    while len(writer._queue) < len(writes) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(hold)
    go.set()
    for t in threads:
        t.join(20)
    return out


def test_waiting_writes_are_one_batch(engine):
    writer = GroupCommit(engine)
    try:
        out = _while_first_writes(writer, [lambda s, n=n: _entry(s, n) for n in range(6)])
    finally:
        writer.close()
    assert out == list(range(6))
    assert writer.batches == 2  # the first alone, the five that waited together
    assert _written(engine) == list(range(6))
    with db.make_sessionmaker(engine)() as s:
        assert audit.verify(s).ok


def test_bad_rows_fail_alone(engine):
    """One request's rows break a constraint in the batch: the batch is rolled back, the others are
    written once each (alone), the bad one gets its error, the chain verifies."""
    def bad(s):
        _entry(s, 99)
        audit_repo.add(s, {"at": None, "action": None, "object_ids": [], "detail": {}, "prev_hash": "x",
                           "hash": "y"})  # NOT NULL violated
        return 99

    writer = GroupCommit(engine)
    try:
        writes = [lambda s: _entry(s, 0)] + [lambda s, n=n: _entry(s, n) for n in (1, 2)] + [bad] + \
                 [lambda s, n=n: _entry(s, n) for n in (4, 5)]
        out = _while_first_writes(writer, writes)
    finally:
        writer.close()
    assert out[:3] == [0, 1, 2] and out[4:] == [4, 5]
    assert isinstance(out[3], IntegrityError)
    assert _written(engine) == [0, 1, 2, 4, 5]
    with db.make_sessionmaker(engine)() as s:
        assert audit.verify(s).ok
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 5


def test_a_write_queued_too_long_is_refused_unwritten(engine):
    writer = GroupCommit(engine, wait_seconds=0.2)
    try:
        out = _while_first_writes(writer, [lambda s: _entry(s, 0), lambda s: _entry(s, 1)], hold=0.5)
    finally:
        writer.close()
    assert out[0] == 0 and isinstance(out[1], Unavailable)
    assert _written(engine) == [0]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_no_write_turn_is_a_clean_503(held, engine, monkeypatch):
    """Another writer keeps SQLite's lock: the lookup answers 503 problem+json with Retry-After
    after the busy timeout, and nothing of it is written."""
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 1)
    short = db.make_engine(str(engine.url))
    other = engine.raw_connection()
    try:
        with TestClient(create_app(get_settings(), engine=short), raise_server_exceptions=False) as c:
            ask = {"json": {"purpose": "investigation", "values": ["198.51.100.7"]},
                   "headers": {"Authorization": f"Bearer {held.token('ncb_fr')}"}}
            first = c.post("/api/v1/lookup", **ask)  # the token's first use writes its last-used time
            assert first.status_code == 200
            writelock.begin_immediate(other.dbapi_connection)
            started = time.monotonic()
            r = c.post("/api/v1/lookup", **ask)
            assert time.monotonic() - started < 8
            # A search's audit entry takes the lock the same way (db.hold_write_lock): 503 too.
            found = c.get("/api/v1/search", params={"q": "198.51.100.7", "purpose": "investigation"},
                          headers=ask["headers"])
            other.rollback()
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"]
            assert found.status_code == 503, found.text
            assert found.headers["content-type"] == "application/problem+json" and found.headers["retry-after"]
            ok = c.post("/api/v1/lookup", **ask)
            assert ok.status_code == 200
    finally:
        other.close()
        short.dispose()
    with held.factory() as s:
        assert sorted(x.id for x in s.scalars(select(Lookup))) == [first.json()["lookup_id"], ok.json()["lookup_id"]]
        assert audit.verify(s).ok


# --- writes of one class written together (write_together) ---------------------------------------

def test_lookups_written_together_are_the_rows_each_writes_alone(held):
    """A batch of prepared lookups written by one write_together (one statement per kind of row):
    ids in the batch's order, each lookup's row, hit rows, references and audit entry as its
    own, a notification renewed by a second lookup of the batch as a second lookup alone
    renews it, and the chain intact (SQLite: one INSERT of many rows; PostgreSQL: row by row)."""
    asks = [("ncb_fr", ["198.51.100.7", "192.0.2.1"]), ("le_gb", ["192.0.2.2"]),
            ("ncb_fr", ["198.51.100.7"]),  # the same asker and value again: renews, same reference
            ("intl", ["evil-bank.example.com", "203.0.113.9"]), ("le_gb", ["192.0.2.3", "192.0.2.4"])]
    with transaction(held.factory) as s:
        before = s.scalar(select(func.max(Lookup.id))) or 0
        prepared = [hits._prepare(s, viewer=held.viewer(k), purpose="investigation", values=v, kind=None,
                                  settings=None, now=None) for k, v in asks]
        written = hits._Prepared.write_together(s, prepared)
    ids = [lookup_id for lookup_id, _refs in written]
    assert ids == list(range(before + 1, before + 1 + len(asks)))
    with held.factory() as s:
        for (key, values), p, (lookup_id, references) in zip(asks, prepared, written):
            row = s.get(Lookup, lookup_id)
            assert (row.member_id, row.value_count, row.hit_count, row.digests) == (
                held.members[key], len(values), p.counts["hit"], p.lookup_row["digests"])
            stored = {(h.kind, h.value): (h.answer, h.references)
                      for h in s.scalars(select(LookupHit).where(LookupHit.lookup_id == lookup_id))}
            assert stored == {k: (a["told"], [r["reference"] for r in references.get(k, [])])
                              for k, a in p.answers.items()}
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "fusion.lookup")
                                 .order_by(AuditEntry.id)))
        assert [e.detail["lookup_id"] for e in entries] == ids
        assert [e.member_id for e in entries] == [held.members[k] for k, _v in asks]
        assert audit.verify(s).ok
        first, again = written[0][1][("ipv4-addr", "198.51.100.7")], written[2][1][("ipv4-addr", "198.51.100.7")]
        assert [r["reference"] for r in first] == [r["reference"] for r in again]
        note = s.scalars(select(HitNotification).where(HitNotification.reference == first[0]["reference"])).one()
        assert (note.times_asked, note.lookup_id) == (2, ids[2])


class _Together:
    """A write with a write_together: records which writes came in which call."""
    calls: list[list[int]] = []

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, session) -> int:
        return _Together.write_together(session, [self])[0]

    @staticmethod
    def write_together(session, writes: list[_Together]) -> list[int]:
        _Together.calls.append([w.n for w in writes])
        audit.record_many(session, [audit.Entry(action="test.group", detail={"n": w.n}) for w in writes])
        return [w.n for w in writes]


def test_consecutive_writes_of_one_class_are_written_together(engine):
    """In a batch, writes of a class with write_together next to each other go to it in one call
    (in order); a plain function between them splits them; each request gets its own result;
    the batch failing has each written alone, by write_together with it alone."""
    _Together.calls = []
    writes = [_Together(0), _Together(1), _Together(2), lambda s: _entry(s, 3), _Together(4), _Together(5)]
    writer = GroupCommit(engine)
    try:
        out = _while_first_writes(writer, writes)
    finally:
        writer.close()
    assert out == list(range(6))
    assert _Together.calls == [[0], [1, 2], [4, 5]]  # the first alone, then the five that waited
    assert _written(engine) == list(range(6))
    with db.make_sessionmaker(engine)() as s:
        assert audit.verify(s).ok
        assert [e.detail["n"] for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "test.group")
                                                  .order_by(AuditEntry.id))] == list(range(6))


def test_record_many_chains_as_record_does(engine):
    """record_many's entries are record's, one after the other: the same chain, in order, in one
    transaction or after another transaction appended."""
    with transaction(db.make_sessionmaker(engine)) as s:
        audit.record(s, action="test.group", detail={"n": 0})
        audit.record_many(s, [audit.Entry(action="test.group", detail={"n": n}, purpose="research") for n in (1, 2)])
    with transaction(db.make_sessionmaker(engine)) as s:
        audit.record_many(s, [audit.Entry(action="test.group", detail={"n": n}) for n in (3, 4, 5)])
        audit.record_many(s, [])
    with db.make_sessionmaker(engine)() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "test.group").order_by(AuditEntry.id)))
        assert [e.detail["n"] for e in entries] == list(range(6))
        assert [e.purpose for e in entries[:3]] == [None, "research", "research"]
        assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
        assert audit.verify(s).ok
