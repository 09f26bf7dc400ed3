"""The search.index job (migration 0901, intel.search_index): on SQLite an import leaves its rows
above the index's watermark and the job indexes them later. A search gives the same answer at
every position of the watermark; rows deleted or changed before the job reached them, and a pk
reused below the watermark, leave the index whole. PostgreSQL indexes in the insert: the job
has nothing to do there and every answer is the same."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text, update

from cyberfusion.db import transaction, utcnow
from cyberfusion.intel import repository, retention, search_index
from cyberfusion.intel.models import StixObject
from cyberfusion.jobs import service as jobs
from cyberfusion.jobs.models import Job
from cyberfusion.sharing.handling import HandlingSpec
from intel.test_search_index import _candidate_names, _integrity_ok, _intel_names, malware

# name, description: one import each, in this order
OBJECTS = [("Heron loader", "drops heron.dll"), ("Egret", "phishing kit, heron themed"), ("Ibis", None),
           ("Heron twin", "second heron"), ("Stork", "targets banks"), ("Crane 100%", "50% off lures")]
QUERIES = ["heron", "HERON", "her", "eg", "egret", "banks", "100%", "% off", "twin", "nothing here", "o"]


def _import_all(world, tmp_path, **spec):
    from sharing.helpers import contribute

    return [contribute(world, tmp_path, "vendor", [malware(n, d)], HandlingSpec(tlp="clear", **spec))
            for n, d in OBJECTS]


def _expected(query):
    needle = query.lower()
    return [n for n, d in reversed(OBJECTS) if needle in " ".join(x for x in (n, d) if x).lower()]


def _lag(world):
    with world.factory() as s:
        return repository.search_index_lag(s)


def _queued(world):
    with world.factory() as s:
        return s.scalar(select(func.count()).select_from(Job).where(Job.kind == search_index.JOB_KIND,
                                                                   Job.status == "queued"))


def _fts_names(world, query):
    """The index alone (SQLite): which objects it holds the text of."""
    with world.factory() as s:
        pks = list(s.scalars(text("SELECT rowid FROM stix_objects_search WHERE stix_objects_search MATCH :q"),
                             {"q": f'"{query}"'}))
        return sorted(s.scalars(select(StixObject.name).where(StixObject.pk.in_(pks))))


def test_search_is_the_same_at_every_position_of_the_watermark(world, tmp_path, monkeypatch):
    _import_all(world, tmp_path)
    sqlite = world.factory().get_bind().dialect.name == "sqlite"
    assert _lag(world) == (len(OBJECTS) if sqlite else 0)
    assert _queued(world) == (1 if sqlite else 0)  # one waiting job serves every import
    for step in range(len(OBJECTS) + 1):
        for query in QUERIES:
            assert _intel_names(world, query) == _expected(query), (step, query)
            assert _intel_names(world, query, limit=1) == _expected(query), (step, query)
        with monkeypatch.context() as m:  # the plain substring test, no index at all
            m.setattr(repository, "INDEXED_MIN_CHARS", 10**6)
            assert {q: _intel_names(world, q) for q in QUERIES} == {q: _expected(q) for q in QUERIES}
        if sqlite:
            assert _fts_names(world, "heron") == sorted(n for n, _d in OBJECTS[:step] if "heron" in n.lower()
                                                        or "heron" in (_d or ""))
        with transaction(world.factory) as s:
            indexed, done = repository.index_search_rows(s, limit=1)
        assert (indexed, done) == ((1, step >= len(OBJECTS) - 1) if sqlite and step < len(OBJECTS) else (0, True))
        assert _lag(world) == (max(0, len(OBJECTS) - step - 1) if sqlite else 0)
        _integrity_ok(world)


def test_the_job_indexes_a_step_per_run_and_queues_the_rest(world, tmp_path, monkeypatch):
    _import_all(world, tmp_path)
    if world.factory().get_bind().dialect.name != "sqlite":
        with transaction(world.factory) as s:
            assert search_index.index_step(s) == {"indexed": 0, "done": True}
        return
    monkeypatch.setattr(search_index, "JOB_STEP", 4)
    assert jobs.run_batch(world.factory, worker="w", kinds=[search_index.JOB_KIND]) == 1
    assert (_lag(world), _queued(world)) == (2, 1)
    assert jobs.run_batch(world.factory, worker="w", kinds=[search_index.JOB_KIND]) == 1
    assert (_lag(world), _queued(world)) == (0, 0)
    assert jobs.run_batch(world.factory, worker="w", kinds=[search_index.JOB_KIND]) == 0
    with world.factory() as s:
        results = sorted(s.scalars(select(Job.result).where(Job.kind == search_index.JOB_KIND)),
                         key=lambda r: -r["indexed"])
    assert results == [{"indexed": 4, "done": False}, {"indexed": 2, "done": True}]
    assert _fts_names(world, "heron") == ["Egret", "Heron loader", "Heron twin"]
    _integrity_ok(world)


def test_rows_deleted_or_changed_before_the_job_reached_them(world, tmp_path):
    now = utcnow()
    results = _import_all(world, tmp_path, expires_at=now + timedelta(days=1))
    with transaction(world.factory) as s:
        repository.index_search_rows(s, limit=2)  # Heron loader and Egret indexed, the rest not
        s.execute(update(StixObject).where(StixObject.contribution_id.in_(
            [results[1].contribution_id, results[3].contribution_id])).values(search_text="renamed heron"))
    assert _candidate_names(world, "renamed") == ["Egret", "Heron twin"]  # one indexed, one not
    assert _candidate_names(world, "second heron") == []
    _integrity_ok(world)
    for later in (timedelta(days=2), timedelta(days=2, minutes=1)):  # every contribution hidden, then deleted
        with transaction(world.factory) as s:
            retention.run(s, grace_days=0, now=now + later)
    assert _candidate_names(world, "heron") == [] and _intel_names(world, "heron") == []
    assert _lag(world) == 0
    _integrity_ok(world)


def test_a_pk_reused_below_the_watermark_is_indexed_at_once(world, tmp_path):
    """SQLite gives a new row the highest pk + 1: after the highest rows are deleted, a new row
    can get a pk the watermark has passed. The insert trigger indexes it then and there."""
    from sharing.helpers import contribute

    now = utcnow()
    contribute(world, tmp_path, "vendor", [malware("Kept", "kept words")], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "vendor", [malware("Gone", "gone words")],
               HandlingSpec(tlp="clear", expires_at=now + timedelta(days=1)))
    with transaction(world.factory) as s:
        search_index.catch_up(s)
        gone_pk = s.scalar(select(StixObject.pk).where(StixObject.name == "Gone"))
    for later in (timedelta(days=2), timedelta(days=2, minutes=1)):
        with transaction(world.factory) as s:
            retention.run(s, grace_days=0, now=now + later)
    contribute(world, tmp_path, "vendor", [malware("Reborn", "reborn words")], HandlingSpec(tlp="clear"))
    with world.factory() as s:
        reborn_pk = s.scalar(select(StixObject.pk).where(StixObject.name == "Reborn"))
    if world.factory().get_bind().dialect.name == "sqlite":
        assert reborn_pk == gone_pk  # the case this test is about
        assert _fts_names(world, "reborn") == ["Reborn"]  # in the index, not waiting for the job
        assert _lag(world) == 0
    assert _intel_names(world, "reborn words") == ["Reborn"] and _intel_names(world, "gone") == []
    _integrity_ok(world)
