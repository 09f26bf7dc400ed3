"""The review workflow: suggestions stay inside the requesting organisation until a person accepts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cyberfusion.ai import review
from cyberfusion.ai.documents import read_bytes
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import transaction
from cyberfusion.errors import Conflict, Forbidden
from cyberfusion.intel import service as intel
from cyberfusion.intel.models import StixObject
from cyberfusion.sharing.handling import HandlingSpec

TEXT = ("Ransomware hit the hospital: files were encrypted and a ransom note demanded bitcoin. "
        "The encryptor called back to hxxp://wipe-sync[.]top/gate.php and 45.76.12[.]9.")


def _analyse(world, key="analyst"):  # type: ignore[no-untyped-def]
    with transaction(world.factory) as s:
        return review.analyse(s, viewer=world.viewer(key), document=read_bytes(TEXT.encode(), name="note.txt"))


def test_analysis_is_queued_for_the_requesting_organisation_only(world):
    run = _analyse(world)
    kinds = [(x["capability"], x["kind"], x["value"]) for x in run["suggestions"]]
    assert kinds == [("observable", "ipv4-addr", "45.76.12.9"), ("observable", "url", "http://wipe-sync.top/gate.php"),
                     ("crime_type", "crime_type", "ransomware")]
    assert all(x["status"] == "pending" and x["reason"] for x in run["suggestions"])
    with transaction(world.factory) as s:
        assert [x["id"] for x in review.queue(s, viewer=world.viewer("expert"))] == \
            [x["id"] for x in run["suggestions"]]  # same organisation (host centre)
        assert review.queue(s, viewer=world.viewer("ncb_fr")) == []
        # nothing AI-made is intelligence yet, for anyone
        assert intel.search(s, viewer=world.viewer("analyst"), purpose="investigation", q="45.76.12.9").items == []
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.analyse")).one()
        assert entry.detail["models"] == {"cfc-extract": "1.0.0", "cfc-crime-type-nb": "1.1.0",
                                          "cfc-attack-matcher": "1.0.0"}
        assert entry.detail["input"]["name"] == "note.txt"


def test_accept_creates_intelligence_by_the_reviewer_with_provenance(world):
    run = _analyse(world)
    ids = [x["id"] for x in run["suggestions"]]
    with transaction(world.factory) as s:
        with pytest.raises(Forbidden):
            review.decide(s, viewer=world.viewer("auditor"), ids=ids, decision="accept")
    with transaction(world.factory) as s:
        out = review.decide(s, viewer=world.viewer("expert"), ids=ids, decision="accept", note="checked",
                            spec=HandlingSpec(tlp="green"))
    assert out["contribution_id"]
    with transaction(world.factory) as s:
        page = intel.search(s, viewer=world.viewer("ncb_fr"), purpose="investigation", q="45.76.12.9")
        assert [i["name"] for i in page.items] == ["ipv4-addr 45.76.12.9"]
        rows = s.scalars(select(StixObject).where(StixObject.contribution_id == out["contribution_id"])).all()
        assert sorted(r.type for r in rows) == ["indicator", "indicator", "report"]
        indicator = json.loads(next(r.data for r in rows if r.name == "ipv4-addr 45.76.12.9"))
        assert indicator["x_cfc_ai_provenance"]["reviewed_by"] == "expert@example.org"
        assert indicator["x_cfc_ai_provenance"]["model"] == "cfc-extract"
        report = json.loads(next(r.data for r in rows if r.type == "report"))
        assert report["labels"] == ["ai-assisted", "ransomware"]
        from cyberfusion.intel.models import Contribution
        c = s.get(Contribution, out["contribution_id"])
        assert (c.member_id, c.category, c.source_format) == (world.members["expert"], "ransomware", "ai")
        decision = s.scalars(select(AuditEntry).where(AuditEntry.action == "ai.review.accept")).one()
        assert decision.member_id == world.members["expert"] and decision.detail["note"] == "checked"
        assert [x["status"] for x in review.queue(s, viewer=world.viewer("analyst"), status="accepted")] == \
            ["accepted"] * 3
        with pytest.raises(Conflict):
            review.decide(s, viewer=world.viewer("analyst"), ids=ids[:1], decision="reject")


def test_reject_records_the_decision_and_creates_nothing(world):
    run = _analyse(world, "ncb_fr")
    ids = [x["id"] for x in run["suggestions"]]
    with transaction(world.factory) as s:
        with pytest.raises(Exception) as err:
            review.decide(s, viewer=world.viewer("analyst"), ids=ids, decision="reject")
        assert "no suggestions" in str(err.value)  # another organisation's queue is not reachable
    with transaction(world.factory) as s:
        out = review.decide(s, viewer=world.viewer("ncb_fr"), ids=ids, decision="reject", note="false positive")
    assert out["contribution_id"] is None
    assert {x["status"] for x in out["suggestions"]} == {"rejected"}
