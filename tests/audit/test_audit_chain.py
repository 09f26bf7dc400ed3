"""The hash chain: every write leaves an entry; verification finds the first altered entry."""

from __future__ import annotations

from sqlalchemy import select, text, update

from cyberfusion.audit import service as audit
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction


def test_writes_leave_chained_entries(world):
    with world.factory() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert entries[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))
    actions = [e.action for e in entries]
    assert actions.count("org.create") == 11 and actions.count("member.create") == 17
    assert actions.count("secondment.create") == 3 and actions.count("agreement.create") == 10


def test_verify_passes_on_an_untouched_chain(world):
    with world.factory() as s:
        report = audit.verify(s)
    assert (report.ok, report.broken_at) == (True, None)
    assert report.entries > 40


def test_verify_names_the_first_altered_entry(world):
    with world.factory() as s:
        target = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()[7]
    with transaction(world.factory) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == target).values(action="member.delete"))
    with world.factory() as s:
        report = audit.verify(s)
    assert (report.ok, report.broken_at) == (False, target)
    assert report.reason == "content does not match its hash (altered)"


def test_verify_detects_a_deleted_entry(world):
    with world.factory() as s:
        ids = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
    with transaction(world.factory) as s:
        s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids[3]})
    with world.factory() as s:
        report = audit.verify(s)
    assert (report.ok, report.broken_at) == (False, ids[4])
    assert report.reason == "previous-hash link does not match the entry before"


def test_entries_roll_back_with_the_work(world):
    with world.factory() as s:
        before = len(s.scalars(select(AuditEntry.id)).all())
        audit.record(s, action="test.write", member_id=1)
        s.rollback()
        assert len(s.scalars(select(AuditEntry.id)).all()) == before
