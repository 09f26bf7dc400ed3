"""Free-text search through the trigram index (migration 0900) gives exactly what the plain
substring test gives: same rows, same order, same pages, same policy, however far the
search.index job has got on SQLite (migration 0901: nothing, part or all of it indexed); the
triggers keep the index right; the migrations go up and down on both backends."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import select, text, update

from cyberfusion.db import MIGRATIONS_DIR, alembic_config, transaction, upgrade, utcnow
from cyberfusion.intel import repository, retention, search_index
from cyberfusion.intel import service as intel
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.web import service as web
from sharing.helpers import contribute, indicator

T0 = "2026-10-01T00:00:00.000Z"

# (name, description): search_text is "name description", lowered.
TEXTS = [
    ("Straße Bot", "Ünïcödé ΣΑΣ loader"),
    ("100%_Ransom", "uses 50% off_sale lures"),
    ("O'Brien \"quoted\" kit", "it's a trap"),
    ("AlphaSpider", "targets BANKS in DE"),
    ("ab", None),
    ("Spanning", "Fields here"),
    ("中文恶意软件", "日本語の説明"),
    ("x\\y backslash", "semi;colon -- drop table"),
    ("alphaspider twin", "second alphaspider mention"),
]
QUERIES = ["straße", "STRASSE", "ünïcödé", "ÜNÏCÖDÉ", "ΣΑΣ", "σασ", "σας", "100%", "%_r", "0%_", "%", "_", "%%",
           "50% off", "o'brien", '"quoted"', "'", "it's", '"', "alphaspider", "ALPHASPIDER", "banks in", "ab", "a",
           "zz", "ing fie", "中文", "恶意软", "日本語", "x\\y", "\\", "-- drop", "nowhere at all", "' OR 1=1 --",
           "\") OR (\"", "alpha*", "NEAR(a b)"]


def malware(name: str, description: str | None) -> dict:
    obj = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
           "created": T0, "modified": T0, "name": name, "is_family": True}
    if description:
        obj["description"] = description
    return obj


def expected_names(query: str) -> list[str]:
    """The semantics, in Python: the lowered query is a substring of the lowered "name description";
    newest first (the fixture's objects are imported one file each, in order)."""
    needle = query.lower()
    hits = [name for name, desc in TEXTS if needle in " ".join(x for x in (name, desc) if x).lower()]
    return hits[::-1]


@pytest.fixture(params=["not indexed", "partly indexed", "indexed"])
def texts(request, world, tmp_path):
    """The objects of TEXTS, each imported on its own; on SQLite the search.index job has then
    indexed none, the first half or all of them."""
    for name, desc in TEXTS:
        contribute(world, tmp_path, "vendor", [malware(name, desc)], HandlingSpec(tlp="clear"))
    with transaction(world.factory) as s:
        if request.param == "partly indexed":
            repository.index_search_rows(s, limit=len(TEXTS) // 2)
        elif request.param == "indexed":
            search_index.catch_up(s)
    return world


def _repository_names(session, viewer, query):
    rows = repository.search_objects(session, viewer=viewer, purpose="investigation", text=query, limit=50)
    return [r.name for r in rows]


def _intel_names(world, query, *, limit=50):
    names, cursor = [], None
    with transaction(world.factory) as s:
        while True:
            page = intel.search(s, viewer=world.viewer("analyst"), purpose="investigation", q=query,
                                cursor=cursor, limit=limit)
            names += [i["name"] for i in page.items]
            if not page.next_cursor:
                return names
            cursor = page.next_cursor


def _web_names(world, query):
    f = web.build_filter(q=query, types=[], categories=[], tlps=[], countries=[], source_kinds=[],
                         since=None, until=None)
    with transaction(world.factory) as s:
        page = web.search(s, viewer=world.viewer("analyst"), purpose="investigation", f=f, limit=50)
    return [i["name"] for i in page.items], dict(page.facets["type"])


def test_index_path_equals_the_substring_test(texts, monkeypatch):
    expected = {q: expected_names(q) for q in QUERIES}
    assert expected["alphaspider"] == ["alphaspider twin", "AlphaSpider"]
    assert expected["σασ"] == [] and expected["ΣΑΣ"] == ["Straße Bot"]  # Σ lowers to a final ς at the end
    assert expected["ing fie"] == ["Spanning"] and expected["%"] == expected["_"] == ["100%_Ransom"]
    viewer = texts.viewer("analyst")
    with texts.factory() as s:
        indexed = {q: _repository_names(s, viewer, q) for q in QUERIES}
        monkeypatch.setattr(repository, "INDEXED_MIN_CHARS", 10**6)  # the plain substring test only
        plain = {q: _repository_names(s, viewer, q) for q in QUERIES}
    assert indexed == plain == expected
    monkeypatch.undo()
    for q in ("ünïcödé", "50% off", '"quoted"', "alphaspider", "ab"):  # the services, web with facets
        assert _intel_names(texts, q) == expected[q]
        assert _web_names(texts, q) == (expected[q], {"malware": len(expected[q])} if expected[q] else {})


def test_pages_and_many_candidates_fall_back_to_the_ordered_walk(texts, monkeypatch):
    assert _intel_names(texts, "alphaspider", limit=1) == ["alphaspider twin", "AlphaSpider"]
    viewer = texts.viewer("analyst")

    def match(s, **kw):
        return str(repository.text_or_values_match(s, viewer=viewer, purpose="investigation", **kw).compile())

    with texts.factory() as s:
        assert "stix_objects.pk IN (" in match(s, text="alphaspider")
        assert "UNION" in match(s, text="alphaspider", values=[("domain-name", "alphaspider.example")])
        monkeypatch.setattr(repository, "TEXT_CANDIDATES_MAX", 1)
        assert "stix_objects.pk IN (" not in match(s, text="alphaspider")
        assert " OR " in match(s, text="alphaspider", values=[("domain-name", "alphaspider.example")])
    assert _intel_names(texts, "alphaspider", limit=1) == ["alphaspider twin", "AlphaSpider"]
    assert _intel_names(texts, "a", limit=3) == expected_names("a")


def test_value_or_text_unites_both_matches(world, tmp_path, monkeypatch):
    """A defanged value matches the indicator by its observable, and the text the object that
    quotes it defanged: both, indexed or not."""
    contribute(world, tmp_path, "vendor", [indicator("domain-name", "kite-watch.com")], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "vendor", [malware("Kite tracker", "reports kite-watch[.]com")], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "vendor", [malware("Other", "kite-watch.com, refanged")], HandlingSpec(tlp="clear"))
    expected = ["Kite tracker", "test kite-watch.com"]
    assert _intel_names(world, "kite-watch[.]com") == expected
    assert _web_names(world, "kite-watch[.]com") == (expected, {"indicator": 1, "malware": 1})
    monkeypatch.setattr(repository, "INDEXED_MIN_CHARS", 10**6)
    assert _intel_names(world, "kite-watch[.]com") == expected
    assert _web_names(world, "kite-watch[.]com") == (expected, {"indicator": 1, "malware": 1})


def _candidate_names(world, query):
    with world.factory() as s:
        pks = repository._text_candidates(s, query.lower(), 100)
        return sorted(s.scalars(select(StixObject.name).where(StixObject.pk.in_(pks))))


def _integrity_ok(world):
    """SQLite: the index holds exactly the rows up to its watermark. With the rows above it added
    (rolled back afterwards) it must equal the table: FTS5's check raises when they disagree."""
    with world.factory() as s:
        if s.get_bind().dialect.name == "sqlite":
            search_index.catch_up(s)
            s.execute(text("INSERT INTO stix_objects_search(stix_objects_search, rank) VALUES ('integrity-check', 1)"))
            s.rollback()


def test_triggers_follow_insert_new_version_update_and_retention_delete(world, tmp_path):
    now = utcnow()
    first = malware("Kestrel", "old description")
    contribute(world, tmp_path, "vendor", [first], HandlingSpec(tlp="clear", expires_at=now + timedelta(days=1)))
    assert _candidate_names(world, "kestrel") == ["Kestrel"]
    assert _candidate_names(world, "old desc") == ["Kestrel"]

    newer = dict(first, modified="2026-10-02T00:00:00.000Z", description="new words")
    due = contribute(world, tmp_path, "vendor", [newer], HandlingSpec(tlp="clear", expires_at=now + timedelta(days=1)))
    assert _candidate_names(world, "kestrel") == ["Kestrel", "Kestrel"]  # both versions are stored
    assert _candidate_names(world, "new words") == ["Kestrel"]
    assert _intel_names(world, "old desc") == []  # the latest version no longer says it
    assert _intel_names(world, "new words") == ["Kestrel"]
    _integrity_ok(world)

    with transaction(world.factory) as s:
        s.execute(update(StixObject).where(StixObject.contribution_id == due.contribution_id)
                  .values(search_text="renamed kestrel"))
    assert _candidate_names(world, "new words") == []
    assert _candidate_names(world, "renamed") == ["Kestrel"]
    _integrity_ok(world)

    for later in (timedelta(days=2), timedelta(days=2, minutes=1)):  # hidden, then deleted
        with transaction(world.factory) as s:
            retention.run(s, grace_days=0, now=now + later)
    with world.factory() as s:
        assert s.scalar(select(Contribution.status).where(Contribution.id == due.contribution_id)) == "deleted"
    assert _candidate_names(world, "kestrel") == []
    assert _intel_names(world, "kestrel") == []
    _integrity_ok(world)


def test_hidden_object_matching_the_text_stays_invisible_via_the_index(world, tmp_path):
    shown = contribute(world, tmp_path, "vendor", [malware("Osprey shown", None)], HandlingSpec(tlp="clear"))
    red = contribute(world, tmp_path, "bank", [malware("Osprey red", None)],
                     HandlingSpec(tlp="red", recipients=(world.orgs["le_gb"],)))
    contribute(world, tmp_path, "vendor", [malware("Osprey expired", None)],
               HandlingSpec(tlp="clear", expires_at=utcnow() + timedelta(days=1)))
    with transaction(world.factory) as s:
        s.execute(update(Contribution).where(Contribution.id.not_in([shown.contribution_id, red.contribution_id]))
                  .values(status="hidden", hidden_at=utcnow()))
    assert _candidate_names(world, "osprey") == ["Osprey expired", "Osprey red", "Osprey shown"]
    with transaction(world.factory) as s:
        for key, names in (("analyst", ["Osprey shown"]), ("le_gb", ["Osprey red", "Osprey shown"]),
                           ("vendor", ["Osprey shown"])):
            page = intel.search(s, viewer=world.viewer(key), purpose="investigation", q="osprey")
            assert sorted(i["name"] for i in page.items) == names, key
            f = web.build_filter(q="osprey", types=[], categories=[], tlps=[], countries=[], source_kinds=[],
                                 since=None, until=None)
            page = web.search(s, viewer=world.viewer(key), purpose="investigation", f=f)
            assert sorted(i["name"] for i in page.items) == names, key
            assert page.facets["type"] == [("malware", len(names))], key


def _migration():
    path = MIGRATIONS_DIR / "versions" / "0900_search_index.py"
    spec = importlib.util.spec_from_file_location("migration_0900", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index_objects(engine):
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return sorted(r[0] for r in conn.execute(text(
                "SELECT name FROM sqlite_master WHERE name IN ('stix_objects_search', 'search_index_state') OR "
                "(type = 'trigger' AND tbl_name = 'stix_objects' AND name LIKE 'stix_objects_search%')")))
        return sorted(r[0] for r in conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'stix_objects' AND indexname LIKE '%trgm%' "
            "UNION ALL SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")))


def _full_check(engine):
    """SQLite: FTS5's own check that the index equals the table (raises when they disagree)."""
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO stix_objects_search(stix_objects_search, rank) VALUES ('integrity-check', 1)"))


def test_migration_down_and_up_back_fills_the_index(engine, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("domain-name", "heron.example")], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "vendor", [indicator("domain-name", "egret.example")], HandlingSpec(tlp="clear"))
    with transaction(world.factory) as s:  # the first import indexed by the job, the second not yet
        assert repository.index_search_rows(s, limit=1) == ((1, False) if engine.dialect.name == "sqlite"
                                                            else (0, True))
    triggers = ["stix_objects_search", "stix_objects_search_delete", "stix_objects_search_insert",
                "stix_objects_search_update"]
    full = (sorted([*triggers, "search_index_state"]) if engine.dialect.name == "sqlite"
            else ["ix_stix_objects_search_trgm", "pg_trgm"])
    assert _index_objects(engine) == full
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0901@-1")  # back to 0900: every row indexed, by the triggers again
        if engine.dialect.name == "sqlite":
            assert _index_objects(engine) == triggers
            _full_check(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0900@-1")
        assert _index_objects(engine) == []
    finally:
        upgrade(engine)
    assert _index_objects(engine) == full
    assert _candidate_names(world, "heron.exa") == ["test heron.example"]  # stored before: back-filled
    assert _candidate_names(world, "egret.exa") == ["test egret.example"]
    if engine.dialect.name == "sqlite":
        _full_check(engine)  # the upgrade set the watermark after the last row: all indexed
    _integrity_ok(world)


def test_pg_trgm_is_not_installed_into_a_scratch_schema(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    migration = _migration()
    with engine.connect() as conn:  # closed without a commit: all of it is rolled back
        conn.execute(text("DROP EXTENSION pg_trgm CASCADE"))
        conn.execute(text('CREATE SCHEMA "scratch_0900"'))
        conn.execute(text('SET LOCAL search_path TO "scratch_0900"'))
        assert migration._pg_trgm_schema(conn) == "public"
        assert migration._pg_trgm_schema(conn) == "public"  # found the second time
        assert conn.execute(text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                 "ON n.oid = e.extnamespace WHERE extname = 'pg_trgm'")).scalar() == "public"


def test_objects_are_indexed_and_findable_as_soon_as_imported(world, tmp_path, monkeypatch):
    """The importer writes many rows per INSERT statement on SQLite: across statement boundaries
    (here 4 objects and 7 observable rows a statement) every row is stored as given and is in the
    trigram index, inside the import's transaction and right after its commit."""
    monkeypatch.setattr(repository, "_sqlite_variable_limit", lambda raw: 83)  # 20 object columns: 4 rows
    objects = [malware(f"Shrike variant {i:02d}", f"loader {i:02d} of the shrike family") for i in range(21)]
    objects += [indicator("domain-name", f"shrike-{i:02d}.example") for i in range(22)]
    path = tmp_path / "shrike.json"
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}))
    vendor = world.viewer("vendor")
    with transaction(world.factory) as s:
        result = import_file(s, viewer=vendor, path=path, fmt="stix", spec=HandlingSpec(tlp="clear"))
        assert (result.objects, result.observables) == (43, 22)
        assert len(_repository_names(s, vendor, "shrike variant 17")) == 1  # before the commit, same session
    with world.factory() as s:
        stored = dict(s.execute(select(StixObject.stix_id, StixObject.data)
                                .where(StixObject.contribution_id == result.contribution_id)).all())
        assert stored == {o["id"]: json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          for o in objects}
        values = sorted(s.scalars(select(Observable.value).where(
            Observable.contribution_id == result.contribution_id)))
        assert values == [f"shrike-{i:02d}.example" for i in range(22)]
    _integrity_ok(world)
    assert _candidate_names(world, "loader 20 of") == ["Shrike variant 20"]
    assert _candidate_names(world, "shrike-21.exa") == ["test shrike-21.example"]
    assert _intel_names(world, "shrike variant 0") == [f"Shrike variant {i:02d}" for i in range(9, -1, -1)]
    assert _intel_names(world, "shrike-00.example") == ["test shrike-00.example"]
