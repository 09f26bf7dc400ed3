"""SQLite: writers take turns on a lock that wakes the next one when it is released.

SQLite has one write lock. A connection that finds it taken calls the busy handler, which sleeps
on a fixed schedule (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100, 100 … ms) and tries again: a
waiter sleeps past the moment the lock frees, and later arrivals pass it. Under load a queue
formed behind every 100-indicator upload (benchmarks/load.py: lookup p99 549-677 ms at 1M, 200
lookups/s). Python's sqlite3 cannot install another busy handler, so writers of this process
queue here before SQLite's lock instead:

* in the process, a first-come-first-served queue: release hands the lock to the longest waiter
  directly (no sleeping, no barging);
* across processes (``cfc serve --workers N``, ``cfc worker``, CLI commands on the same file),
  ``flock`` on ``<database>-writer`` beside the database. ``flock`` has no timeout, so the one
  waiter of each process polls it every millisecond; a second lock file, ``<database>-writer-gate``,
  taken by that waiter while it polls, stops the holder's process from taking the lock back
  before the other process has had its turn. The kernel drops both when a process dies, so a
  killed writer (SIGKILL) never leaves the lock taken.
* background work (``background()``: the job runner's claims and jobs) waits behind API requests:
  in the process, waiting requests are handed the lock first; across processes, a request that
  waits holds a shared lock on ``<database>-writer-urgent`` and a waiting background writer of
  another process leaves the lock file alone meanwhile. Either way for at most
  BACKGROUND_YIELD_SECONDS, after which the background writer takes the next turn (no
  starvation); first come, first served among writers of one kind. A holder is never preempted.

``CFC_WRITELOCK_TRACE=<file>`` records every write turn of the process (holder, asked, taken,
released) for ``benchmarks/load.py --trace-lock``.

A transaction takes the lock before it first writes (``BEGIN IMMEDIATE`` then, instead of the
deferred ``BEGIN`` sqlite3 would issue) and gives it back when it commits or rolls back. Reads
take no lock. Waiting ends after the connection's busy timeout with SQLite's own "database is
locked" error (503 with Retry-After in the API). SQLite's lock stays the authority: a writer
that does not come through here (another program, DDL, ``WITH … INSERT``) is still serialised by
SQLite, only without the quick hand-over. PostgreSQL connections never use this module.
"""

from __future__ import annotations

import contextvars
import fcntl
import json
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# What sqlite3 treats as DML, i.e. what makes it open a transaction implicitly (CPython's
# Modules/_sqlite/statement.c): the first word after whitespace.
_DML = ("insert", "update", "delete", "replace")
# Polling interval of the one waiter per process on another process's lock.
_POLL_SECONDS = 0.001
# A background writer (background jobs: ``background()``) lets interactive writers (API requests)
# that wait for the lock go first, for at most this long; then it takes the next turn (no
# starvation). Among writers of one kind: first come, first served.
BACKGROUND_YIELD_SECONDS = 0.5

# CFC_WRITELOCK_TRACE=<file>: every write turn of this process appended to <file> as one JSON line
# (who held it, when it was asked for, taken and given back) for benchmarks/load.py --trace-lock.
# Read once at import; off (None), each turn costs one global lookup more.
_TRACE_PATH = os.environ.get("CFC_WRITELOCK_TRACE") or None
_trace_mutex = threading.Lock()
# What the current thread's writes are for, where the call stack does not say (a job's kind).
_holder: contextvars.ContextVar[str | None] = contextvars.ContextVar("cfc_writer", default=None)


_background: contextvars.ContextVar[bool] = contextvars.ContextVar("cfc_background_writer", default=False)


