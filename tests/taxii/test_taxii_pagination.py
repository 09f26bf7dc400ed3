"""Keyset pagination: stable under concurrent writes (no duplicates, no gaps), constant cost per page."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import event, select

from cyberfusion.db import transaction
from cyberfusion.taxii import collections as cols
from cyberfusion.taxii import repository
from cyberfusion.taxii.repository import Query
from sharing.helpers import indicator
from taxii.support import TAXII


def _session(world, key):  # type: ignore[no-untyped-def]
    s = requests.Session()
    s.auth = (f"{key}@example.org", world.token(key))
    s.headers.update({"Accept": TAXII, "Content-Type": TAXII})
    return s


def _objects(prefix: int, n: int) -> list[dict]:
    return [indicator("ipv4-addr", f"10.{prefix}.{i // 250}.{i % 250 + 1}") for i in range(n)]


def test_paging_under_concurrent_inserts_has_no_duplicates_or_gaps(live_server, world):
    base = f"{live_server}/taxii2/cfc/collections/"
    vendor, bank, reader = _session(world, "vendor"), _session(world, "bank"), _session(world, "analyst")
    initial = _objects(1, 1200)
    for i in range(0, len(initial), 400):
        r = vendor.post(base + "inbox/objects/", data=json.dumps({"objects": initial[i:i + 400]}))
        assert r.json()["success_count"] == 400
    concurrent = [_objects(2 + k, 40) for k in range(15)]
    started, failures = threading.Event(), []

    def writer() -> None:
        started.wait()
        for batch in concurrent:
            r = bank.post(base + "inbox/objects/", data=json.dumps({"objects": batch}))
            if r.status_code != 202 or r.json()["success_count"] != len(batch):
                failures.append(r.text)

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    params: dict = {"limit": 50}
    last_added = None
    while True:
        r = reader.get(base + "all/objects/", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [o["id"] for o in body.get("objects", [])]
        last_added = r.headers.get("X-TAXII-Date-Added-Last", last_added)
        started.set()
        if not body["more"]:
            break
        params = {"limit": 50, "next": body["next"]}
    thread.join()
    assert failures == []
    # A client then polls with added_after = the last date_added it saw, and gets exactly the rest.
    params = {"limit": 50, "added_after": last_added}
    while True:
        body = reader.get(base + "all/objects/", params=params).json()
        seen += [o["id"] for o in body.get("objects", [])]
        if not body["more"]:
            break
        params = {"limit": 50, "added_after": last_added, "next": body["next"]}
    everything = [o["id"] for o in initial] + [o["id"] for batch in concurrent for o in batch]
    assert len(seen) == len(set(seen))  # no duplicates
    assert set(seen) == set(everything)  # no gaps
    assert seen[:1200] == [o["id"] for o in initial]  # the first pass kept its order


def test_each_page_is_one_index_range_scan(world, tmp_path):
    """The page query walks ix_stix_objects_added from the cursor and never sorts: the same cost at any depth."""
    from sharing.helpers import contribute
    from cyberfusion.sharing.handling import HandlingSpec
    contribute(world, tmp_path, "vendor", _objects(3, 30), HandlingSpec(tlp="green"))
    viewer = world.viewer("bank")
    if world.factory.kw["bind"].dialect.name != "sqlite":
        return  # PostgreSQL plans from statistics; the index is the same
    statements: list[str] = []
    engine = world.factory.kw["bind"]
    listener = lambda conn, cur, stmt, params, ctx, many: statements.append((stmt, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with transaction(world.factory) as s:
            first = repository.page(s, viewer=viewer, purpose="network_defence", m=cols.builtin("all").membership,
                                    q=Query(), after=None, limit=10, columns="objects")
            repository.page(s, viewer=viewer, purpose="network_defence", m=cols.builtin("all").membership, q=Query(),
                            after=(repository.as_utc(first[-1][1]), first[-1][0]), limit=10, columns="objects")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    with engine.connect() as conn:
        for stmt, params in statements[-2:]:
            plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params)]
            assert any("ix_stix_objects_added" in p for p in plan), plan
            assert not any("TEMP B-TREE" in p for p in plan), plan
        # After a cursor: a seek to (date_added, pk), not a rescan of the rows stored at the same time.
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[-1][0], statements[-1][1])]
        assert "SEARCH stix_objects USING INDEX ix_stix_objects_added (date_added=? AND pk>?)" in plan


def test_ingest_clock_follows_commit_order_even_if_the_clock_goes_back(world, tmp_path):
    from sharing.helpers import contribute
    from cyberfusion.sharing.handling import HandlingSpec
    future = datetime.now(UTC) + timedelta(days=1)
    contribute(world, tmp_path, "vendor", _objects(4, 2), HandlingSpec(tlp="green"), now=future)
    from cyberfusion.intel import repository as intel_repo
    from cyberfusion.intel.models import StixObject
    with transaction(world.factory) as s:
        intel_repo.lock_ingest(s)
        stamped = intel_repo.ingest_clock(s, datetime.now(UTC))
    assert stamped == future + timedelta(microseconds=1)
    # Every import takes the clock, not only TAXII's: a plain import after it sorts after it.
    later = contribute(world, tmp_path, "vendor", _objects(2, 2), HandlingSpec(tlp="green"))
    with transaction(world.factory) as s:
        added = set(s.scalars(select(StixObject.date_added).where(StixObject.contribution_id == later.contribution_id)))
    assert added == {future + timedelta(microseconds=1)}


def test_version_filter_is_one_range_seek_per_row(world, tmp_path):
    """match[version] (default last) checks other versions with one seek on (stix_id, modified):
    no MULTI-INDEX OR (two seeks per row) and no temporary b-tree, for every selection."""
    from sharing.helpers import contribute
    from cyberfusion.sharing.handling import HandlingSpec
    from cyberfusion.taxii.repository import VersionSel
    contribute(world, tmp_path, "vendor", _objects(4, 5), HandlingSpec(tlp="green"))
    if world.factory.kw["bind"].dialect.name != "sqlite":
        return  # PostgreSQL plans from statistics
    viewer = world.viewer("bank")
    engine = world.factory.kw["bind"]
    selections = {"last": VersionSel(last=True), "first": VersionSel(first=True), "all": VersionSel(all=True),
                  "first,last": VersionSel(first=True, last=True),
                  "at": VersionSel(at=(datetime(2026, 1, 1, tzinfo=UTC),))}
    for name, sel in selections.items():
        statements: list[tuple[str, object]] = []
        listener = lambda conn, cur, stmt, params, ctx, many: statements.append((stmt, params))  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with transaction(world.factory) as s:
                repository.page(s, viewer=viewer, purpose="network_defence", m=cols.builtin("all").membership,
                                q=Query(versions=sel), after=None, limit=10, columns="objects")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        with engine.connect() as conn:
            plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[-1][0],
                                                          statements[-1][1])]
        assert plan[0] == "SCAN stix_objects USING INDEX ix_stix_objects_added", (name, plan)
        assert not any("MULTI-INDEX OR" in p or "TEMP B-TREE" in p for p in plan), (name, plan)
        seeks = [p for p in plan if p.startswith("SEARCH stix_objects_1")]
        # Version checks seek (stix_id, modified) of uq_stix_version_owner; "same version stored
        # earlier" seeks (stix_id, modified=?) of it: one seek either way.
        assert seeks and all(p in ("SEARCH stix_objects_1 USING INDEX sqlite_autoindex_stix_objects_1 "
                                   "(stix_id=? AND modified>?)",
                                   "SEARCH stix_objects_1 USING INDEX sqlite_autoindex_stix_objects_1 "
                                   "(stix_id=? AND modified<?)",
                                   "SEARCH stix_objects_1 USING INDEX sqlite_autoindex_stix_objects_1 "
                                   "(stix_id=? AND modified=?)")
                             for p in seeks), (name, plan)
