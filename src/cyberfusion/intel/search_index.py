"""The free-text search index on SQLite, brought up to date after imports by a job.

Indexing inside the import (an FTS5 trigger per inserted row) was about a sixth of an import's
CPU, spent while it held SQLite's one write lock. Now an import leaves its rows above the index's
watermark (migration 0901) and queues one ``search.index`` job; the job indexes the rows above
it a bounded step per transaction, so its lock is short too. Searches never wait for it: the
rows above the watermark are tested directly (``intel.repository._text_candidates``), so a
search gives the same answer before, during and after the job. PostgreSQL keeps its GIN index
up to date in the inserting statement: nothing to do there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.intel import repository

JOB_KIND = "search.index"
# Rows one job run indexes: one transaction holding the write lock; the rest is queued as the
# next run. FTS5 insert of the load benchmark's rows into a 200k-row index (2026-11-27, busy
# machine): 20,000 rows 99 ms CPU / 235 ms wall, 2,000 rows 19 / 98 ms, 100 rows 1.3 / 13 ms:
# 20,000 a run made API writes behind it wait that long after a large import.
JOB_STEP = 2_000
# catch_up (one transaction, no one waiting behind it by design): larger statements, fewer segments.
CATCH_UP_STEP = 20_000


def after_import(session: Session) -> None:
    """The import pipeline's hook: queue one ``search.index`` job in the import's transaction
    (one waiting job serves every import before it)."""
    if not repository.search_index_deferred(session):
        return
    from cyberfusion.jobs import handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.jobs.service import enqueue

    enqueue(session, kind=JOB_KIND, unique=True)


def index_step(session: Session, *, limit: int | None = None) -> dict[str, Any]:
    """One run of the job: index up to ``limit`` rows (JOB_STEP), and queue the next run if more
    are left."""
    indexed, done = repository.index_search_rows(session, limit=JOB_STEP if limit is None else limit)
    if not done:
        from cyberfusion.jobs.service import enqueue

        enqueue(session, kind=JOB_KIND, unique=True)
    return {"indexed": indexed, "done": done}


def catch_up(session: Session) -> int:
    """Index every row waiting for the job, now, in the caller's transaction (tools, tests)."""
    total = 0
    while True:
        indexed, done = repository.index_search_rows(session, limit=CATCH_UP_STEP)
        total += indexed
        if done:
            return total
