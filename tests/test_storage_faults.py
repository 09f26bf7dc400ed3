"""A full disk and a read-only database: a clear error from API and CLI, nothing half-written,
no corruption (issue 11, "Faults"). SQLite's own limits make both real: ``max_page_count``
fills the database like a full disk (SQLITE_FULL), ``mode=ro`` opens it read-only."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import event, text
from sharing.helpers import bundle_file, indicator
from typer.testing import CliRunner

from cyberfusion.db import make_engine, transaction
from cyberfusion.errors import StorageFull

TABLES = ("contributions", "stix_objects", "observables", "audit_log")


def _counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def _integrity(path: str) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.fixture
def sqlite_file(engine) -> str:  # type: ignore[no-untyped-def]
    if engine.dialect.name != "sqlite":
        pytest.skip("a full disk and a read-only file are simulated with SQLite's own limits")
    return engine.url.database


def _full_engine(path: str, spare_pages: int = 8):  # type: ignore[no-untyped-def]
    """The same database, able to grow by only a few pages: a disk that is about to be full."""
    full = make_engine(f"sqlite:///{path}")

    @event.listens_for(full, "connect")
    def _limit(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")

    return full


def _big_bundle(tmp_path):  # type: ignore[no-untyped-def]
    return bundle_file(tmp_path, [indicator("domain-name", f"host{i}.full-disk.example") for i in range(3000)],
                       "big.json")


def test_full_disk_import_is_a_clear_error_and_leaves_the_store_intact(world, engine, sqlite_file, tmp_path):
    from sqlalchemy.exc import OperationalError

    from cyberfusion.db import database_error, make_sessionmaker
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.partners import repository, service
    from cyberfusion.sharing.handling import HandlingSpec

    before = _counts(engine)
    full = _full_engine(sqlite_file)
    with pytest.raises(OperationalError) as caught:
        with transaction(make_sessionmaker(full)) as s:
            viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members["vendor"]))
            import_file(s, viewer=viewer, path=_big_bundle(tmp_path), fmt="stix", spec=HandlingSpec(tlp="green"))
    full.dispose()
    err = database_error(caught.value)
    assert isinstance(err, StorageFull) and err.status == 507
    assert err.detail.startswith("the database is out of space")
    assert _counts(engine) == before
    assert _integrity(sqlite_file) == "ok"


def test_full_disk_over_the_api_is_a_507_problem(world, engine, sqlite_file, tmp_path):
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings

    before = _counts(engine)
    full = _full_engine(sqlite_file)
    content = json.loads(_big_bundle(tmp_path).read_text())
    with TestClient(create_app(get_settings(), engine=full), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/contributions", json={"content": content, "format": "stix", "file_name": "big.json",
                                                       "handling": {"tlp": "green"}},
                        headers={"Authorization": f"Bearer {world.token('vendor')}"})
    full.dispose()
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"].startswith("the database is out of space") and "Traceback" not in r.text
    assert _counts(engine) == before
    assert _integrity(sqlite_file) == "ok"


def test_read_only_database_is_a_clear_error_in_api_and_cli(world, engine, sqlite_file, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.cli import app as cli
    from cyberfusion.config import get_settings

    before = _counts(engine)
    engine.dispose()
    read_only = f"sqlite:///file:{sqlite_file}?mode=ro&uri=true"
    ro = make_engine(read_only)
    with TestClient(create_app(get_settings(), engine=ro), raise_server_exceptions=False) as client:
        h = {"Authorization": f"Bearer {world.token('admin')}"}
        r = client.post("/api/v1/organisations", json={"name": "RO Unit", "kind": "law_enforcement",
                                                       "country": "FR"}, headers=h)
    ro.dispose()
    assert r.status_code == 503, r.text
    assert r.json()["detail"] == "the database is read-only; nothing of this request was written"
    assert r.headers["retry-after"] == "60"

    monkeypatch.setenv("CFC_DATABASE_URL", read_only)
    get_settings.cache_clear()
    path = bundle_file(tmp_path, [indicator("domain-name", "ro.example")], "one.json")
    out = CliRunner().invoke(cli, ["import", str(path), "--as", "vendor@example.org", "--format", "json"])
    assert out.exit_code == 1, (out.stdout, out.stderr)
    assert json.loads(out.stderr)["error"]["detail"] == "the database is read-only; nothing of this request was written"
    assert "Traceback" not in out.stderr + out.stdout
    assert _counts(engine) == before
    assert _integrity(sqlite_file) == "ok"
