"""intel.repository's bulk inserts store exactly what SQLAlchemy's column types would store (on
SQLite they bind the converted values themselves), whatever the number of rows per statement."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text

from cyberfusion.db import transaction
from cyberfusion.intel import repository
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute, indicator

PLUS_5 = timezone(timedelta(hours=5, minutes=30))
TIMES = [datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 1, 12, 30, 15, 123456, tzinfo=UTC),
         datetime(2026, 10, 1, 23, 59, 59, 1, tzinfo=PLUS_5), datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
         datetime(2026, 10, 1, 12, 30, 15, 123456, tzinfo=PLUS_5)]


def _object_rows(tag: str, contribution: Contribution, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        t = TIMES[i % len(TIMES)]
        rows.append({
            "stix_id": f"malware--00000000-0000-4000-8000-{tag}{i:011d}", "type": "malware", "spec_version": "2.1",
            "created": t, "modified": TIMES[(i + 1) % len(TIMES)], "created_by_ref": None,
            "revoked": (False, True)[i % 2], "valid_from": None if i % 2 else t, "valid_until": None,
            "confidence": i, "labels": (None, ["a", "b"], [], ["ünï", 1, {"k": [True, None]}], [1.5], [True], [1])[i % 7],
            "name": f"Name {i}", "search_text": f"name {i}", "source_ref": None, "target_ref": None,
            "data": "{}", "contribution_id": contribution.id, "organisation_id": contribution.organisation_id,
            "handling_id": contribution.handling_id, "date_added": TIMES[2]})
    return rows


def _stored(session, table, contribution_id: str, columns: str) -> list[tuple]:
    if session.get_bind().dialect.name == "postgresql":
        columns = re.sub(r"typeof\((\w+)\)", r"pg_typeof(\1)::text", columns)
    return [tuple(r) for r in session.execute(text(
        f"SELECT {columns} FROM {table} WHERE contribution_id = :c ORDER BY pk"), {"c": contribution_id})]


@pytest.mark.parametrize("variable_limit", [32766, 83, 20])  # 1638, 4 and 1 object rows a statement
def test_bulk_insert_stores_what_the_column_types_store(world, tmp_path, monkeypatch, variable_limit):
    monkeypatch.setattr(repository, "_sqlite_variable_limit", lambda raw: variable_limit)
    fast = contribute(world, tmp_path, "vendor", [indicator("domain-name", "one.example")], HandlingSpec(tlp="clear"))
    core = contribute(world, tmp_path, "vendor", [indicator("domain-name", "two.example")], HandlingSpec(tlp="clear"))
    columns = ("stix_id, type, spec_version, created, typeof(created), modified, revoked, typeof(revoked), "
               "valid_from, confidence, labels, typeof(labels), name, search_text, date_added")
    obs_columns = "kind, value, range_start, range_end, seen_at, typeof(seen_at), extra, typeof(extra)"
    with transaction(world.factory) as s:
        by_id = {c.id: c for c in s.scalars(select(Contribution).where(
            Contribution.id.in_([fast.contribution_id, core.contribution_id])))}
        mine, theirs = by_id[fast.contribution_id], by_id[core.contribution_id]
        repository.insert_objects(s, _object_rows("1", mine, 11))
        s.execute(insert(StixObject), _object_rows("2", theirs, 11))
        obs = [{"kind": "ipv4-addr", "value": f"192.0.2.{i}", "range_start": f"{i:08x}", "range_end": None,
                "stix_id": "indicator--x", "object_type": "indicator", "seen_at": (TIMES + [None])[i % 6],
                "extra": (None, {"asn": 64500}, ["x"])[i % 3]} for i in range(9)]
        repository.insert_observables(s, [dict(o, contribution_id=mine.id, organisation_id=mine.organisation_id,
                                               handling_id=mine.handling_id) for o in obs])
        s.execute(insert(Observable), [dict(o, contribution_id=theirs.id, organisation_id=theirs.organisation_id,
                                            handling_id=theirs.handling_id) for o in obs])
        s.flush()
        stored_fast = _stored(s, "stix_objects", mine.id, columns)[1:]  # after the indicator it came with
        stored_core = _stored(s, "stix_objects", theirs.id, columns)[1:]
        assert len(stored_fast) == 11
        assert [r[1:] for r in stored_fast] == [r[1:] for r in stored_core]
        assert [r[0][-12:] for r in stored_fast] == [f"1{i:011d}" for i in range(11)]
        assert _stored(s, "observables", mine.id, obs_columns)[1:] == _stored(s, "observables", theirs.id,
                                                                               obs_columns)[1:]
        if s.get_bind().dialect.name == "sqlite":
            assert stored_fast[2][3:5] == ("2026-10-01 18:29:59.000001", "text")  # +05:30 stored as UTC
            assert stored_fast[3][3] == "0999-01-02 03:04:05.000000"
            assert [r[6:8] for r in stored_fast[:2]] == [(0, "integer"), (1, "integer")]


def test_existing_versions_finds_what_an_in_list_finds_and_seeks_the_unique_index(world, tmp_path):
    # On SQLite the ids go as one JSON array read by json_each; the answer is the plain IN list's.
    from sqlalchemy import event

    from cyberfusion.sharing import policy

    objects = [indicator("domain-name", f"held{i}.example") for i in range(30)]
    objects += [indicator("domain-name", "held0.example", modified="2026-10-02T00:00:00.5Z")]  # a second version
    contribute(world, tmp_path, "vendor", objects, HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "bank", [indicator("domain-name", "held1.example")], HandlingSpec(tlp="clear"))
    org = world.orgs["vendor"]
    now = datetime.now(UTC)
    keys = [(o["id"], now) for o in objects[::2]] + [("indicator--00000000-0000-4000-8000-000000000000", now),
                                                      ("x'); DROP TABLE stix_objects; --", now)]
    statements: list[tuple[str, object]] = []
    with transaction(world.factory) as s:
        def spy(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append((statement, parameters))

        event.listen(s.get_bind(), "before_cursor_execute", spy)
        try:
            found = repository.existing_versions(s, org_id=org, keys=keys, now=now)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", spy)
        expected = {(r[0], r[1]): (r[2], bool(r[3])) for r in s.execute(
            select(StixObject.stix_id, StixObject.modified, StixObject.contribution_id,
                   policy.contributions_in_force(now))
            .join(Contribution, Contribution.id == StixObject.contribution_id)
            .where(StixObject.organisation_id == org, StixObject.stix_id.in_(sorted({k[0] for k in keys}))))}
        assert found == expected
        assert len(found) == 16  # 15 ids asked, one of them with two versions
        assert repository.existing_versions(s, org_id=org, keys=[], now=now) == {}
        if s.get_bind().dialect.name == "sqlite":
            statement, parameters = statements[-1]
            assert "json_each" in statement
            raw = s.connection().connection.dbapi_connection
            plan = " | ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + statement, parameters))
            assert "SEARCH stix_objects USING INDEX sqlite_autoindex_stix_objects_1 (stix_id=?)" in plan, plan
