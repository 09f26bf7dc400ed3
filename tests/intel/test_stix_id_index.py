"""Migration 0003: stix_objects has no single-column index on stix_id; searches by STIX id use
uq_stix_version_owner (stix_id, modified, organisation_id), whose first column it is."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from cyberfusion.db import alembic_config, upgrade


def _indexes(engine) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes("stix_objects")}


def test_the_migration_drops_the_index_and_gives_it_back_going_down(engine):
    assert "ix_stix_objects_stix_id" not in _indexes(engine)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004@-2")  # this branch's head (0004) and 0003 down
        assert "ix_stix_objects_stix_id" in _indexes(engine)
    finally:
        upgrade(engine)
    assert "ix_stix_objects_stix_id" not in _indexes(engine)


def test_a_search_by_stix_id_seeks_the_unique_index(engine):
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL plans from statistics (an empty table is scanned)
    with engine.connect() as conn:
        plan = [r[3] for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT pk FROM stix_objects WHERE stix_id IN ('indicator--a', 'indicator--b')"))]
    assert plan == ["SEARCH stix_objects USING COVERING INDEX sqlite_autoindex_stix_objects_1 (stix_id=?)"], plan
