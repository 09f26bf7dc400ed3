"""db.server_pool: a server process keeps a SQLite connection per thread that may ask for one,
so a busy server does not open and close connections between requests (each open pays the
pragmas and the write lock's set-up); PostgreSQL keeps a bounded few."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text

from cyberfusion.app import create_app
from cyberfusion.config import Settings
from cyberfusion.db import BACKGROUND_CONNECTIONS, make_engine, server_pool


def test_sqlite_keeps_one_connection_per_thread_postgresql_a_bounded_few():
    bound = 40 + BACKGROUND_CONNECTIONS
    assert server_pool("sqlite:////srv/cfc.db", threads=40) == {"pool_size": bound, "max_overflow": -1}
    assert server_pool("sqlite:////srv/cfc.db", threads=40, size=12) == {"pool_size": 12, "max_overflow": -1}
    assert server_pool("postgresql+psycopg://db/cfc", threads=40) == {"pool_size": 10, "max_overflow": 2 * bound - 10}
    assert server_pool("postgresql+psycopg://db/cfc", threads=40, size=60) == {"pool_size": 60, "max_overflow": bound}
    assert server_pool("sqlite://", threads=40) == {}  # in memory: one connection per thread already


def _bursts(engine, *, threads: int, bursts: int) -> int:  # type: ignore[no-untyped-def]
    """Connections opened while ``threads`` threads each hold one at the same time, ``bursts`` times."""
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    for _ in range(bursts):
        all_in = threading.Barrier(threads)

        def hold() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                all_in.wait(timeout=10)

        workers = [threading.Thread(target=hold) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return len(opened)


def test_a_server_engine_opens_each_connection_once_across_bursts(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    server = make_engine(url, **server_pool(url, threads=12))
    assert _bursts(server, threads=12, bursts=3) == 12
    server.dispose()
    # The control: SQLAlchemy's default keeps 5 and closes the rest when they are given back.
    default = make_engine(url)
    assert _bursts(default, threads=12, bursts=3) == 5 + 3 * 7
    default.dispose()


def test_more_holders_than_the_pool_keeps_never_wait_for_a_connection(tmp_path: Path):
    """Requests can hold more connections than there are request threads (a session's connection
    kept while its request waits for a thread again): the extra ones are opened, not waited for."""
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    server = make_engine(url, pool_timeout=1, **server_pool(url, threads=4))
    kept = 4 + BACKGROUND_CONNECTIONS
    assert _bursts(server, threads=kept + 8, bursts=3) == kept + 3 * 8  # none timed out (Barrier would break)
    server.dispose()


def test_create_app_sizes_its_pool_from_the_settings(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'app.db'}", server_threads=6)
    engine = create_app(settings, check_schema=False).state.engine
    assert engine.pool.size() == 6 + BACKGROUND_CONNECTIONS
    engine.dispose()
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'app.db'}", server_threads=6,
                        db_pool_size=3)
    engine = create_app(settings, check_schema=False).state.engine
    assert (engine.pool.size(), engine.pool._max_overflow) == (3, -1)
    engine.dispose()