@contextmanager
def background() -> Iterator[None]:
    """Writes made inside the block are background work: waiting API requests get the lock
    before them (for at most BACKGROUND_YIELD_SECONDS)."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


@contextmanager
def holder(label: str) -> Iterator[None]:
    """Name the writes made inside the block in the trace (CFC_WRITELOCK_TRACE); nothing else."""
    token = _holder.set(label)
    try:
        yield
    finally:
        _holder.reset(token)


_NOT_A_HOLDER = ("cyberfusion.writelock", "cyberfusion.db", "cyberfusion.api.deps", "cyberfusion.jobs.")


def _trace_label() -> str:
    """The holder: its ``holder()`` label, else the outermost project function on the stack (the
    endpoint), with the innermost one (where the first write was made)."""
    label = _holder.get()
    frame: Any = sys._getframe(2)
    outer = inner = None
    while frame is not None:
        mod = frame.f_globals.get("__name__", "")
        if mod.startswith("cyberfusion") and not mod.startswith(_NOT_A_HOLDER):
            where = f"{mod[12:]}:{frame.f_code.co_name}"
            inner = inner or where
            outer = where
        frame = frame.f_back
    if label is None:
        label = outer or "?"
    return label if inner is None or inner == label else f"{label} <- {inner}"


def _trace_write(conn: Connection) -> None:
    asked, taken, label = conn._trace
    line = json.dumps({"pid": os.getpid(), "holder": label, "asked": asked, "taken": taken,
                       "released": time.time()}) + "\n"
    with _trace_mutex:
        with open(_TRACE_PATH, "a", encoding="utf-8") as f:  # type: ignore[arg-type]
            f.write(line)


class WriterLock:
    """The write turn of one database file in this process (one object per file: see ``for_path``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[Any] = deque()  # a locked _thread.lock per interactive waiter, oldest first
        self._background: deque[tuple[Any, float]] = deque()  # (lock, monotonic time queued), oldest first
        self._fd: int | None = None
        self._gate: int | None = None
        self._urgent: int | None = None

    # -- in the process: first come, first served, requests before background work ----------

    def acquire(self, timeout: float, *, background: bool = False) -> bool:
        """True once this thread holds the lock (in the process and across processes); False
        after `timeout` seconds without it. A ``background`` writer lets waiting interactive
        ones go first, for at most BACKGROUND_YIELD_SECONDS."""
        deadline = time.monotonic() + timeout
        with self._mutex:
            if not self._busy:
                self._busy = True
                waiter = None
            else:
                waiter = threading.Lock()
                waiter.acquire()
                if background:
                    self._background.append((waiter, time.monotonic()))
                else:
                    self._waiters.append(waiter)
        if waiter is not None and not waiter.acquire(timeout=max(0.0, deadline - time.monotonic())):
            with self._mutex:
                if not self._forget(waiter, background):  # handed over between the timeout and here: ours
                    return False
        try:
            if self._take_files(deadline, background):
                return True
        except BaseException:
            self._hand_over()
            raise
        self._hand_over()
        return False

    def _forget(self, waiter: Any, background: bool) -> bool:
        """Take a timed-out waiter out of its queue; False if it was no longer there (handed the lock)."""
        if background:
            for entry in self._background:
                if entry[0] is waiter:
                    self._background.remove(entry)
                    return False
            return True
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return True
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._hand_over()

    def _hand_over(self) -> None:
        with self._mutex:
            bg = self._background
            if bg and (not self._waiters or time.monotonic() - bg[0][1] >= BACKGROUND_YIELD_SECONDS):
                bg.popleft()[0].release()  # stays busy: the lock passes directly
            elif self._waiters:
                self._waiters.popleft().release()
            else:
                self._busy = False

    # -- across processes: flock, polled by this process's one waiter ---------------------

    def _open(self) -> bool:
        if self._fd is None:
            try:
                fd = os.open(self.path + "-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                gate = os.open(self.path + "-writer-gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                urgent = os.open(self.path + "-writer-urgent", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                # A read-only directory or file system: SQLite alone serialises the writers (and
                # reports the read-only database when one tries).
                return False
            self._fd, self._gate, self._urgent = fd, gate, urgent
        return True

    def _take_files(self, deadline: float, background: bool = False) -> bool:
        if not self._open():
            return True
        assert self._fd is not None and self._gate is not None and self._urgent is not None
        if (not background or not _held_elsewhere(self._urgent)) and _try_flock(self._fd):
            return True  # uncontended: one system call (a background writer: three)
        if background:
            got = self._yield_to_requests(deadline)
            if got is not None:
                return got
        # An interactive waiter says so (a shared lock on -writer-urgent) while it waits: background
        # writers of other processes let it go first.
        if not background:
            fcntl.flock(self._urgent, fcntl.LOCK_SH)
        try:
            if not _poll_flock(self._gate, deadline):
                return False
            try:
                return _poll_flock(self._fd, deadline)
            finally:
                fcntl.flock(self._gate, fcntl.LOCK_UN)
        finally:
            if not background:
                fcntl.flock(self._urgent, fcntl.LOCK_UN)

    def _yield_to_requests(self, deadline: float) -> bool | None:
        """A background writer waiting on another process: it leaves the gate to interactive waiters
        (of any process) for up to BACKGROUND_YIELD_SECONDS. True: it got the lock meanwhile;
        False: `deadline` passed; None: its time to yield is over, it waits its turn as any other."""
        assert self._fd is not None and self._gate is not None and self._urgent is not None
        until = time.monotonic() + BACKGROUND_YIELD_SECONDS
        while (now := time.monotonic()) < until:
            if now >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
            if not _held_elsewhere(self._urgent) and _try_flock(self._gate):
                try:
                    if _try_flock(self._fd):
                        return True
                finally:
                    fcntl.flock(self._gate, fcntl.LOCK_UN)
        return None

    def _forget_after_fork(self) -> None:
        # A forked child shares the parent's open files, and with them the parent's flock: it
        # gets its own (and a fresh queue: the parent's waiting threads do not exist there).
        self._mutex, self._busy, self._waiters, self._background = threading.Lock(), False, deque(), deque()
        for fd in (self._fd, self._gate, self._urgent):
            if fd is not None:
                os.close(fd)
        self._fd = self._gate = self._urgent = None

    # -- one lock per database file per process --------------------------------------------

    _locks: dict[str, WriterLock] = {}
    _locks_mutex = threading.Lock()

    @classmethod
    def for_path(cls, path: str) -> WriterLock:
        key = os.path.realpath(path)
        with cls._locks_mutex:
            lock = cls._locks.get(key)
            if lock is None:
                lock = cls._locks[key] = cls(key)
            return lock


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _held_elsewhere(fd: int) -> bool:
    """Whether another process holds a lock on `fd`'s file (this process holding none on it)."""
    if _try_flock(fd):
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    return True


def _poll_flock(fd: int, deadline: float) -> bool:
    while not _try_flock(fd):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _after_fork_in_child() -> None:
    for lock in WriterLock._locks.values():
        lock._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _is_dml(sql: str) -> bool:
    return sql.lstrip(" \r\n\t")[:7].lower().startswith(_DML)


class Connection(sqlite3.Connection):
    """sqlite3's connection, taking the writer lock before a transaction's first write and giving
    it back when the transaction ends. Made by ``sqlite3.connect(..., factory=Connection)``
    (``writelock.connect_args``)."""

    writer_lock: WriterLock | None = None
    lock_timeout: float = 10.0
    holds_writer_lock: bool = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or Cursor)

    # sqlite3's shortcuts run the statement in C, past Cursor.execute: through a cursor instead.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().executemany(sql, seq_of_parameters)

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE: SQLite's write lock for the transaction now opened, this process's
        turn first. Only outside a transaction (sqlite3's in_transaction)."""
        lock = self.writer_lock
        if lock is not None and not self.holds_writer_lock:
            if _TRACE_PATH is not None:
                self._trace = (time.time(), 0.0, _trace_label())
            if not lock.acquire(self.lock_timeout, background=_background.get()):
                raise sqlite3.OperationalError(
                    f"database is locked (no write turn within {self.lock_timeout:g} s)")
            self.holds_writer_lock = True
            if _TRACE_PATH is not None:
                self._trace = (self._trace[0], time.time(), self._trace[2])
        try:
            self.cursor(sqlite3.Cursor).execute("BEGIN IMMEDIATE")  # waits on SQLite's lock only for
            # writers not queued here
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if not self.in_transaction:
                self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def __del__(self) -> None:
        # Collected without close() (sqlite3 then closes it in C; its statement cache makes a
        # cycle, so the cyclic collector does it): the turn must not stay taken.
        self._release()

    def _release(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            assert self.writer_lock is not None
            self.writer_lock.release()
            if _TRACE_PATH is not None:
                _trace_write(self)


class Cursor(sqlite3.Cursor):
    """Before the first write of a transaction (where sqlite3 would issue a deferred BEGIN), the
    connection's BEGIN IMMEDIATE with its writer turn."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        self._before(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Cursor:
        self._before(sql)
        return super().executemany(sql, seq_of_parameters)

    def _before(self, sql: str) -> None:
        conn = self.connection
        if (isinstance(conn, Connection) and not conn.in_transaction and conn.isolation_level is not None
                and _is_dml(sql)):
            if conn.holds_writer_lock:  # its transaction was ended by SQL text ("COMMIT"), not commit()
                conn._release()
            conn.begin_immediate()


def begin_immediate(dbapi_conn: Any) -> None:
    """BEGIN IMMEDIATE on any sqlite3 connection, through the writer lock when it has one."""
    if isinstance(dbapi_conn, Connection):
        dbapi_conn.begin_immediate()
    else:
        dbapi_conn.execute("BEGIN IMMEDIATE")


def connection_factory(path: str, timeout: float) -> type[Connection]:
    """A Connection class bound to the writer lock of the database file at `path`."""
    return type("Connection", (Connection,), {"writer_lock": WriterLock.for_path(path), "lock_timeout": timeout})


__all__ = ["WriterLock", "Connection", "Cursor", "begin_immediate", "connection_factory", "holder", "background"]
