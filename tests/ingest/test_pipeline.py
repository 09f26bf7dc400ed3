"""import_file end to end: idempotency, all-or-nothing, crash safety, dry runs, per-object handling,
CSV/text input and every permission gate — each outcome exact, counted in the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cyberfusion.audit.service import verify
from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden, InvalidInput, Problem
from cyberfusion.ingest import pipeline
from cyberfusion.ingest.pipeline import ImportResult, import_file
from cyberfusion.ingest.rows import canonical
from cyberfusion.intel import service as intel
from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import bundle_file, indicator

SRC = Path(__file__).resolve().parents[2] / "src"
TABLES = ("contributions", "stix_objects", "observables", "handling", "audit_log")
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"


def counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def nothing_stored(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    c = counts(engine)
    return {t: c[t] for t in ("contributions", "stix_objects", "observables", "handling")}


NONE_STORED = {"contributions": 0, "stix_objects": 0, "observables": 0, "handling": 0}


def import_as(world, key: str, path: Path, *, fmt: str = "stix",  # type: ignore[no-untyped-def]
              spec: HandlingSpec | None = None, **kw: Any) -> ImportResult:
    viewer = world.viewer(key)
    with transaction(world.factory) as s:
        return import_file(s, viewer=viewer, path=path, fmt=fmt, spec=spec or HandlingSpec(tlp="green"), **kw)


def ip_indicators(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """n distinct indicators for 10.x.y.z addresses, numbered from start."""
    return [indicator("ipv4-addr", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(start, start + n)]


# ---------------------------------------------------------------- idempotency


def test_same_file_twice_is_recognised(world, engine, tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(5), "feed.json")
    first = import_as(world, "vendor", path)
    after_first = counts(engine)
    second = import_as(world, "vendor", path)

    assert (first.created, first.objects, first.skipped_versions, first.observables) == (True, 5, 0, 5)
    assert (second.contribution_id, second.created, second.objects) == (first.contribution_id, False, 5)
    assert (second.skipped_versions, second.observables) == (0, 0)
    assert counts(engine) == after_first
    assert {t: after_first[t] for t in ("contributions", "stix_objects", "observables")} == {
        "contributions": 1, "stix_objects": 5, "observables": 5}


def test_versions_already_held_are_not_stored_again(world, engine, tmp_path) -> None:
    import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(5), "a.json"))          # 0..4
    overlap = import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(5, start=3), "b.json"))  # 3..7
    # 3 and 4 are held already; 5, 6 and 7 are new.
    assert (overlap.created, overlap.objects, overlap.skipped_versions, overlap.observables) == (True, 3, 2, 3)

    # Nothing new at all: still a contribution of its own (the partner did send it), with no rows.
    repeat = import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(4, start=1), "c.json"))  # 1..4
    assert (repeat.created, repeat.objects, repeat.skipped_versions, repeat.observables) == (True, 0, 4, 0)
    c = counts(engine)
    assert (c["contributions"], c["stix_objects"], c["observables"]) == (3, 8, 8)
    with engine.connect() as conn:
        per_contribution = conn.execute(text("SELECT file_name, object_count FROM contributions "
                                             "ORDER BY file_name")).all()
    assert [tuple(r) for r in per_contribution] == [("a.json", 5), ("b.json", 3), ("c.json", 0)]


def test_same_version_from_another_organisation_is_stored_for_it(world, engine, tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(5), "shared.json")
    vendor = import_as(world, "vendor", path)
    bank = import_as(world, "bank", path)  # the very same file: the digest check is per organisation
    assert (bank.created, bank.objects, bank.skipped_versions) == (True, 5, 0)
    assert bank.contribution_id != vendor.contribution_id
    with engine.connect() as conn:
        owners = conn.execute(text("SELECT organisation_id, count(*), count(DISTINCT stix_id) FROM stix_objects "
                                   "GROUP BY organisation_id ORDER BY organisation_id")).all()
        observables = conn.execute(text("SELECT count(*) FROM observables")).scalar_one()
    assert [tuple(r) for r in owners] == [(world.orgs["vendor"], 5, 5), (world.orgs["bank"], 5, 5)]
    assert observables == 10


# ---------------------------------------------------------------- all or nothing


def test_one_bad_object_in_a_thousand_writes_nothing(world, engine, tmp_path, monkeypatch) -> None:
    objects = ip_indicators(1000)
    objects[499]["confidence"] = 101
    path = bundle_file(tmp_path, objects, "thousand.json")
    # Small batches, and no parsing ahead of the writes, so that four batches are already
    # inserted when the bad object is met.
    monkeypatch.setattr(pipeline, "BATCH", 100)
    monkeypatch.setattr(pipeline, "PARSE_AHEAD", 0)
    inserted: list[int] = []
    real_insert = pipeline.repository.insert_objects
    monkeypatch.setattr(pipeline.repository, "insert_objects",
                        lambda session, rows, **kw: (inserted.append(len(rows)), real_insert(session, rows, **kw))[1])
    audit_before = counts(engine)["audit_log"]

    with pytest.raises(InvalidInput) as caught:
        import_as(world, "vendor", path)

    bad_id = objects[499]["id"]
    assert str(caught.value) == (f"thousand.json, object 499 ({bad_id}): field 'confidence': "
                                 "confidence 101 must be an integer from 0 to 100")
    assert caught.value.problems == [Problem("confidence 101 must be an integer from 0 to 100", "thousand.json",
                                             f"object 499 ({bad_id})", "confidence")]
    assert inserted == [100, 100, 100, 100]
    assert nothing_stored(engine) == NONE_STORED
    assert counts(engine)["audit_log"] == audit_before


@pytest.mark.parametrize(("ahead", "parsed_at_lock"), [(10_000, 1000), (300, 300)])
def test_objects_are_parsed_and_validated_before_the_lock(world, engine, tmp_path, monkeypatch,
                                                          ahead: int, parsed_at_lock: int) -> None:
    """Up to PARSE_AHEAD objects are read and checked before the import takes the ingest lock (the
    SQLite write lock): a file that small holds it for its writes only, and a bad object in it is
    refused without the lock ever being taken. A larger file streams the rest under the lock."""
    monkeypatch.setattr(pipeline, "PARSE_AHEAD", ahead)
    parsed: list[int] = []
    locked_after: list[int] = []
    real_parse, real_lock = pipeline.parse, pipeline.repository.lock_ingest

    def counting_parse(*args: Any, **kw: Any) -> Any:
        for item in real_parse(*args, **kw):
            parsed.append(1)
            yield item

    monkeypatch.setattr(pipeline, "parse", counting_parse)
    monkeypatch.setattr(pipeline.repository, "lock_ingest",
                        lambda session: (locked_after.append(len(parsed)), real_lock(session))[1])
    result = import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(1000), "good.json"))
    assert (result.objects, locked_after, len(parsed)) == (1000, [parsed_at_lock], 1000)

    objects = ip_indicators(1000, start=1000)
    objects[250]["confidence"] = 101
    parsed.clear()
    locked_after.clear()
    before = counts(engine)
    with pytest.raises(InvalidInput, match="object 250 .*confidence 101 must be an integer from 0 to 100"):
        import_as(world, "vendor", bundle_file(tmp_path, objects, "bad.json"))
    assert (locked_after, len(parsed)) == ([] if ahead > 250 else [ahead], 250)
    assert counts(engine) == before


# ---------------------------------------------------------------- crash safety

CRASH_OBJECTS = 20_000
KILL_AFTER_ROWS = 6_000  # three batches of 2000 inserted, uncommitted, when the process dies

CRASH_SCRIPT = r"""
import sys
from pathlib import Path

