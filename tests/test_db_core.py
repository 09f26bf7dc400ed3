"""db.core: the hot Core statements read through the session's connection give the rows
Session.execute gives, and see what the session has not flushed yet (as autoflush did)."""

from __future__ import annotations

from datetime import date

import pytest

from cyberfusion.audit import repository as audit_repo
from cyberfusion.db import core
from cyberfusion.fusion import repository as fusion_repo
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member, Organisation


@pytest.mark.storage
def test_core_rows_equal_the_sessions(world):
    today = date.today()
    with world.factory() as s:
        for key in world.members:
            params = {"member_id": world.members[key], "today": today}
            assert (core(s).execute(partners_repo._MEMBER_ACCESS_FACTS, params).all()
                    == s.execute(partners_repo._MEMBER_ACCESS_FACTS, params).all())
        for key in world.orgs:
            params = {"org_id": world.orgs[key], "today": today}
            assert (core(s).execute(partners_repo._ACCESS_FACTS, params).all()
                    == s.execute(partners_repo._ACCESS_FACTS, params).all())
        assert core(s).scalar(audit_repo._LAST_HASH) == s.scalar(audit_repo._LAST_HASH) is not None
        assert list(core(s).scalars(fusion_repo._IP_PREFIXES)) == list(s.scalars(fusion_repo._IP_PREFIXES))
        viewer = partners.resolve_viewer(s, s.get(Member, world.members["bank"]))
        q = fusion_repo._match_statement(viewer, "investigation", "observables", s.get_bind().dialect.name,
                                         "one", True)
        params = fusion_repo._values_param(["198.51.100.7"], s.get_bind().dialect.name, "one")
        assert core(s).execute(q, params).all() == s.execute(q, params).all()


@pytest.mark.storage
def test_core_sees_unflushed_changes(world):
    with world.factory() as s:
        org = s.get(Organisation, world.orgs["bank"])
        org.vetting_status = "rejected"  # not flushed
        row = partners_repo.member_access_facts(s, member_id=world.members["bank"], today=date.today())
        assert row.vetting_status == "rejected"
        s.rollback()


@pytest.mark.storage
def test_insert_rows_stores_what_an_insert_stores(world):
    """db.insert_rows (one statement of many VALUES rows on SQLite, its values through each
    column type's bind processor) stores exactly the raw column values SQLAlchemy's INSERT of
    the same rows stores, in their order: times (with and without microseconds), JSON, None,
    bytes."""
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select, text

    from cyberfusion.audit.models import AuditEntry
    from cyberfusion.db import insert_rows
    from cyberfusion.fusion.models import Lookup

    def lookups(start: int) -> list[dict]:
        return [{"id": start + i, "member_id": world.members["bank"], "organisation_id": world.orgs["bank"],
                 "secondment_id": None if i % 2 else 7, "purpose": "investigation",
                 "created_at": datetime(2026, 11, 28, 5, 0, i, 0 if i % 2 else 123456, tzinfo=UTC),
                 "value_count": i, "hit_count": 0, "notified_count": 0, "digests": bytes([i]) * 16} for i in range(3)]

    def entries(tag: str) -> list[dict]:
        return [{"at": datetime(2026, 11, 28, 5, 0, i, 0 if i % 2 else 5, tzinfo=UTC), "member_id": None,
                 "organisation_id": i, "secondment_id": None, "action": tag, "purpose": None if i else "research",
                 "object_ids": [f"indicator--{i}"] if i else [], "detail": {"n": i, "é": "ü"} if i else {},
                 "note": None, "prev_hash": "p" * 64, "hash": f"{tag}{i}".ljust(64, "0")} for i in range(3)]

    def raw(s, table: str, where: str) -> list[tuple]:
        rows = s.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY id")).all()
        return [tuple(r)[1:] for r in rows]  # all but the id

    with world.factory() as s:
        top = (s.scalar(select(func.max(Lookup.id))) or 0) + 100
        insert_rows(s, Lookup.__table__, lookups(top))
        core(s).execute(insert(Lookup.__table__), lookups(top + 10))
        insert_rows(s, AuditEntry.__table__, entries("test.many"))
        core(s).execute(insert(AuditEntry.__table__), entries("test.each"))
        ours = raw(s, "fusion_lookups", f"id >= {top} AND id < {top + 10}")
        theirs = raw(s, "fusion_lookups", f"id >= {top + 10}")
        assert ours == theirs and len(ours) == 3
        ours = [r[:-2] for r in raw(s, "audit_log", "action = 'test.many'")]
        theirs = [r[:-2] for r in raw(s, "audit_log", "action = 'test.each'")]
        assert [r[:4] + r[5:] for r in ours] == [r[:4] + r[5:] for r in theirs] and len(ours) == 3  # but the action
        assert [e.organisation_id for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "test.many")
                                                     .order_by(AuditEntry.id))] == [0, 1, 2]
        # More rows than one statement may carry parameters for: several statements, same order.
        many = [row | {"organisation_id": i, "action": "test.more"} for i, row in enumerate(entries("x") * 70)]
        insert_rows(s, AuditEntry.__table__, many)
        assert [e.organisation_id for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "test.more")
                                                     .order_by(AuditEntry.id))] == list(range(210))
        s.rollback()
