"""Retention: owners warned six months ahead, due data hidden, deleted after the grace period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cyberfusion.audit import service as audit
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction, utcnow
from cyberfusion.intel import retention
from cyberfusion.intel import service as intel
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute, indicator


def test_retention_lifecycle(world, tmp_path):
    now = utcnow()
    soon = contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.10")],
                      HandlingSpec(tlp="clear", review_at=now + timedelta(days=100)))
    due = contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.11")],
                     HandlingSpec(tlp="clear", review_at=now + timedelta(days=3000),
                                  expires_at=now + timedelta(days=1)))
    later = contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.12")], HandlingSpec(tlp="clear"))

    with transaction(world.factory) as s:
        report = retention.run(s, grace_days=30, now=now)
    assert (report.notified, report.hidden, report.deleted) == ([soon.contribution_id], [], [])

    tomorrow = now + timedelta(days=1, minutes=1)
    with transaction(world.factory) as s:
        report = retention.run(s, grace_days=30, now=tomorrow)
    assert (report.notified, report.hidden, report.deleted) == ([], [due.contribution_id], [])
    with transaction(world.factory) as s:
        assert intel.search(s, viewer=world.viewer("vendor"), purpose="investigation", q="192.0.2.11").items == []
        assert len(intel.search(s, viewer=world.viewer("vendor"), purpose="investigation", q="192.0.2.12").items) == 1

    with transaction(world.factory) as s:
        report = retention.run(s, grace_days=30, now=tomorrow + timedelta(days=31))
    assert (report.hidden, report.deleted, report.deleted_objects) == ([], [due.contribution_id], 1)
    with world.factory() as s:
        assert s.scalar(select(func.count()).select_from(StixObject)
                        .where(StixObject.contribution_id == due.contribution_id)) == 0
        assert s.scalar(select(func.count()).select_from(Observable)
                        .where(Observable.contribution_id == due.contribution_id)) == 0
        assert s.get(Contribution, due.contribution_id).status == "deleted"
        assert s.get(Contribution, later.contribution_id).status == "active"
        actions = [a for a in s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
                   if a.startswith("retention.")]
        assert actions == ["retention.notify", "retention.hide", "retention.delete"]
        assert audit.verify(s).ok


def test_review_date_hides_without_the_job(world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.20")],
               HandlingSpec(tlp="clear", review_at=utcnow() - timedelta(seconds=1)))
    with transaction(world.factory) as s:
        assert intel.search(s, viewer=world.viewer("vendor"), purpose="investigation", q="192.0.2.20").items == []


def test_a_file_can_be_contributed_again_after_retention_deleted_it(world, tmp_path):
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.partners import repository, service
    from sharing.helpers import bundle_file
    path = bundle_file(tmp_path, [indicator("ipv4-addr", "192.0.2.30")], "again.json")

    def run():
        with transaction(world.factory) as s:
            viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members["vendor"]))
            return import_file(s, viewer=viewer, path=path, fmt="stix",
                               spec=HandlingSpec(tlp="clear", expires_at=utcnow() + timedelta(hours=1)))
    first = run()
    with transaction(world.factory) as s:
        retention.run(s, grace_days=0, now=utcnow() + timedelta(hours=2))
    second = run()
    assert (second.created, second.objects) == (True, 1)
    assert second.contribution_id != first.contribution_id
    with transaction(world.factory) as s:
        assert len(intel.search(s, viewer=world.viewer("vendor"), purpose="investigation", q="192.0.2.30").items) == 1


def test_retention_delete_takes_the_contribution_out_of_correlation_counts(world, tmp_path):
    """Three organisations report one URL; retention deletes one report: the per-value counts
    (over-correlation guard) and the corroboration drop from 3 to 2, the host term's count too."""
    from cyberfusion.fusion import correlate
    from cyberfusion.fusion.models import ValueStat

    now = utcnow()
    url = "http://c2.retention.example.net/gate"
    expiring = contribute(world, tmp_path, "vendor", [indicator("url", url)],
                          HandlingSpec(tlp="clear", expires_at=now + timedelta(days=1)))
    contribute(world, tmp_path, "bank", [indicator("url", url)], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "telco", [indicator("url", url)], HandlingSpec(tlp="clear"))

    def facts():
        with transaction(world.factory) as s:
            out = correlate.correlations(s, viewer=world.viewer("analyst"), purpose="investigation", value=url)
            counts = (s.get(ValueStat, (url, "url")).contributions,
                      s.get(ValueStat, ("net.example.retention.c2", "host")).contributions)
        return counts, out["corroboration"]

    assert facts() == ((3, 3), 3)
    with transaction(world.factory) as s:
        report = retention.run(s, grace_days=30, now=now + timedelta(days=1, minutes=1))
    assert report.hidden == [expiring.contribution_id]
    # Hidden: no longer readable, but still counted until its rows are deleted.
    assert facts() == ((3, 3), 2)
    with transaction(world.factory) as s:
        report = retention.run(s, grace_days=30, now=now + timedelta(days=33))
    assert report.deleted == [expiring.contribution_id]
    assert facts() == ((2, 2), 2)
    with transaction(world.factory) as s:
        rebuilt = correlate.rebuild(s)
    assert rebuilt["terms_added"] == 0
    assert facts() == ((2, 2), 2)  # the maintained counts equal a recount from the index


