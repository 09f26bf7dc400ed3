"""Migrations 0004 (intel) and 0101 (fusion): the indexes of mostly-NULL columns — stix_objects'
source_ref and target_ref, the (range_start, range_end) of observables and fusion_terms — hold only
the rows where the column is set; every query that looks rows up by these columns still uses its
index, on SQLite and on PostgreSQL; going down gives back the full indexes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, inspect, text

from cyberfusion.db import alembic_config, transaction, upgrade
from cyberfusion.fusion import repository as fusion_repo
from cyberfusion.intel import repository as intel_repo
from cyberfusion.models import metadata
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute, indicator

PARTIAL = {  # index: (table, the column whose NULL rows are left out)
    "ix_stix_objects_source_ref": ("stix_objects", "source_ref"),
    "ix_stix_objects_target_ref": ("stix_objects", "target_ref"),
    "ix_observables_range": ("observables", "range_start"),
    "ix_fusion_terms_range": ("fusion_terms", "range_start"),
}
ID = "malware--00000000-0000-4000-8000-000000000001"
IDS = [f"indicator--00000000-0000-4000-8000-{i:012d}" for i in range(300)]  # > _INLINE_VALUES: the table shape
STARTS = [f"{i:032x}" for i in range(300)]


def _where(engine, name: str) -> str | None:
    """The index's WHERE as the database holds it (None: a full index)."""
    table = PARTIAL[name][0]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": name})
        return sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None
    with engine.connect() as conn:
        pred = conn.scalar(text("SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :n"), {"n": name})
    assert name in {ix["name"] for ix in inspect(engine).get_indexes(table)}
    return pred


def test_the_indexes_leave_out_null_rows_as_the_models_say(engine):
    for name, (table, column) in PARTIAL.items():
        where = _where(engine, name)
        assert where is not None and where.strip("()") == f"{column} IS NOT NULL", (name, where)
        index = next(ix for ix in metadata.tables[table].indexes if ix.name == name)
        dialect_where = index.dialect_options[engine.dialect.name]["where"]
        assert str(dialect_where) == f"{column} IS NOT NULL", name


def test_the_migrations_go_down_to_full_indexes_and_up_again(engine):
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004@-1")
            command.downgrade(cfg, "0100")
        assert all(_where(engine, name) is None for name in PARTIAL)
    finally:
        upgrade(engine)
    assert all(_where(engine, name) is not None for name in PARTIAL)


@contextmanager
def _statements(engine) -> Any:
    """The SQL statements (with their parameters) run inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _plan(session, statement: str, parameters: Any, *, pg_join_by_index: bool = False) -> str:
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return "\n".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
    if pg_join_by_index:
        # A few thousand sightings are cheaper hashed whole than probed 300 times (main's plan too):
        # with hashing priced out, the plan shows that the join can probe the partial index.
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))


# (what, the repository call, the indexes its plan must use)
LOOKUPS: list[tuple[str, Callable[..., Any], tuple[str, ...]]] = [
    ("an object's relationships (object page, analyzers)",
     lambda s, v: intel_repo.relationships_of(s, viewer=v, purpose="investigation", stix_id=ID),
     ("ix_stix_objects_source_ref", "ix_stix_objects_target_ref")),
    ("sightings of a few objects (hits, correlation)",
     lambda s, v: fusion_repo.sighting_counts(s, viewer=v, purpose="investigation", stix_ids=IDS[:3]),
     ("ix_stix_objects_source_ref",)),
    ("sightings of many objects",
     lambda s, v: fusion_repo.sighting_counts(s, viewer=v, purpose="investigation", stix_ids=IDS),
     ("ix_stix_objects_source_ref",)),
    *[(f"{table} ranges starting at a few addresses",
       lambda s, v, table=table: fusion_repo.range_groups(s, viewer=v, purpose="investigation", table=table,
                                                           starts=STARTS[:3]),
       (index,)) for table, index in (("observables", "ix_observables_range"), ("terms", "ix_fusion_terms_range"))],
    *[(f"{table} ranges starting at many addresses",
       lambda s, v, table=table: fusion_repo.range_groups(s, viewer=v, purpose="investigation", table=table,
                                                           starts=STARTS),
       (index,)) for table, index in (("observables", "ix_observables_range"), ("terms", "ix_fusion_terms_range"))],
    *[(f"{table} rows inside a range",
       lambda s, v, table=table: fusion_repo.range_groups(s, viewer=v, purpose="investigation", table=table,
                                                           inside=(STARTS[0], STARTS[-1])),
       (index,)) for table, index in (("observables", "ix_observables_range"), ("terms", "ix_fusion_terms_range"))],
    ("rows of either table in or around ranges (clustering)",
     lambda s, v: (fusion_repo.readable_objects_in_ranges(s, viewer=v, purpose="investigation", starts=STARTS[:3],
                                                          limit=10),
                   fusion_repo.readable_objects_in_ranges(s, viewer=v, purpose="investigation",
                                                          inside=(STARTS[0], STARTS[-1]), limit=10)),
     ("ix_observables_range", "ix_fusion_terms_range")),
]


def _stock(world, tmp_path, copies: int = 3000) -> None:
    """A store as the planners should see it, then its statistics: thousands of rows whose
    source_ref, target_ref and ranges are NULL (indicators of a URL: an observable and a host term
    each), and sightings of thousands of other objects (so that "type = 'sighting'" is no shortcut)."""
    contribute(world, tmp_path, "vendor", [indicator("url", "http://stock.example/a"),
                                           indicator("ipv4-addr", "192.0.2.1")], HandlingSpec(tlp="green"))
    engine = world.factory.kw["bind"]
    copies_of = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :copies) "
    with engine.begin() as conn:
        for table, changed in (("stix_objects", {"stix_id": "'indicator--stock-' || n.i"}),
                               ("stix_objects", {"stix_id": "'sighting--stock-' || n.i", "type": "'sighting'",
                                                 "source_ref": "'indicator--sighted-' || n.i"}),
                               ("observables", {"value": "'http://stock.example/' || n.i"}),
                               ("fusion_terms", {"value": "'example.stock.' || n.i"})):
            cols = [c.name for c in metadata.tables[table].columns if c.name != "pk"]
            source = ", ".join(changed.get(c, f"t.{c}") for c in cols)
            first = "(SELECT min(pk) FROM %s WHERE range_start IS NULL)" % table if table != "stix_objects" else \
                "(SELECT min(pk) FROM stix_objects)"
            conn.execute(text(f"{copies_of}INSERT INTO {table} ({', '.join(cols)}) SELECT {source} "
                              f"FROM {table} t, n WHERE t.pk = {first}"), {"copies": copies})
        conn.execute(text("ANALYZE"))


@pytest.mark.parametrize("what,call,indexes", LOOKUPS, ids=[w for w, _c, _i in LOOKUPS])
def test_lookups_by_these_columns_use_the_partial_index(world, tmp_path, what, call, indexes):
    _stock(world, tmp_path)
    viewer = world.viewer("analyst")
    engine = world.factory.kw["bind"]
    with transaction(world.factory) as s:
        s.connection()  # the session's connection first: the statements below are the lookup's only
        with _statements(engine) as seen:
            call(s, viewer)
        plans = [_plan(s, stmt, params, pg_join_by_index=what == "sightings of many objects")
                 for stmt, params in seen]
        s.rollback()
    assert plans, what
    joined = "\n".join(plans)
    for index in indexes:
        assert index in joined, (what, index, plans)
