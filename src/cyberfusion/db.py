"""Engine, sessions, migrations. SQLite (WAL) embedded, PostgreSQL in production."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (Connection, DateTime, Engine, Index, Select, Table, create_engine, event, insert, make_url,
                        text)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from cyberfusion import writelock
from cyberfusion.errors import ConfigurationError, CyberfusionError, InvalidInput, StorageFull, Unavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# SQLSTATEs (PostgreSQL) and messages (SQLite) of a store that cannot take writes or answer at all.
_FULL = ("53100", "53200", "54000", "database or disk is full", "no space left on device", "could not extend file")
_OUT_OF_RANGE = ("22003",)  # numeric value out of range (PostgreSQL; SQLite raises OverflowError)
_READ_ONLY = ("25006", "readonly database", "read-only transaction")


def database_error(exc: DBAPIError) -> CyberfusionError | None:
    """The error a person can act on for a database failure; None when it is a bug (a constraint
    violation, a bad statement), which callers report as an unexpected error."""
    code = getattr(exc.orig, "sqlstate", None) or ""
    text_ = str(exc.orig).lower()
    if code in _FULL or any(m in text_ for m in _FULL[3:]):
        return StorageFull("the database is out of space (disk full or size limit reached); nothing of this "
                           "request was written — free space or raise the limit, then retry")
    if code in _READ_ONLY or any(m in text_ for m in _READ_ONLY[1:]):
        return Unavailable("the database is read-only; nothing of this request was written", retry_after=60)
    if code in _OUT_OF_RANGE:
        return InvalidInput("a value in the request is out of range for the database (e.g. an id that "
                            "large cannot exist)")
    if isinstance(exc, OperationalError) or code.startswith("08") or code.startswith("57P"):
        return Unavailable("the database is unavailable; retry shortly")
    return None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


def partial_index(name: str, *columns: str, not_null: str) -> Index:
    """An index of only the rows whose ``not_null`` column is set, on SQLite and PostgreSQL alike.

    For a column that is NULL on most rows (migrations 0004, 0101): every insert of such a row
    would otherwise add an index entry no query ever reads. A query can use the index only when
    its WHERE implies ``not_null IS NOT NULL``: ``col = x``, ``col IN (a, b)``, ``col >= x`` and a
    join on ``col = other`` do; ``col IN (SELECT ...)`` does not on SQLite, so say
    ``col IS NOT NULL`` there too (tests/intel/test_partial_indexes.py checks the plans)."""
    where = text(f"{not_null} IS NOT NULL")
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


def utcnow() -> datetime:
    return datetime.now(UTC)


# How long a SQLite writer waits for its turn (writelock.py) and, behind it, for SQLite's lock.
SQLITE_BUSY_SECONDS = 10


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable against process crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        if path and path != ":memory:" and not path.startswith("file:"):  # file: URIs name existing files
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Writers of a database file take turns on writelock's lock rather than SQLite's busy handler.
            factory = writelock.connection_factory(path, timeout=SQLITE_BUSY_SECONDS)
            kwargs["connect_args"] = {"factory": factory, **kwargs.get("connect_args", {})}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


# Threads of a server process besides its request threads that take a connection: the lookups'
# group writer, the in-process job worker, the WAL checkpointer, the value filter's build, web imports.
BACKGROUND_CONNECTIONS = 8


def server_pool(url: str, *, threads: int, size: int | None = None) -> dict[str, int]:
    """Pool options for a server process whose ``threads`` request threads each may hold a connection.

    SQLAlchemy's default (5 kept, 10 more opened when needed and closed when given back) made a
    busy server open and close SQLite connections all the time, each open paying the pragmas and
    the write lock's set-up: 5 % of the server's samples in the 1M load test (py-spy, 2026-11-29).
    A SQLite connection kept open costs an open file and its page cache, so a SQLite server keeps
    one per thread that may ask; a PostgreSQL server keeps ``size`` (default 10: its connections
    are server processes, counted against ``max_connections`` across all API and worker processes).

    More connections than threads can be in use: a request whose viewer was read in the thread
    pool keeps its session's connection while it waits for a thread again for its endpoint, and
    async routes keep theirs across awaits. So the pool does not stop there: a SQLite server opens
    what more it needs (closed when given back, as before); a PostgreSQL server up to as many again
    as the bound. With a hard bound of threads + 8 a server of 8 threads under the load test made
    requests wait 30 s for a connection and answered 503."""
    bound = threads + BACKGROUND_CONNECTIONS
    if url.startswith("sqlite"):
        if (make_url(url).database or ":memory:") == ":memory:":
            return {}  # one connection per thread (SQLAlchemy's SingletonThreadPool): nothing to size
        return {"pool_size": size or bound, "max_overflow": -1}
    keep = size or min(10, bound)
    return {"pool_size": keep, "max_overflow": max(bound, 2 * bound - keep)}


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def core(session: Session) -> Connection:
    """The session's connection, for a prebuilt Core statement on a path every API request takes,
    after the flush Session.execute would have done (autoflush). Session.execute of the same
    statement adds the ORM's compile and result layers: a one-row read 43-46 us instead of
    103-116 us, the audit head 17-23 us instead of 42-51 (2026-11-27, 100k store). The rows are
    the same (same statement, same type processing; tests/test_db_core.py)."""
    if session.autoflush:
        session.flush()
    return session.connection()


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT these rows (dicts with the same keys, every column they need: no column defaults
    are applied), in their order.

    On SQLite by one statement of many VALUES rows, its text made once per table, columns and
    row count, each value through its column type's bind processor as SQLAlchemy's execute
    would. Hand-made because SQLAlchemy does not cache a multi-VALUES insert: ``values()`` of
    the rows built and compiled a new statement on every call, ~1.2 ms of CPU for four rows, more
    than the four one-row INSERTs it replaced (2026-11-28). Elsewhere one prebuilt INSERT run
    for every row (executemany)."""
    if not rows:
        return
    conn = core(session)
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    per_statement = max(1, _SQLITE_PARAMETERS // len(columns))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        sql, processors = _insert_rows_sql(conn.dialect, table, columns, len(chunk))
        conn.exec_driver_sql(sql, tuple(value if process is None else process(value)
                                        for row in chunk for value, process in zip(map(row.__getitem__, columns),
                                                                                    processors)))


# Parameters per statement at most: below 999, the limit of SQLite builds before 3.32.
_SQLITE_PARAMETERS = 990


@lru_cache(maxsize=256)
def _insert_rows_sql(dialect: Any, table: Table, columns: tuple[str, ...], n: int) -> tuple[str, tuple[Any, ...]]:
    quote = dialect.identifier_preparer
    row = "(" + ", ".join("?" * len(columns)) + ")"
    sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.format_column(table.c[c]) for c in columns)}) "
           f"VALUES {', '.join([row] * n)}")
    return sql, tuple(table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns)