def _import_as(world, path, spec, now):
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.partners import repository, service
    with transaction(world.factory) as s:
        viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members["vendor"]))
        return import_file(s, viewer=viewer, path=path, fmt="stix", spec=spec, now=now)


def test_data_past_its_retention_can_be_contributed_again_before_it_is_deleted(world, tmp_path):
    """The owner re-contributes a file whose contribution expired but is still in its grace period
    (hidden from every read, its rows kept): the old contribution is deleted at once (audited,
    superseded by the new one) and the new one holds the data; the per-value counts stay exact."""
    from cyberfusion.fusion import correlate
    from cyberfusion.fusion.models import ValueStat
    from sharing.helpers import bundle_file

    now = utcnow()
    path = bundle_file(tmp_path, [indicator("ipv4-addr", "192.0.2.40"), indicator("ipv4-addr", "192.0.2.41")],
                       "expiring.json")
    first = _import_as(world, path, HandlingSpec(tlp="clear", expires_at=now + timedelta(hours=1)), now)
    with transaction(world.factory) as s:  # the job hides it; its grace period has 30 days to run
        assert retention.run(s, grace_days=30, now=now + timedelta(hours=2)).hidden == [first.contribution_id]

    later = now + timedelta(hours=3)
    second = _import_as(world, path, HandlingSpec(tlp="clear"), later)
    assert (second.created, second.objects, second.skipped_versions, second.superseded) == (
        True, 2, 0, [first.contribution_id])
    assert second.contribution_id != first.contribution_id

    with transaction(world.factory) as s:
        found = intel.search(s, viewer=world.viewer("analyst"), purpose="investigation", q="192.0.2.40").items
        assert [o["id"] for o in found] == [indicator("ipv4-addr", "192.0.2.40")["id"]]
        assert s.get(Contribution, first.contribution_id).status == "deleted"
        assert s.scalar(select(func.count()).select_from(StixObject)
                        .where(StixObject.contribution_id == first.contribution_id)) == 0
        assert s.get(ValueStat, ("192.0.2.40", "ipv4-addr")).contributions == 1
        deleted = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention.delete")).one()
        assert (deleted.object_ids, deleted.detail["superseded_by"], deleted.detail["objects"]) == (
            [first.contribution_id], second.contribution_id, 2)
        assert audit.verify(s).ok
    with transaction(world.factory) as s:
        assert correlate.rebuild(s)["terms_added"] == 0
        assert s.get(ValueStat, ("192.0.2.40", "ipv4-addr")).contributions == 1  # equals a recount


def test_overlapping_data_supersedes_the_whole_out_of_force_contribution(world, tmp_path):
    """A new file that shares one object with an expired contribution: the expired one goes as a
    whole (it was invisible already), the other object with it; the new file's objects are stored."""
    now = utcnow()
    old = contribute(world, tmp_path, "vendor",
                     [indicator("ipv4-addr", "192.0.2.50"), indicator("ipv4-addr", "192.0.2.51")],
                     HandlingSpec(tlp="clear", review_at=now + timedelta(minutes=30)))
    from sharing.helpers import bundle_file
    path = bundle_file(tmp_path, [indicator("ipv4-addr", "192.0.2.51"), indicator("ipv4-addr", "192.0.2.52")])
    new = _import_as(world, path, HandlingSpec(tlp="clear"), now + timedelta(hours=1))
    assert (new.objects, new.superseded) == (2, [old.contribution_id])
    with world.factory() as s:
        held = sorted(s.scalars(select(StixObject.name).where(StixObject.organisation_id == s.get(
            Contribution, new.contribution_id).organisation_id)))
        assert held == ["test 192.0.2.51", "test 192.0.2.52"]


def test_a_contribution_in_force_still_holds_its_versions(world, tmp_path):
    first = contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.60")], HandlingSpec(tlp="clear"))
    again = contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.60"),
                                                   indicator("ipv4-addr", "192.0.2.61")], HandlingSpec(tlp="clear"))
    assert (again.objects, again.skipped_versions, again.superseded) == (1, 1, [])
    with world.factory() as s:
        assert s.get(Contribution, first.contribution_id).status == "active"


def test_an_import_born_past_its_review_date_does_not_supersede_itself(world, tmp_path, monkeypatch):
    """Stored in batches of one, the same version twice in one file: the second is skipped, even
    though the contribution itself is out of force from the start (review date in the past)."""
    from cyberfusion.ingest import pipeline
    monkeypatch.setattr(pipeline, "BATCH", 1)
    obj = indicator("ipv4-addr", "192.0.2.70")
    result = contribute(world, tmp_path, "vendor", [obj, obj, indicator("ipv4-addr", "192.0.2.71")],
                        HandlingSpec(tlp="clear", review_at=utcnow() - timedelta(seconds=1)))
    assert (result.objects, result.skipped_versions, result.superseded) == (2, 1, [])