from sqlalchemy import text

from cyberfusion.config import get_settings
from cyberfusion.db import make_engine, make_sessionmaker, transaction
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.partners import repository, service
from cyberfusion.sharing.handling import HandlingSpec

factory = make_sessionmaker(make_engine(get_settings().effective_database_url))
member_id, path = int(sys.argv[1]), Path(sys.argv[2])
with transaction(factory) as s:
    viewer = service.resolve_viewer(s, repository.member_by_id(s, member_id))
    if s.get_bind().dialect.name == "postgresql":
        print("backend", s.execute(text("SELECT pg_backend_pid()")).scalar_one(), flush=True)

    def progress(n):
        # Rows this transaction has written so far (visible to itself only).
        print("progress", n, s.execute(text("SELECT count(*) FROM stix_objects")).scalar_one(), flush=True)

    print("started", flush=True)
    import_file(s, viewer=viewer, path=path, fmt="stix", spec=HandlingSpec(tlp="green"), progress=progress)
print("committed", flush=True)
"""


def worker_pids(importer_pid: int, *, wait: float = 0) -> list[int]:
    """Ingest worker processes of this importer still running (after up to ``wait`` seconds)."""
    from cyberfusion.ingest.worker import IMPORTER_ARG

    mark = f"{IMPORTER_ARG}{importer_pid}".encode()
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and mark in (entry / "cmdline").read_bytes().split(b"\0"):
                    if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(entry.name))
            except OSError:
                continue
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def _wait_for_backend_exit(engine, pid: int) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL rolls back once it notices the client is gone; wait for that before reading."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError(f"PostgreSQL backend {pid} of the killed importer is still there")


def test_killed_import_leaves_no_trace(world, engine, tmp_path) -> None:
    path = bundle_file(tmp_path, ip_indicators(CRASH_OBJECTS), "large.json")
    audit_before = counts(engine)["audit_log"]
    env = {**os.environ, "PYTHONPATH": str(SRC),
           "CFC_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    stderr_path = tmp_path / "importer.err"
    with stderr_path.open("w") as stderr_file:  # a file, not a pipe: nothing can block the child
        proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(world.members["vendor"]), str(path)],
                                env=env, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
    watchdog = threading.Timer(60, proc.kill)  # a hung child must not hang the suite
    watchdog.start()
    backend, written, lines, workers = None, 0, [], []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            word, *numbers = line.split()
            if word == "backend":
                backend = int(numbers[0])
            elif word == "progress" and int(numbers[1]) >= KILL_AFTER_ROWS:
                written = int(numbers[1])
                workers = worker_pids(proc.pid)
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait()
        watchdog.cancel()
        proc.stdout.close()  # type: ignore[union-attr]
    stderr = stderr_path.read_text()
    assert written >= KILL_AFTER_ROWS, f"the importer ended before it was killed: {lines[-3:]} {stderr[-2000:]}"
    assert "committed" not in lines
    assert proc.returncode == -signal.SIGKILL
    if engine.dialect.name == "postgresql":
        assert backend is not None
        _wait_for_backend_exit(engine, backend)

    assert nothing_stored(engine) == NONE_STORED
    assert counts(engine)["audit_log"] == audit_before
    with world.factory() as s:
        report = verify(s)
    assert (report.ok, report.entries) == (True, audit_before)
    # The file is large enough for the ingest worker (alive at the kill, or done with the file
    # already), which does not outlive its killed importer (see also tests/ingest/test_worker.py).
    assert path.stat().st_size >= pipeline.PARALLEL_MIN_BYTES and len(workers) <= 1
    assert worker_pids(proc.pid, wait=10) == []

    result = import_as(world, "vendor", path)
    assert (result.created, result.objects, result.skipped_versions, result.observables) == (
        True, CRASH_OBJECTS, 0, CRASH_OBJECTS)
    c = counts(engine)
    assert (c["contributions"], c["stix_objects"], c["observables"], c["audit_log"]) == (
        1, CRASH_OBJECTS, CRASH_OBJECTS, audit_before + 1)
    with world.factory() as s:
        report = verify(s)
    assert (report.ok, report.entries) == (True, audit_before + 1)


# ---------------------------------------------------------------- dry run


def test_dry_run_reports_every_bad_object_and_writes_nothing(world, engine, tmp_path) -> None:
    objects = ip_indicators(10)
    del objects[2]["pattern"]
    objects[5]["id"] = "indicator--not-a-uuid"
    objects[8]["valid_until"] = "2020-01-01T00:00:00Z"
    path = bundle_file(tmp_path, objects, "three-bad.json")
    before = counts(engine)

    result = import_as(world, "vendor", path, dry_run=True)

    good = [o["id"] for i, o in enumerate(objects) if i not in (2, 5, 8)]
    assert (result.contribution_id, result.created, result.dry_run, result.objects) == (None, False, True, len(good))
    assert result.problems == [
        Problem("required property pattern is missing", "three-bad.json", f"object 2 ({objects[2]['id']})",
                "pattern"),
        Problem("id 'indicator--not-a-uuid' must be <type>--<UUID> with an RFC 4122 UUID", "three-bad.json",
                "object 5 (indicator--not-a-uuid)", "id"),
        Problem("valid_until (2020-01-01T00:00:00Z) must be later than valid_from (2026-10-01T00:00:00Z)",
                "three-bad.json", f"object 8 ({objects[8]['id']})", "valid_until"),
    ]
    assert counts(engine) == before
    assert nothing_stored(engine) == NONE_STORED


# ---------------------------------------------------------------- per-object handling


def test_red_marked_object_in_a_green_contribution_is_red(world, engine, tmp_path) -> None:
    path = bundle_file(tmp_path, [indicator("ipv4-addr", "203.0.113.1"),
                                  indicator("ipv4-addr", "203.0.113.2", marking=TLP2_RED)], "mixed.json")
    result = import_as(world, "vendor", path, spec=HandlingSpec(tlp="green"))
    assert result.objects == 2

    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT o.name, h.tlp, h.recipients FROM stix_objects o JOIN handling h ON h.id = o.handling_id "
            "ORDER BY o.name")).all()
    assert [tuple(r) for r in rows] == [("test 203.0.113.1", 1, ""),
                                        ("test 203.0.113.2", 4, f",{world.orgs['vendor']},")]

    def found(key: str) -> list[str]:
        viewer = world.viewer(key)
        with transaction(world.factory) as s:
            return sorted(i["name"] for i in intel.search(s, viewer=viewer, purpose="investigation",
                                                          q="203.0.113").items)

    assert found("vendor") == ["test 203.0.113.1", "test 203.0.113.2"]
    for other in ("bank", "analyst", "le_gb"):
        assert found(other) == ["test 203.0.113.1"], other


# ---------------------------------------------------------------- CSV and text lists


def observables(engine) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT o.kind, o.value, s.type FROM observables o JOIN stix_objects s ON s.stix_id = o.stix_id "
            "ORDER BY o.kind, o.value"))]


EXPECTED_LIST_OBSERVABLES = [
    ("domain-name", "evil.example.com", "indicator"),
    ("ipv4-addr", "198.51.100.23", "indicator"),
    ("md5", "d41d8cd98f00b204e9800998ecf8427e", "indicator"),
    ("url", "http://evil.example.com/login", "indicator"),
]


def test_csv_import_stores_one_indicator_per_good_line(world, engine, tmp_path) -> None:
    path = tmp_path / "iocs.csv"
    path.write_text("value,type,description\n"
                    "evil[.]example[.]com,,phishing domain\n"
                    "hxxp://evil[.]example[.]com/login,,\n"
                    "# a comment\n"
                    "198.51.100.23,ip,\n"
                    "D41D8CD98F00B204E9800998ECF8427E,md5,\n"
                    "evil.example.com,domain,the same domain again\n")
    result = import_as(world, "vendor", path, fmt="csv")
    assert (result.objects, result.skipped_versions, result.observables) == (4, 0, 4)
    assert observables(engine) == EXPECTED_LIST_OBSERVABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT source_format, object_count FROM contributions")).one() == ("csv", 4)


def test_text_import_stores_one_indicator_per_good_line(world, engine, tmp_path) -> None:
    path = tmp_path / "iocs.txt"
    path.write_text("# indicator list\n"
                    "evil[.]example[.]com   # phishing\n"
                    "\n"
                    "hxxp://evil[.]example[.]com/login\n"
                    "198[.]51[.]100[.]23\n"
                    "d41d8cd98f00b204e9800998ecf8427e\n"
                    "EVIL.example.com\n")
    result = import_as(world, "vendor", path, fmt="text")
    assert (result.objects, result.skipped_versions, result.observables) == (4, 0, 4)
    assert observables(engine) == EXPECTED_LIST_OBSERVABLES


def test_bad_csv_line_fails_the_whole_import(world, engine, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("value,type\n"
                    "evil[.]example[.]com,\n"
                    "198.51.100.23,ip\n"
                    "not an indicator,\n"
                    "d41d8cd98f00b204e9800998ecf8427e,md5\n")
    before = counts(engine)
    with pytest.raises(InvalidInput) as caught:
        import_as(world, "vendor", path, fmt="csv")
    assert str(caught.value) == "bad.csv, line 4: field 'value': not a recognised indicator: 'not an indicator'"
    assert caught.value.problems[0].location == "line 4"
    assert counts(engine) == before
    assert nothing_stored(engine) == NONE_STORED


# ---------------------------------------------------------------- permission gates


@pytest.fixture
def phishing_only(world):  # type: ignore[no-untyped-def]
    """A partner whose agreement covers contributing phishing intelligence only."""
    today = date.today()
    with transaction(world.factory) as s:
        org = partners.create_organisation(s, name="Phish Watch", kind="private", sector="other", country="IE")
        partners.vet_organisation(s, org=org, decision="approved", reviewer="vetting@host.example")
        partners.add_agreement(s, org=org, reference="DSA-phish", valid_from=today - timedelta(days=1),
                               valid_until=today + timedelta(days=30), tlp_ceiling="amber",
                               contribute=["phishing"], receive=["phishing"], purposes=["investigation"])
        member = partners.add_member(s, email="phish@example.org", name="phish", org=org, roles=["contributor"])
        world.members["phish"] = member.id
    return world


@pytest.mark.parametrize(("member", "category", "message"), [
    ("bank_admin", None, "contributing needs the contributor or analyst role"),
    ("uni", None, "contributing needs the contributor or analyst role"),
    ("expired", None, "your organisation may not contribute (vetting or agreement not in force)"),
    ("phish", "malware", "your agreement does not cover contributing 'malware' intelligence"),
])
def test_permission_gates(phishing_only, engine, tmp_path, member: str, category: str | None,
                          message: str) -> None:
    world = phishing_only
    path = bundle_file(tmp_path, ip_indicators(3), "gated.json")
    before = counts(engine)
    with pytest.raises(Forbidden) as caught:
        import_as(world, member, path, spec=HandlingSpec(tlp="green", category=category))
    assert str(caught.value) == message
    # The gate stands before the file is looked at: a missing file is still Forbidden.
    with pytest.raises(Forbidden):
        import_as(world, member, tmp_path / "missing.json", spec=HandlingSpec(tlp="green", category=category))
    assert counts(engine) == before


def test_category_inside_the_agreement_is_accepted(phishing_only, engine, tmp_path) -> None:
    result = import_as(phishing_only, "phish", bundle_file(tmp_path, ip_indicators(3)),
                       spec=HandlingSpec(tlp="green", category="phishing"))
    assert (result.created, result.objects) == (True, 3)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT category FROM contributions")).scalar_one() == "phishing"


# ---------------------------------------------------------------- the collector


def test_import_freezes_the_older_heap_only_while_it_runs(world, engine, tmp_path, monkeypatch) -> None:
    """The older heap is frozen during the import (full collections skip it) and thawed afterwards,
    also when the import fails; a heap frozen by someone else stays frozen."""
    import gc

    seen: list[int] = []
    real_after_import = pipeline.correlate.after_import

    def after_import(session, **kw):  # type: ignore[no-untyped-def]
        seen.append(gc.get_freeze_count())
        return real_after_import(session, **kw)

    monkeypatch.setattr(pipeline.correlate, "after_import", after_import)
    assert gc.get_freeze_count() == 0
    assert import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(3))).objects == 3
    assert seen[0] > 0 and gc.get_freeze_count() == 0
    bad = bundle_file(tmp_path, ip_indicators(2) + [{"type": "indicator", "id": "nope"}])
    with pytest.raises(InvalidInput):
        import_as(world, "vendor", bad)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        assert import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(2, start=10))).objects == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_import_raises_the_young_collection_threshold_only_while_it_runs(world, engine, tmp_path,
                                                                        monkeypatch) -> None:
    """The collector's first threshold is IMPORT_GC_THRESHOLD during the import and the caller's
    afterwards, also when the import fails; a higher one is left alone."""
    import gc

    seen: list[tuple[int, int, int]] = []
    real_after_import = pipeline.correlate.after_import

    def after_import(session, **kw):  # type: ignore[no-untyped-def]
        seen.append(gc.get_threshold())
        return real_after_import(session, **kw)

    monkeypatch.setattr(pipeline.correlate, "after_import", after_import)
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(3))).objects == 3
        assert seen == [(pipeline.IMPORT_GC_THRESHOLD, 10, 10)] and gc.get_threshold() == (700, 10, 10)
        bad = bundle_file(tmp_path, ip_indicators(2) + [{"type": "indicator", "id": "nope"}])
        with pytest.raises(InvalidInput):
            import_as(world, "vendor", bad)
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(pipeline.IMPORT_GC_THRESHOLD * 2, 20, 20)
        assert import_as(world, "vendor", bundle_file(tmp_path, ip_indicators(2, start=10))).objects == 2
        higher = (pipeline.IMPORT_GC_THRESHOLD * 2, 20, 20)
        assert seen[-1] == higher and gc.get_threshold() == higher
    finally:
        gc.set_threshold(*before)


def test_indexed_columns_of_stored_objects(world, engine, tmp_path) -> None:
    """name, search_text and the timestamps as the importer derives them (an empty name stays empty)."""
    from sqlalchemy import select

    from cyberfusion.intel.models import Observable, StixObject

    t0 = "2026-10-01T00:00:00.000Z"
    unnamed = {"type": "malware", "spec_version": "2.1", "id": "malware--6b3cc7e5-32b8-4b35-a8d0-3c4b8e7cb3a1",
               "created": t0, "modified": "2026-10-02T00:00:00Z", "name": "", "is_family": False,
               "description": ["not", "text"]}
    ind = dict(indicator("ipv4-addr", "192.0.2.7"), name="Evil Name", description="Some DESC",
               valid_from="2026-09-30T12:00:00Z", confidence=85, revoked=True)
    result = import_as(world, "vendor", bundle_file(tmp_path, [unnamed, ind]))
    assert (result.objects, result.observables) == (2, 1)
    with world.factory() as s:
        rows = {r.type: r for r in s.scalars(select(StixObject))}
        obs = s.scalars(select(Observable)).one()
    m, i = rows["malware"], rows["indicator"]
    assert (m.name, m.search_text, m.confidence, m.revoked) == ("", None, None, False)
    assert (m.created.isoformat(), m.modified.isoformat(), m.valid_from) == (
        "2026-10-01T00:00:00+00:00", "2026-10-02T00:00:00+00:00", None)
    assert (i.name, i.search_text, i.confidence, i.revoked) == (
        "Evil Name", "evil name some desc [ipv4-addr:value = '192.0.2.7']", 85, True)
    assert i.valid_from.isoformat() == "2026-09-30T12:00:00+00:00"
    assert (obs.kind, obs.value, obs.range_start, obs.range_end, obs.seen_at.isoformat()) == (
        "ipv4-addr", "192.0.2.7", "00000000000000000000ffffc0000207", "00000000000000000000ffffc0000207",
        "2026-09-30T12:00:00+00:00")


def test_import_widens_the_sqlite_page_cache_only_while_it_runs(world, engine, tmp_path, monkeypatch) -> None:
    from cyberfusion.intel import repository

    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    seen: list[int] = []
    real_after_import = pipeline.correlate.after_import

    def after_import(session, **kw):  # type: ignore[no-untyped-def]
        seen.append(session.execute(text("PRAGMA cache_size")).scalar_one())
        return real_after_import(session, **kw)

    monkeypatch.setattr(pipeline.correlate, "after_import", after_import)
    viewer = world.viewer("vendor")
    with transaction(world.factory) as s:
        s.execute(text("PRAGMA cache_size = -3000"))
        import_file(s, viewer=viewer, path=bundle_file(tmp_path, ip_indicators(3)), fmt="stix",
                    spec=HandlingSpec(tlp="green"))
        assert s.execute(text("PRAGMA cache_size")).scalar_one() == -3000
        with pytest.raises(InvalidInput):
            import_file(s, viewer=viewer, path=bundle_file(tmp_path, [{"type": "indicator", "id": "x"}]),
                        fmt="stix", spec=HandlingSpec(tlp="green"))
        assert s.execute(text("PRAGMA cache_size")).scalar_one() == -3000
    assert seen == [-repository.IMPORT_CACHE_KIB]


# ---------------------------------------------------------------- stored form and handling, differential


def test_each_object_gets_the_handling_its_own_markings_and_hints_give(world, engine, tmp_path) -> None:
    """The importer works its handling out once per distinct (markings, TLP hint, distribution):
    every stored object still has exactly the handling _object_spec gives it on its own (a MISP
    event with every distribution level and TLP tag, and STIX objects with and without markings)."""
    from sqlalchemy import select

    from cyberfusion.ingest.misp import iter_misp
    from cyberfusion.intel.models import StixObject
    from cyberfusion.sharing.handling import handling_row
    from testdata import CONFORMANCE

    event = CONFORMANCE / "misp" / "events" / "synthetic-distribution-levels-sharing-group.json"
    stix = bundle_file(tmp_path, [indicator("ipv4-addr", "203.0.113.1"),
                                  indicator("ipv4-addr", "203.0.113.2", marking=TLP2_RED),
                                  indicator("ipv4-addr", "203.0.113.3"),
                                  indicator("ipv4-addr", "203.0.113.4", marking=TLP2_RED)], "mixed.json")
    spec = HandlingSpec(tlp="green")
    for path, fmt, items in ((event, "misp", list(iter_misp(event, file_name=event.name))),
                             (stix, "stix", None)):
        result = import_as(world, "vendor", path, fmt=fmt, spec=spec)
        with transaction(world.factory) as s:
            stored = dict(s.execute(select(StixObject.stix_id, StixObject.handling_id)
                                    .where(StixObject.contribution_id == result.contribution_id)).all())
            if items is None:
                from cyberfusion.ingest.stix import iter_stix
                items = list(iter_stix(path, file_name=path.name))
            expected = {i.obj["id"]: handling_row(s, pipeline._object_spec(spec.validated(), i, world.orgs["vendor"])
                                                  .validated()).id for i in items}
        assert stored == expected
        assert len(set(stored.values())) >= 2  # more than one handling in the file: the case in point


def test_stored_form_is_json_dumps_sorted_compact_of_every_conformance_object() -> None:
    """The canonical text comes from the C encoder built once: byte for byte what
    json.dumps(sort_keys, compact separators, ensure_ascii=False) gives, over the STIX 2.1
    corpus, the ATT&CK bundle and awkward values (floats, control and non-BMP characters)."""
    import json

    from testdata import CONFORMANCE

    objects: list[Any] = [{"f": [1.5, 1e16, 1e-07, -0.0, 123456789.123], "s": "\x00\x1f\x7f\u2028\U0001f600 \"q\" \\",
                           "n": [None, True, False, 2**53], "é": {}, "a": []}]
    for path in sorted((CONFORMANCE / "stix21" / "valid").glob("*.json")) + [CONFORMANCE / "attack" /
                                                                             "ics-attack-18.1.json"]:
        data = json.loads(path.read_text(encoding="utf-8"))
        objects += data.get("objects", [data])
    assert len(objects) > 1000
    for obj in objects:
        assert canonical(obj) == json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False)
