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

A transaction takes the lock before it first writes (``BEGIN IMMEDIATE`` then, instead of the
deferred ``BEGIN`` sqlite3 would issue) and gives it back when it commits or rolls back. Reads
take no lock. Waiting ends after the connection's busy timeout with SQLite's own "database is
locked" error (503 with Retry-After in the API). SQLite's lock stays the authority: a writer
that does not come through here (another program, DDL, ``WITH … INSERT``) is still serialised by
SQLite, only without the quick hand-over. PostgreSQL connections never use this module.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections import deque
from typing import Any

# What sqlite3 treats as DML, i.e. what makes it open a transaction implicitly (CPython's
# Modules/_sqlite/statement.c): the first word after whitespace.
_DML = ("insert", "update", "delete", "replace")
# Polling interval of the one waiter per process on another process's lock.
_POLL_SECONDS = 0.001


class WriterLock:
    """The write turn of one database file in this process (one object per file: see ``for_path``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._busy = False
        self._waiters: deque[Any] = deque()  # a locked _thread.lock per waiter, oldest first
        self._fd: int | None = None
        self._gate: int | None = None

    # -- in the process: first come, first served ------------------------------------------

    def acquire(self, timeout: float) -> bool:
        """True once this thread holds the lock (in the process and across processes); False
        after `timeout` seconds without it."""
        deadline = time.monotonic() + timeout
        with self._mutex:
            if not self._busy:
                self._busy = True
                waiter = None
            else:
                waiter = threading.Lock()
                waiter.acquire()
                self._waiters.append(waiter)
        if waiter is not None and not waiter.acquire(timeout=max(0.0, deadline - time.monotonic())):
            with self._mutex:
                try:
                    self._waiters.remove(waiter)
                except ValueError:  # handed over between the timeout and here: it is ours
                    pass
                else:
                    return False
        try:
            if self._take_files(deadline):
                return True
        except BaseException:
            self._hand_over()
            raise
        self._hand_over()
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._hand_over()

    def _hand_over(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # stays busy: the lock passes directly
            else:
                self._busy = False

    # -- across processes: flock, polled by this process's one waiter ---------------------

    def _open(self) -> bool:
        if self._fd is None:
            try:
                fd = os.open(self.path + "-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                gate = os.open(self.path + "-writer-gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                # A read-only directory or file system: SQLite alone serialises the writers (and
                # reports the read-only database when one tries).
                return False
            self._fd, self._gate = fd, gate
        return True

    def _take_files(self, deadline: float) -> bool:
        if not self._open():
            return True
        assert self._fd is not None and self._gate is not None
        if _try_flock(self._fd):  # uncontended: one system call
            return True
        if not _poll_flock(self._gate, deadline):
            return False
        try:
            return _poll_flock(self._fd, deadline)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def _forget_after_fork(self) -> None:
        # A forked child shares the parent's open files, and with them the parent's flock: it
        # gets its own (and a fresh queue: the parent's waiting threads do not exist there).
        self._mutex, self._busy, self._waiters = threading.Lock(), False, deque()
        for fd in (self._fd, self._gate):
            if fd is not None:
                os.close(fd)
        self._fd = self._gate = None

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
            if not lock.acquire(self.lock_timeout):
                raise sqlite3.OperationalError(
                    f"database is locked (no write turn within {self.lock_timeout:g} s)")
            self.holds_writer_lock = True
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


__all__ = ["WriterLock", "Connection", "Cursor", "begin_immediate", "connection_factory"]
