"""Group commit: the writes of many requests in one transaction, one write turn, one commit.

SQLite has one write lock (``writelock.py``). At 1M stored and 200 single-value lookups a
second, the lookups' own turns held it about half of the time (docs/operations.md, "Who holds the
lock at 1M"): each a short write stretched by the CPU and the GIL the process shares with every
other request, and every writer of both processes waited behind each one. Here a request hands
its rows to the process's one writer as a function of a session (``submit``) and waits; the
writer takes the write lock once for every request waiting, runs their functions in one
transaction in the order they came, commits once, and then each request answers.

* No extra thread: the first request to arrive while no batch is being written writes the batch
  (its own rows first); when it is done it hands the writing to the oldest request that arrived
  meanwhile, which writes the next batch with its own rows in it.
* A request answers only after the commit of its rows: its function's result is returned once
  the batch committed; if the batch fails, no request of it is answered from it.
* A failed batch does not take the other requests down with it: the transaction is rolled back
  as a whole and each request's function runs again alone, in a transaction of its own; a
  request whose rows fail alone gets that error, the others their results. Nothing is written
  twice (the batch's writes were rolled back) and nothing of another request is lost. A write
  turn that does not come (``database is locked`` after the busy timeout) fails the whole batch
  at once: a retry one by one would only wait again.
* A request that waits longer than ``wait_seconds`` without its batch having started is taken
  out of the queue and refused (``Unavailable``, 503 with Retry-After): never written, never
  answered. Once its batch has started it waits for the end (the writer's own wait for the lock
  is bounded by the connection's busy timeout).

The functions must not change anything outside the session before the commit (they may run
twice: once in the batch, once alone); what they return is what the request uses. A write
whose class has a ``write_together(session, writes)`` is written with the other writes of its
class next to it in the batch by one call of that (``_run``); alone, by a call with it alone.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cyberfusion import writelock
from cyberfusion.db import hold_write_lock
from cyberfusion.errors import Unavailable

T = TypeVar("T")

# At most this many requests' writes in one transaction; later arrivals make the next batch. A
# single-value lookup's rows cost ~0.6-1.2 ms of CPU in a batch (1.1-2.0 alone), so a batch of 32
# holds the lock ~50-80 ms on a busy two-core machine (2026-11-27, docs/fusion.md). At 200
# lookups/s batches stay far smaller: what arrives while one is written.
MAX_BATCH = 32


class _Item(Generic[T]):
    __slots__ = ("write", "event", "state", "result", "error")

    def __init__(self, write: Callable[[Session], T]) -> None:
        self.write = write
        self.event = threading.Event()
        self.state = "queued"  # queued -> writing (in a batch) or leading (writes the next batch) -> done
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.state = result, error, "done"
        self.event.set()


class GroupCommit:
    """One writer per process and database: ``submit(write)`` runs ``write(session)`` in a batch
    transaction with the other requests waiting, and returns its result once that committed."""

    def __init__(self, engine: Engine, *, max_batch: int = MAX_BATCH, wait_seconds: float = 30.0,
                 label: str = "group commit") -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._max_batch = max_batch
        self._wait_seconds = wait_seconds
        self._label = label
        self._mutex = threading.Lock()
        self._queue: deque[_Item[Any]] = deque()
        self._writing = False
        self.batches = 0  # batches committed or failed (for tests and benchmarks)

    def submit(self, write: Callable[[Session], T]) -> T:
        item: _Item[T] = _Item(write)
        with self._mutex:
            self._queue.append(item)
            if not self._writing:
                self._writing = True
                item.state = "leading"
        if item.state != "leading":
            if not item.event.wait(self._wait_seconds):
                with self._mutex:
                    if item.state == "queued":
                        self._queue.remove(item)
                        raise Unavailable("the database is busy (no write turn for this lookup in time); "
                                          "nothing of it was written — retry shortly")
                item.event.wait()  # in a batch being written now, or handed the writing: not long
        if item.state == "leading":
            self._lead()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        """Write one batch (the caller's item is its first), then hand the writing on."""
        with self._mutex:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            for item in batch:
                item.state = "writing"
        try:
            self._write(batch)
        finally:
            for item in batch:
                if item.state != "done":  # only when something like KeyboardInterrupt came through
                    item.finish(error=Unavailable("the lookup's write was interrupted; retry shortly"))
            with self._mutex:
                self.batches += 1
                if self._queue:
                    nxt = self._queue[0]
                    nxt.state = "leading"
                    nxt.event.set()
                else:
                    self._writing = False

    def close(self) -> None:
        """Give the writer's connection back (the app's shutdown); a later batch takes another."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _session(self) -> Session:
        # The writer's own connection, kept between batches: taken from the pool when each batch
        # starts, it could find the pool empty, every connection held by a request waiting for
        # this very batch (15 per process, 40 request threads).
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._engine.connect()
        return Session(bind=self._conn, expire_on_commit=False)

    def _write(self, batch: list[_Item[Any]]) -> None:
        if not self._write_together(batch, self._label):
            for item in batch:  # the batch failed: each alone, in its own transaction
                self._write_together([item], self._label + " (alone)")

    def _write_together(self, batch: list[_Item[Any]], label: str) -> bool:
        """One write turn, one transaction and one commit for the batch. True when every item is
        finished (with its result, or with the error of a failed write turn or of its own rows);
        False when the writes of a batch of several failed and were rolled back, none finished."""
        session = self._session()
        try:
            with writelock.holder(label):
                try:
                    hold_write_lock(session)  # the one write turn of the batch (SQLite)
                except Exception as exc:  # no turn in time: retrying one by one would wait again
                    session.rollback()
                    error = exc
                    if isinstance(exc, OperationalError):  # no write turn (db.hold_write_lock)
                        error = Unavailable(f"the database is busy ({exc.orig}); nothing of this request was "
                                            "written — retry shortly")
                    for item in batch:
                        item.finish(error=error)
                    return True
                try:
                    results = _run(session, batch)
                    session.commit()
                except Exception as exc:
                    session.rollback()
                    if len(batch) > 1:
                        return False
                    batch[0].finish(error=exc)
                    return True
                for item, result in zip(batch, results):
                    item.finish(result)
                return True
        finally:
            session.close()


def _run(session: Session, batch: list[_Item[Any]]) -> list[Any]:
    """Each item's write in order; consecutive writes of one class that has a ``write_together``
    (``cls.write_together(session, writes) -> results``, each as its write alone would give)
    by one call of it: one statement per kind of row for them all, so the write turn makes
    fewer calls into SQLite, each of which gives up the GIL and waits to take it back while the
    process's other threads run (the turn's time under load, docs/operations.md)."""
    results: list[Any] = []
    i = 0
    while i < len(batch):
        write = batch[i].write
        together = getattr(type(write), "write_together", None)
        j = i + 1
        if together is None:
            results.append(write(session))
        else:
            while j < len(batch) and type(batch[j].write) is type(write):
                j += 1
            results.extend(together(session, [item.write for item in batch[i:j]]))
        i = j
    return results


__all__ = ["GroupCommit", "MAX_BATCH"]