def hold_write_lock(session: Session) -> None:
    """SQLite: take the database's one write lock now, for the rest of the transaction (BEGIN
    IMMEDIATE), so that nothing it reads next can change before it writes.

    Python's sqlite3 (whose legacy transaction control SQLAlchemy keeps) runs the statements
    before a transaction's first INSERT/UPDATE/DELETE outside any transaction, each on a
    snapshot of its own: a "read the head, then append" done that way let two writers chain
    onto the same entry (seen: the audit chain forked with four threads appending). Nothing to
    do once the transaction has written (it holds the lock) or on PostgreSQL (callers lock
    what they need there)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    raw = session.connection().connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        try:
            writelock.begin_immediate(raw)  # waits for its turn up to SQLITE_BUSY_SECONDS
        except sqlite3.OperationalError as exc:
            # Called outside SQLAlchemy's execute, so nothing wraps it: wrapped here as SQLAlchemy
            # would, the API, TAXII, web and CLI map "database is locked" as they map every
            # database failure (503 with Retry-After; a one-line CLI error), not as a crash.
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc


def conflict_insert(session: Session, table: Any) -> Any:
    """INSERT for the session's backend, with its ON CONFLICT clauses (PostgreSQL's or SQLite's)."""
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


SelectT = TypeVar("SelectT", bound=Select[Any])


def for_update(session: Session, query: SelectT, *, skip_locked: bool = False) -> SelectT:
    """The rows this query reads stay this transaction's until it ends: FOR UPDATE [SKIP LOCKED]
    on PostgreSQL; on SQLite (which ignores FOR UPDATE) the database's one write lock, taken
    before the read, so two workers never claim the same row."""
    if session.get_bind().dialect.name == "sqlite":
        hold_write_lock(session)
        return query
    return query.with_for_update(skip_locked=skip_locked)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The caller's unit of work: commit once at the end, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def migration_state(engine: Engine) -> tuple[str | None, str]:
    """(current revisions in the database, head revisions of the code), each as "a+b" text.

    Feature packages may keep their own migration branches off the base schema;
    the database is current when it is at every head.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = "+".join(sorted(ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads()))
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
    except OperationalError as exc:
        raise Unavailable(f"database unreachable: {exc.orig}") from None
    return ("+".join(sorted(current)) or None), heads


def require_current_schema(engine: Engine) -> None:
    current, head = migration_state(engine)
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no schema" if current is None else f"is at revision {current}, code needs {head}"
        raise ConfigurationError(f"database {where} {state}: run 'cfc db upgrade' first")

