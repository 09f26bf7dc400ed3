"""Who may see an RFI (its own handling), who gets its answer, and what the answer's references and
its STIX report show each reader (through the policy gate)."""

from __future__ import annotations

import json

import pytest
import stix2
from sharing.helpers import contribute, indicator
from tasking.tasking_support import NOW, act, file, to_assigned

from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import TLP2_MARKING_IDS
from cyberfusion.tasking.rfi import release
from cyberfusion.tasking.rfi import service as rfis

RESOLVABLE = ["analyst", "expert", "admin", "auditor", "ncb_fr", "ncb_ru", "le_gb", "vendor", "bank", "bank_admin",
              "telco", "uni", "intl"]


def _seen_by(world):
    return {who: {i["id"] for i in act(world, who, rfis.list_rfis, limit=500, now=NOW).items} for who in RESOLVABLE}


def test_rfi_handling_decides_who_sees_the_request(world):
    amber = file(world, "bank", tlp="amber")
    shared = file(world, "bank", tlp="amber", shared_with=["Vendor Labs"])
    green = file(world, "bank", tlp="green")
    clear = file(world, "bank", tlp="clear")
    staff = file(world, "bank", tlp="amber", staff_only=True)
    red = file(world, "le_gb", tlp="red")
    seen = _seen_by(world)
    who_sees = {name: {w for w in RESOLVABLE if rid in seen[w]}
                for name, rid in (("amber", amber), ("shared", shared), ("green", green), ("clear", clear),
                                  ("staff", staff), ("red", red))}
    assert who_sees == {
        "amber": {"bank", "bank_admin", "analyst", "expert"},
        "shared": {"bank", "bank_admin", "analyst", "expert", "vendor"},
        "green": set(RESOLVABLE),
        "clear": set(RESOLVABLE),
        "staff": {"bank", "bank_admin", "analyst"},
        "red": {"le_gb", "analyst", "expert"},
    }
    # An RFI one may not see does not exist for them: the same answer as for a missing id.
    for rid in (amber, 999_999):
        with pytest.raises(NotFound) as e:
            act(world, "vendor", rfis.get_rfi, rfi_id=rid)
        assert e.value.detail == f"no RFI {rid}"
    # A staff-only RFI cannot go to a seconded expert.
    act(world, "analyst", rfis.triage, rfi_id=staff)
    with pytest.raises(InvalidInput) as e:
        act(world, "analyst", rfis.assign, rfi_id=staff, member="expert@example.org")
    assert e.value.detail == f"field 'member': RFI {staff} is for staff only: a seconded expert cannot take it"


@pytest.fixture
def intel(world, tmp_path):
    """Three objects: clear (vendor), AMBER+STRICT (ncb_fr), GREEN no-further-dissemination (telco)."""
    objs = {"clear": indicator("ipv4-addr", "10.1.0.1"), "strict": indicator("ipv4-addr", "10.1.0.2"),
            "nfd": indicator("ipv4-addr", "10.1.0.3")}
    contribute(world, tmp_path, "vendor", [objs["clear"]], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "ncb_fr", [objs["strict"]], HandlingSpec(tlp="amber+strict"))
    contribute(world, tmp_path, "telco", [objs["nfd"]], HandlingSpec(tlp="green", no_further_dissemination=True))
    return {k: v["id"] for k, v in objs.items()}


def _answered(world, intel, **kw):
    rid = file(world, "bank", **kw)
    to_assigned(world, rid)
    act(world, "analyst", rfis.start, rfi_id=rid)
    act(world, "analyst", rfis.answer, rfi_id=rid, text="Three indicators.",
        object_refs=[intel["clear"], intel["strict"], intel["nfd"]])
    return rid


def _refs(out):
    return {r["id"] for r in out["answer"]["references"]} if out["answer"] else None


def test_the_requester_sees_only_the_references_the_policy_lets_it_see(world, intel, tmp_path):
    rid = _answered(world, intel, tlp="green")
    assert _refs(act(world, "analyst", rfis.get_rfi, rfi_id=rid)) == {intel["clear"], intel["strict"], intel["nfd"]}
    assert _refs(act(world, "bank", rfis.get_rfi, rfi_id=rid)) == {intel["clear"], intel["nfd"]}
    # A GREEN request is seen by the community; its answer only by the requester and the centre.
    assert act(world, "vendor", rfis.get_rfi, rfi_id=rid)["answer"] is None
    # An answer may reference only what the answerer may read (unreadable and absent look the same).
    red = indicator("ipv4-addr", "10.1.0.9")
    contribute(world, tmp_path, "bank", [red], HandlingSpec(tlp="red", recipients=(world.orgs["le_gb"],)))
    rid = file(world, "bank")
    to_assigned(world, rid)
    act(world, "analyst", rfis.start, rfi_id=rid)
    for ref in (red["id"], "indicator--00000000-0000-4000-8000-000000000000"):
        with pytest.raises(InvalidInput) as e:
            act(world, "analyst", rfis.answer, rfi_id=rid, text="x", object_refs=[ref])
        assert e.value.detail == f"field 'object_refs': not readable by you for 'investigation', or no such object: {ref}"


def test_release_as_a_stix_report_built_for_each_reader(world, intel):
    rid = _answered(world, intel)
    with pytest.raises(NotFound, match=f"the answer to RFI {rid} is not released"):
        act(world, "bank", release.report_bundle, rfi_id=rid)
    out = act(world, "analyst", release.release, rfi_id=rid, now=NOW)
    # The requester will get the clear object only: AMBER+STRICT is not for it, and a released answer
    # is disseminated, so "no further dissemination" content stays out.
    assert (out["objects_for_requester"], out["released_at"]) == (1, NOW)
    bundle = json.loads(act(world, "bank", release.report_bundle, rfi_id=rid))
    stix2.parse(bundle, allow_custom=True)
    by_type = {}
    for o in bundle["objects"]:
        by_type.setdefault(o["type"], []).append(o)
    report = by_type["report"][0]
    assert report["object_refs"] == [intel["clear"]]
    assert report["name"] == f"Answer to RFI {rid}: Who runs bulletproof host X?"
    assert report["description"] == "Three indicators."
    assert TLP2_MARKING_IDS["amber"] in report["object_marking_refs"]
    assert [o["id"] for o in by_type["indicator"]] == [intel["clear"]]
    analyst_view = json.loads(act(world, "analyst", release.report_bundle, rfi_id=rid))
    assert {o["id"] for o in analyst_view["objects"] if o["type"] == "indicator"} == {intel["clear"], intel["strict"]}
    assert act(world, "vendor", rfis.list_rfis, now=NOW).items == []
    with pytest.raises(NotFound):
        act(world, "vendor", release.report_bundle, rfi_id=rid)
