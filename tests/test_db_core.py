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
