"""Reads of the review queue: the policy gate on suggestions made from stored intelligence, the audit
of every read, and the queue in the leak matrix (sharing/leak.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ai_helpers import AI_PURPOSES, contribute_report_matrix, report
from cyberfusion.ai import review
from cyberfusion.ai.models import AiSuggestion
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden, NotFound
from cyberfusion.intel.models import StixObject
from cyberfusion.partners.models import Member
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute
from sharing.leak import HANDLINGS, VIEWERS, expected_for

TEXT = "Ransomware encrypted the clinic's files; the loader beaconed to hxxp://wipe-sync[.]top/gate.php"


def _stored_report(world, tmp_path, **handling):  # type: ignore[no-untyped-def]
    obj = report("Clinic ransomware", TEXT)
    result = contribute(world, tmp_path, "vendor", [obj], HandlingSpec(tlp="green", purposes=AI_PURPOSES, **handling))
    return obj["id"], result


def test_every_queue_read_is_audited_with_what_it_returned(world, tmp_path, client):
    stix_id, _ = _stored_report(world, tmp_path)
    with transaction(world.factory) as s:
        run = review.analyse(s, viewer=world.viewer("analyst"), stix_id=stix_id, with_entities=False)
    ids = [x["id"] for x in run["suggestions"]]
    assert [(x["kind"], x["value"]) for x in run["suggestions"]] == [
        ("url", "http://wipe-sync.top/gate.php"), ("crime_type", "ransomware")]
    r = client.get("/api/v1/ai/review", headers={"Authorization": f"Bearer {world.token('expert')}"})
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == ids
    with transaction(world.factory) as s:
        reads = s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.review.read")).all()
        assert [(e.member_id, e.purpose, e.object_ids, e.detail) for e in reads] == [
            (world.members["expert"], "ai_processing", [stix_id],
             {"status": "pending", "run_id": None, "after_id": 0, "suggestions": ids})]
        # An empty answer is a read too.
        assert review.queue(s, viewer=world.viewer("ncb_fr")) == []
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert (last.action, last.member_id, last.detail["suggestions"]) == \
            ("ai.review.read", world.members["ncb_fr"], [])


def test_suggestions_leave_the_queue_when_their_source_may_no_longer_be_read(world, tmp_path):
    from cyberfusion.intel import retention
    stix_id, _ = _stored_report(world, tmp_path, review_at=utcnow() + timedelta(days=1))
    with transaction(world.factory) as s:
        run = review.analyse(s, viewer=world.viewer("analyst"), stix_id=stix_id, with_entities=False)
        upload = review.analyse(s, viewer=world.viewer("analyst"), document=_upload())
    from_source = [x["id"] for x in run["suggestions"]]
    uploaded = [x["id"] for x in upload["suggestions"]]
    with transaction(world.factory) as s:
        assert [x["id"] for x in review.queue(s, viewer=world.viewer("analyst"))] == from_source + uploaded
    with transaction(world.factory) as s:  # the review date passed: the owner's contribution is withdrawn
        retention.run(s, grace_days=30, now=utcnow() + timedelta(days=2))
    with transaction(world.factory) as s:
        assert s.get(StixObject, s.scalar(select(AiSuggestion.source_object_pk).where(
            AiSuggestion.id == from_source[0]))) is not None  # still stored, no longer readable
        assert [x["id"] for x in review.queue(s, viewer=world.viewer("analyst"))] == uploaded
        with pytest.raises(NotFound):
            review.decide(s, viewer=world.viewer("analyst"), ids=from_source[:1], decision="accept")


def _upload():  # type: ignore[no-untyped-def]
    from cyberfusion.ai.documents import read_bytes
    return read_bytes(b"Phishing kit hosted at evil-login[.]example-bank[.]top", name="memo.txt")


# --- the leak matrix -----------------------------------------------------------------------------

@pytest.fixture
def queue_matrix(world, tmp_path):  # type: ignore[no-untyped-def]
    """One report per handling combination of the leak matrix, and in every organisation's queue one
    suggestion made from each report, as if someone there had analysed it while allowed to (a
    colleague may be allowed less, or the handling may have run out since)."""
    contribute_report_matrix(world, tmp_path)
    with transaction(world.factory) as s:
        reports = s.scalars(select(StixObject).where(StixObject.type == "report")).all()
        assert len(reports) == len(HANDLINGS)
        for org_id in world.orgs.values():
            member = s.scalars(select(Member.id).where(Member.organisation_id == org_id)).first()
            if member is None:
                continue
            s.add_all([AiSuggestion(
                run_id=f"run-{org_id}", organisation_id=org_id, requested_by=member, created_at=utcnow(),
                source_name=r.stix_id, source_sha256="0" * 64, source_object_pk=r.pk, capability="crime_type",
                kind="crime_type", value="ransomware", confidence=0.9, reason="test", positions={},
                model_id="cfc-crime-type-nb", model_version="1.1.0", status="pending") for r in reports])
        names = {r.stix_id: r.name.removeprefix("matrix ") for r in reports}
    world.report_names = names
    return world


# Roles without the review queue: platform_admin (admin), auditor, reader (uni).
NO_QUEUE_ROLE = {"admin", "auditor", "uni"}


def via_queue(world, key, client):  # type: ignore[no-untyped-def]
    try:
        viewer = world.viewer(key)
    except Forbidden:
        return set()
    with transaction(world.factory) as s:
        try:
            items = review.queue(s, viewer=viewer, purpose="investigation", status=None, limit=1000)
        except Forbidden:
            return "forbidden"
    return {world.report_names[i["source"]["name"]] for i in items}


def via_api_queue(world, key, client):  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/ai/review", params={"purpose": "investigation", "status": "", "limit": 1000},
                   headers={"Authorization": f"Bearer {world.token(key)}"})
    if r.status_code == 403:
        return "forbidden" if "requires one of the roles" in r.json()["detail"] else set()
    assert r.status_code == 200, r.text
    return {world.report_names[i["source"]["name"]] for i in r.json()["items"]}


@pytest.mark.parametrize("read_path", [via_queue, via_api_queue])
def test_review_queue_joins_the_leak_matrix(queue_matrix, client, read_path):
    outcome = {key: read_path(queue_matrix, key, client) for key in VIEWERS}
    expected = {key: "forbidden" if key in NO_QUEUE_ROLE else expected_for(key) for key in VIEWERS}
    assert outcome == expected


def test_a_stored_report_without_ai_processing_is_never_analysed(world, tmp_path):
    own = report("Own note, no AI", TEXT)
    contribute(world, tmp_path, "analyst", [own], HandlingSpec(tlp="green"))  # default purposes: no ai_processing
    with transaction(world.factory) as s:
        with pytest.raises(NotFound) as err:
            review.analyse(s, viewer=world.viewer("analyst"), stix_id=own["id"])
    assert err.value.detail == f"no document {own['id']} that may be processed by AI"
    with transaction(world.factory) as s:
        assert s.scalars(select(AiSuggestion)).all() == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.analyse")).all() == []
