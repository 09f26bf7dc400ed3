"""A large run's worker process (products.worker) makes the same reports, records, files and audit
entries as the caller's process alone; if it fails, the caller makes its reports."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import products_fixture as fx
import pytest
from sqlalchemy import select

from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction
from cyberfusion.products import country_index, service, worker

AT = datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC)


def _run(world, monkeypatch, *, min_rows: int):
    ids = itertools.count(1)
    monkeypatch.setattr(service.uuid, "uuid4", lambda: uuid.UUID(int=next(ids)))
    monkeypatch.setattr(service, "utcnow", lambda: AT)
    monkeypatch.setattr(worker, "MIN_ROWS", min_rows)
    with world.factory() as s:  # rolled back: each run makes the same ids
        before = s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
        batch = service.generate(s, viewer=world.viewer("analyst"), period="2026-10", all_countries=True, k=1,
                                 formats=("html", "stix", "csv"))
        audit = [(a.action, a.detail, a.object_ids, a.purpose)
                 for a in s.scalars(select(AuditEntry).where(AuditEntry.id > before).order_by(AuditEntry.id))]
        records = [(g.record.id, g.record.country, g.record.item_count, g.record.summary, g.record.sources,
                    g.record.tlp) for g in batch.reports]
        s.rollback()
    files = [(g.record.id, g.files) for g in batch.reports]
    rows = [{k: v for k, v in r.items()} for r in batch.summary_rows()]
    reports = [(g.report.country, g.report.size(), g.report.counts(), g.report.summary()) for g in batch.reports]
    items = [g.report.items for g in batch.reports]  # unpacked last (a worker's are packed until read)
    return files, rows, reports, audit, records, items


@pytest.fixture
def indexed(world, tmp_path):
    """The products fixture, country-indexed, on SQLite (the only backend the worker is used on)."""
    fx.build(world, tmp_path)
    with transaction(world.factory) as s:
        if s.get_bind().dialect.name != "sqlite":
            pytest.skip("the worker is used on SQLite only")
        country_index.ensure_indexed(s)


def test_a_worker_process_makes_the_same_reports(indexed, world, monkeypatch):
    made_by_worker = []
    results = worker.results
    monkeypatch.setattr(worker, "results", lambda shared: made_by_worker.append(results(shared)) or made_by_worker[-1])
    alone = _run(world, monkeypatch, min_rows=10**9)
    assert made_by_worker == []
    shared = _run(world, monkeypatch, min_rows=0)
    assert made_by_worker and made_by_worker[0], "the worker made no report"
    assert isinstance(next(g for g in shared[5] if g is not None), list)
    assert shared == alone
    assert sum(len(f) for _id, f in alone[0]) >= 6 and any(alone[5])


def test_a_failed_worker_leaves_its_reports_to_the_caller(indexed, world, monkeypatch):
    alone = _run(world, monkeypatch, min_rows=10**9)
    monkeypatch.setattr(worker, "_BOOT", "import sys; sys.exit(3)")
    assert _run(world, monkeypatch, min_rows=0) == alone


def test_no_worker_once_the_transaction_has_written(world, tmp_path, monkeypatch):
    fx.build(world, tmp_path)  # not indexed yet: generate indexes first, in its transaction
    started = []
    monkeypatch.setattr(worker.subprocess, "Popen", lambda *a, **k: started.append(a) or 1 / 0)
    _run(world, monkeypatch, min_rows=0)
    assert started == []


def test_the_worker_is_stopped_when_the_run_fails(indexed, world, monkeypatch):
    stopped = []
    stop = worker.stop
    monkeypatch.setattr(worker, "stop", lambda shared: stopped.append(shared) or stop(shared))

    def fail(*a, **k):
        raise RuntimeError("rendering failed")
    monkeypatch.setattr(service, "_files", fail)
    with pytest.raises(RuntimeError, match="rendering failed"):
        _run(world, monkeypatch, min_rows=0)
    assert len(stopped) == 1 and stopped[0].process.returncode is not None
