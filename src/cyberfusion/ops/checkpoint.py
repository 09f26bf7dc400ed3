"""SQLite: checkpoint the write-ahead log in the background, off the request path.

SQLite copies the log back into the database file ("checkpoint") when a commit finds the log
past ``wal_autocheckpoint`` pages (1,000 by default), in the thread of that commit: copying and
syncing the file took 3-4 ms on this machine. A one-value lookup writes about 14 pages (its row,
its audit entry and their indexes), so one lookup in ~70 paid for it — about the 99th
percentile of lookup latency (benchmarks/lookup.py). The server therefore raises the threshold
of its request connections to a safety net and checkpoints from a thread of its own every
``interval`` seconds (PASSIVE: it never waits for readers or writers, and sqlite3 releases the
GIL while it copies). Other processes (the CLI, ``cfc worker``) keep SQLite's default.

The same thread refreshes the query planner's statistics (``ANALYZE`` sampling at most 1,000 rows
per index, ~10 ms at 200k objects) at start and every ``analyze_every`` seconds. Without them
SQLite guessed that "contribution in (readable contributions)" was the narrowest index of a
search and walked every readable observable instead of the one value asked: 35-45 ms per
search at 200k objects, growing with the store; 2-3 ms with them (2026-11-27).

While the log grows, the thread checkpoints every ``BUSY_SECONDS`` instead of every ``interval``:
under the load test's traffic at 1M (200 lookups/s, ~14 pages each) the log grew ~3,000 pages a
second, so with one checkpoint a second up to ~3,000 pages were still to copy when a commit took
the log past the request connections' threshold, and that commit copied them itself, holding the
write lock 100-580 ms while every other writer waited (benchmarks/load.py --trace-lock with the
log's header sampled, 2026-11-27; docs/operations.md). An idle log costs nothing more.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from cyberfusion.writelock import begin_immediate

log = logging.getLogger("cyberfusion.db")

# Request connections still checkpoint themselves past this many pages (40 MiB): only if the
# thread below stopped or fell far behind.
REQUEST_AUTOCHECKPOINT_PAGES = 10_000
# Rows ANALYZE samples per index: enough for the planner to tell a selective index from a wide one.
ANALYSIS_LIMIT = 1000
# The pace while the log grows (see above); at most the configured interval.
BUSY_SECONDS = 0.1


def next_wait(before: tuple[int, int, int] | None, after: tuple[int, int, int] | None, *, interval: float) -> float:
    """Seconds until the next checkpoint: ``BUSY_SECONDS`` when the log changed since the one
    before (frames written or copied: writers are at work), else ``interval``."""
    if after is None or after == before or after[1] == 0:
        return interval
    return min(interval, BUSY_SECONDS)


class WalCheckpointer:
    def __init__(self, engine: Engine, *, interval: float, analyze_every: float = 600.0) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("only SQLite has a write-ahead log to checkpoint")
        self.engine, self.interval, self.analyze_every = engine, interval, analyze_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _raise_threshold(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # Once per pooled connection (the pragma is per connection), on its first checkout here.
        if not record.info.get("cfc_wal_threshold"):
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={REQUEST_AUTOCHECKPOINT_PAGES}")
            record.info["cfc_wal_threshold"] = True

    def start(self) -> None:
        event.listen(self.engine, "checkout", self._raise_threshold)
        self._thread = threading.Thread(target=self._run, name="cfc-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        event.remove(self.engine, "checkout", self._raise_threshold)
        self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """(busy, frames in the log, frames checkpointed) of one PASSIVE checkpoint; None on error
        (logged: the next round, or a request connection past its threshold, catches up)."""
        try:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").first()
            return (int(row[0]), int(row[1]), int(row[2])) if row else None
        except Exception as exc:  # noqa: BLE001 - a background chore must not die of one failure
            log.warning("WAL checkpoint failed: %s", exc)
            return None

    def analyze(self) -> bool:
        """Refresh the planner's statistics (sampled); False on error (logged)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
                begin_immediate(conn.connection.dbapi_connection)  # it writes: its turn among the writers
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
            return True
        except Exception as exc:  # noqa: BLE001 - stale statistics are slower, never wrong
            log.warning("ANALYZE failed: %s", exc)
            return False

    def _run(self) -> None:
        self.analyze()
        analyzed = time.monotonic()
        state: tuple[int, int, int] | None = None
        wait = self.interval
        while not self._stop.wait(wait):
            before, state = state, self.checkpoint()
            wait = next_wait(before, state, interval=self.interval)
            if time.monotonic() - analyzed >= self.analyze_every:
                self.analyze()
                analyzed = time.monotonic()


__all__ = ["WalCheckpointer", "REQUEST_AUTOCHECKPOINT_PAGES", "BUSY_SECONDS", "next_wait"]
