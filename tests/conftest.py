"""Shared fixtures: a database per test on SQLite and, when CFC_TEST_DATABASE_URL is set, PostgreSQL.

Any test that uses the ``engine`` fixture (directly or through ``session``, ``world``,
``client``) is a storage test: it is marked ``storage`` and runs once per backend.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from cyberfusion.db import make_engine, make_sessionmaker, transaction, upgrade, utcnow
from cyberfusion.partners.models import Member

# Property tests: a bounded "ci" profile by default; HYPOTHESIS_PROFILE=long searches much harder.
hypothesis_settings.register_profile("ci", max_examples=100, deadline=timedelta(seconds=5), database=None,
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
hypothesis_settings.register_profile("long", max_examples=5000, deadline=timedelta(seconds=10),
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from testdata import CONFORMANCE, WORLD_MEMBERS  # noqa: E402,F401 - re-exported for old imports
PG_URL = os.environ.get("CFC_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"storage backends: sqlite, postgresql ({PG_URL})"
    return "storage backends: sqlite only (set CFC_TEST_DATABASE_URL to also run on PostgreSQL)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.storage)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own beside the given one
    (``test`` → ``test_gw0``, ``test_gw1``; created when missing), so storage tests run in
    parallel on PostgreSQL as they do on SQLite."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    given = make_url(url)
    name = f"{given.database}_{worker}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    assert PG_URL
    engine = make_engine(_worker_database(PG_URL))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_pg(engine: Engine) -> None:
    from cyberfusion.models import metadata
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("CFC_DATA_DIR", str(tmp_path / "data"))
    if request.param == "sqlite":
        db = tmp_path / "test.db"
        shutil.copy(sqlite_template, db)
        url = f"sqlite:///{db}"
        monkeypatch.setenv("CFC_DATABASE_URL", url)
        eng = make_engine(url)
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        monkeypatch.setenv("CFC_DATABASE_URL", eng.url.render_as_string(hide_password=False))
        _truncate_pg(eng)
        yield eng


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from cyberfusion.config import get_settings
    monkeypatch.setenv("CFC_DATA_DIR", os.environ.get("CFC_DATA_DIR", str(tmp_path / "data")))
    # Tests run queued jobs themselves (tests/jobs/test_inprocess.py turns the server's worker on).
    monkeypatch.setenv("CFC_INPROCESS_WORKER", "false")
    # /readyz answers at once (tests/ops/test_warmup.py turns the server's warm-up on).
    monkeypatch.setenv("CFC_SERVER_WARM_UP", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    s = factory()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


# --- a small fusion centre for behaviour tests ----------------------------------------------

ALL_PURPOSES = ["investigation", "victim_notification", "network_defence", "research", "threat_reporting",
                "ai_processing"]
ALL_CATEGORIES = ["phishing", "malware", "ransomware", "bec", "fraud", "investment_scam", "sextortion",
                  "data_breach", "ddos", "vulnerabilities", "botnet", "cryptojacking", "child_abuse",
                  "money_laundering", "other"]


@dataclass
class World:
    factory: sessionmaker[Session]
    orgs: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)

    def viewer(self, key: str, *, today: date | None = None):  # type: ignore[no-untyped-def]
        from cyberfusion.partners import repository, service
        with self.factory() as s:
            return service.resolve_viewer(s, repository.member_by_id(s, self.members[key]), today=today)

    def token(self, key: str) -> str:
        from cyberfusion.auth import tokens
        from cyberfusion.partners import repository
        with transaction(self.factory) as s:
            return tokens.issue(s, member=repository.member_by_id(s, self.members[key])).token


# key: (org name, kind, sector, country, agreement tlp ceiling or None, purposes)
WORLD_ORGS = {
    "host": ("Fusion Host", "host_centre", None, "SG", None, None),
    "ncb_fr": ("NCB France", "national_bureau", None, "FR", "amber+strict", ALL_PURPOSES),
    "ncb_ru": ("NCB Russia", "national_bureau", None, "RU", "amber+strict", ALL_PURPOSES),
    "le_gb": ("Cyber Unit GB", "law_enforcement", None, "GB", "red", ALL_PURPOSES),
    "vendor": ("Vendor Labs", "private", "internet_security", "FI", "amber", ALL_PURPOSES),
    "bank": ("Big Bank", "private", "financial", "GB", "amber", ALL_PURPOSES),
    "telco": ("Telco One", "private", "telecom", "DE", "green", ALL_PURPOSES),
    "uni": ("Cyber University", "academia", None, "NL", "green", ["research"]),
    "intl": ("Regional Org", "international", None, "AT", "amber", ALL_PURPOSES),
    "pending": ("Pending Co", "private", "other", "US", "amber", ALL_PURPOSES),
    "expired": ("Expired Co", "private", "other", "US", "amber", ALL_PURPOSES),
}
# key: (org key, roles)


@pytest.fixture
def world(factory: sessionmaker[Session]) -> World:
    from cyberfusion.partners import service
    w = World(factory)
    today = date.today()
    with transaction(factory) as s:
        orgs = {}
        for key, (name, kind, sector, country, ceiling, purposes) in WORLD_ORGS.items():
            org = service.create_organisation(s, name=name, kind=kind, sector=sector, country=country)
            orgs[key] = org
            w.orgs[key] = org.id
            if kind == "host_centre":
                continue
            if key != "pending":
                service.vet_organisation(s, org=org, decision="approved", reviewer="vetting@host.example")
            expired = key == "expired"
            service.add_agreement(s, org=org, reference=f"DSA-{key}",
                                  valid_from=today - timedelta(days=400 if expired else 10),
                                  valid_until=today - timedelta(days=1) if expired else today + timedelta(days=365),
                                  tlp_ceiling=ceiling, contribute=ALL_CATEGORIES, receive=ALL_CATEGORIES,
                                  purposes=purposes)
        for key, (org_key, roles) in WORLD_MEMBERS.items():
            # No passwords here: argon2 is deliberately slow; web sign-in tests set their own.
            m = service.add_member(s, email=f"{key}@example.org", name=key, org=orgs[org_key], roles=roles)
            w.members[key] = m.id
        members = {k: s.get(Member, v)
                   for k, v in w.members.items()}
        service.add_secondment(s, member=members["expert"], seconding_org=orgs["bank"],
                               start=today - timedelta(days=30), acknowledged_at=utcnow())
        service.add_secondment(s, member=members["expert_lapsed"], seconding_org=orgs["vendor"],
                               start=today - timedelta(days=400), end=today - timedelta(days=35),
                               acknowledged_at=utcnow())
        service.add_secondment(s, member=members["expert_unsigned"], seconding_org=orgs["telco"],
                               start=today - timedelta(days=3))
    return w


@pytest.fixture
def client(engine: Engine, world: World):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings
    app = create_app(get_settings(), engine=engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def matrix(world: World, tmp_path: Path) -> World:
    """The world plus one contribution per handling combination of the leak matrix (sharing/leak.py)."""
    from sharing.leak import build_matrix
    build_matrix(world, tmp_path)
    return world
