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


def _chain_is_whole(world) -> None:
    with world.factory() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        assert audit.verify(s).ok
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:]))


def test_appends_in_one_transaction_chain_onto_each_other(world):
    # The head each append leaves is used by the next one in the same transaction (no read).
    with transaction(world.factory) as s:
        for i in range(5):
            audit.record(s, action="test.batch", member_id=1, detail={"i": i})
        assert s.info[audit._HEAD][1] == s.scalars(select(AuditEntry.hash).order_by(AuditEntry.id.desc())).first()
    _chain_is_whole(world)


def test_a_session_reads_the_head_again_in_its_next_transaction(world):
    # Session one appends and commits; session two appends after it; session one's next
    # transaction must chain onto session two's entry, not onto its own last one.
    with world.factory() as one, world.factory() as two:
        audit.record(one, action="test.one", member_id=1)
        one.commit()
        audit.record(two, action="test.two", member_id=1)
        two.commit()
        audit.record(one, action="test.one", member_id=1)
        one.commit()
    _chain_is_whole(world)


def test_after_a_rolled_back_savepoint_the_head_is_read_again(world):
    with transaction(world.factory) as s:
        audit.record(s, action="test.outer", member_id=1)
        nested = s.begin_nested()
        audit.record(s, action="test.inner", member_id=1)
        nested.rollback()
        audit.record(s, action="test.outer", member_id=1)
    _chain_is_whole(world)
    with world.factory() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(2)).all()
    assert actions == ["test.outer", "test.outer"]


def test_after_a_rollback_the_head_is_read_again(world):
    with world.factory() as s:
        audit.record(s, action="test.gone", member_id=1)
        s.rollback()
        audit.record(s, action="test.kept", member_id=1)
        s.commit()
    _chain_is_whole(world)
