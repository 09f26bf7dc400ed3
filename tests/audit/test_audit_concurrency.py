"""Concurrent appends keep one chain: each writer reads the head only once it holds the lock."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, text

from cyberfusion.audit import service as audit
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction


def test_four_threads_appending_at_once_make_one_unbroken_chain(factory):
    """Before the head was read under the write lock, SQLite chained two entries onto the same
    head within the first dozen of 1,200 appends (the driver runs reads before a transaction's
    first write outside any transaction)."""
    failures: list[str] = []

    def append(worker: int) -> None:
        for i in range(40):
            try:
                with transaction(factory) as s:
                    s.execute(text("SELECT 1"))  # a read first, as every audited read does
                    audit.record(s, action="test.append", detail={"worker": worker, "i": i})
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(repr(exc))

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 160
        assert len(set(s.scalars(select(AuditEntry.prev_hash)))) == 160  # no two on the same head
        assert audit.verify(s).ok
