"""Runs end to end on the real pipeline: egress gate, handling inheritance, idempotency, runs, audit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from analyzers.analyzer_support import (
    TEST_ANALYZERS,
    Counting,
    Recorder,
    add_ip,
    session_of,
)
from sharing.helpers import contribute, indicator
from sqlalchemy import func, select

from cyberfusion.analyzers import registry, service
from cyberfusion.analyzers.base import stable_id, subject
from cyberfusion.analyzers.models import AnalyzerRun
from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.intel import service as intel
from cyberfusion.intel.models import Contribution, StixObject
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import TLP2_MARKING_IDS


@pytest.fixture(autouse=True)
def test_analyzers():
    for cls in TEST_ANALYZERS:
        registry.register(cls)
    Recorder.received.clear()
    Counting.calls = 0
    yield
    for cls in TEST_ANALYZERS:
        registry.unregister(cls.name)


def analyze(world, who, value, analyzer, purpose="investigation"):
    with session_of(world) as s:
        return service.analyze_value(s, viewer=world.viewer(who), purpose=purpose, value=value, analyzer=analyzer)


def audit_runs(world):
    with session_of(world) as s:
        return [e.detail for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "analyzer.run")
                                            .order_by(AuditEntry.id))]


# --- the egress gate ------------------------------------------------------------------------------

EGRESS_CASES = {
    # name: (owner, handling, requester, purpose, expected error or None when sent)
    "amber": ("bank", dict(tlp="amber"), "le_gb", "investigation", None),
    "red": ("bank", dict(tlp="red", recipients=("le_gb", "vendor")), "le_gb", "investigation",
            "not sent to test-egress: TLP:RED intelligence is never sent off the platform"),
    "research_only": ("bank", dict(tlp="green", purposes=("research",)), "le_gb", "research",
                      "not sent to test-egress: its handling permits neither network_defence nor investigation"),
    "own_research_only": ("vendor", dict(tlp="green", purposes=("research",)), "vendor", "research",
                          "not sent to test-egress: its handling permits neither network_defence nor investigation"),
    "amber_strict": ("bank", dict(tlp="amber+strict"), "analyst", "investigation",
                     ("not sent to test-egress: its handling does not allow sharing it with the owner "
                     "organisation Vendor Labs")),
    "only_gb": ("bank", dict(tlp="green", allowed_countries=("GB",)), "le_gb", "investigation",
                ("not sent to test-egress: its handling does not allow sharing it with the owner "
                "organisation Vendor Labs")),
    "no_further_dissemination": ("bank", dict(tlp="green", no_further_dissemination=True), "le_gb",
                                 "investigation", ("not sent to test-egress: its handling does not allow sharing "
                                 "it with the owner organisation Vendor Labs")),
    "le_only": ("bank", dict(tlp="green", le_only=True), "le_gb", "investigation",
                ("not sent to test-egress: its handling does not allow sharing it with the owner "
                "organisation Vendor Labs")),
}


def test_egress_gate_sends_only_what_the_policy_allows_the_owner(world, tmp_path):
    for i, (name, (owner, handling, requester, purpose, error)) in enumerate(EGRESS_CASES.items()):
        ip = f"203.0.113.{i + 1}"
        handling = dict(handling)
        if "recipients" in handling:
            handling["recipients"] = tuple(world.orgs[r] for r in handling["recipients"])
        add_ip(world, tmp_path, owner, ip, HandlingSpec(**handling))
        [run] = analyze(world, requester, ip, "test-egress", purpose)
        assert (name, run["status"], run["error"]) == (name, "refused" if error else "done", error)
    assert Recorder.received == ["203.0.113.1"]  # nothing else ever left the platform
    statuses = [(d["analyzer"], d["status"], d["egress"]) for d in audit_runs(world)]
    assert statuses == [("test-egress", "done", True)] + [("test-egress", "refused", True)] * 7


def test_egress_gate_needs_an_owner_in_force(world, tmp_path):
    class Orphan(Recorder):
        name, owner = "test-orphan", "Nobody Ltd"

    class Pending(Recorder):
        name, owner = "test-pending-owner", "Pending Co"

    registry.register(Orphan)
    registry.register(Pending)
    try:
        add_ip(world, tmp_path, "bank", "203.0.113.50", HandlingSpec(tlp="clear"))
        [a] = analyze(world, "le_gb", "203.0.113.50", "test-orphan")
        [b] = analyze(world, "le_gb", "203.0.113.50", "test-pending-owner")
    finally:
        registry.unregister("test-orphan")
        registry.unregister("test-pending-owner")
    assert a["error"] == "not sent to test-orphan: the analyzer's owner organisation 'Nobody Ltd' is not registered"
    assert b["error"] == ("not sent to test-pending-owner: the owner organisation Pending Co may not receive "
                          "intelligence (vetting or agreement not in force)")
    assert Recorder.received == []


def test_a_value_the_requester_may_not_read_is_not_found(world, tmp_path):
    add_ip(world, tmp_path, "bank", "203.0.113.60", HandlingSpec(tlp="red", recipients=(world.orgs["le_gb"],)))
    with pytest.raises(NotFound, match="no intelligence you may read for investigation holds 203.0.113.60"):
        analyze(world, "ncb_fr", "203.0.113.60", "geoip")
    with pytest.raises(Forbidden, match="requires one of the roles: analyst, contributor"):
        analyze(world, "auditor", "203.0.113.60", "geoip")
    with pytest.raises(InvalidInput) as bad:
        analyze(world, "le_gb", "no such thing", "geoip")
    assert bad.value.field == "value"
    with pytest.raises(InvalidInput) as wrong:
        analyze(world, "le_gb", "203.0.113.60", "iban-info")
    assert (wrong.value.field, wrong.value.problems[0].reason) == ("analyzer", ("analyzer iban-info does not accept ipv4-addr "
                                                                   "(it accepts iban)"))


# --- results: stored under the input's handling, with provenance ------------------------------------

def test_results_inherit_the_inputs_handling_owner_category_and_retention(world, tmp_path):
    expires = utcnow() + timedelta(days=20)
    spec = HandlingSpec(tlp="amber", denied_countries=("RU",), category="fraud", expires_at=expires)
    cid, _ind_id = add_ip(world, tmp_path, "bank", "8.8.8.8", spec)
    [run] = analyze(world, "ncb_fr", "8.8.8.8", "geoip")
    assert run["status"] == "done"
    assert run["summary"] == "8.8.8.8: US (United States), AS GOOGLE (8.8.8.0/24); GeoLite2 2024-06-18"
    assert run["result_contribution_id"] is None  # the requester does not own the result
    with session_of(world) as s:
        source = s.get(Contribution, cid)
        result = s.scalar(select(Contribution).where(Contribution.source_format == "analyzer"))
        assert (result.organisation_id, result.handling_id, result.category, result.expires_at,
                result.review_at) == (source.organisation_id, source.handling_id, "fraud", source.expires_at,
                                      source.review_at)
        rows = {r.type: r for r in s.scalars(select(StixObject).where(StixObject.contribution_id == result.id))}
        assert sorted(rows) == ["identity", "ipv4-addr", "location", "note", "relationship"]
        assert {r.handling_id for r in rows.values()} == {source.handling_id}
        note = json.loads(rows["note"].data)
    identity_id = stable_id("identity", "analyzer", "geoip")
    assert note["created_by_ref"] == identity_id
    assert note["x_cfc_analyzer"] == {"name": "geoip", "version": "1.0"}
    assert note["object_marking_refs"] == [TLP2_MARKING_IDS["amber"]]
    assert note["object_refs"][0] == subject("ipv4-addr", "8.8.8.8")["id"]
    assert note["x_cfc_analysis"]["as_name"] == "GOOGLE"
    assert set(run["results"]) == {json.loads(r.data)["id"] for r in rows.values()}
    # Readers of the input read the result; the denied country reads neither.
    with session_of(world) as s:
        for who, sees in (("ncb_fr", True), ("bank", True), ("ncb_ru", False)):
            found = intel.search(s, viewer=world.viewer(who), purpose="investigation", q="8.8.8.8",
                                 types=["ipv4-addr"]).items
            assert (who, [i["id"] for i in found]) == (who, [subject("ipv4-addr", "8.8.8.8")["id"]] if sees else [])


def test_red_results_stay_with_the_named_recipients(world, tmp_path):
    add_ip(world, tmp_path, "bank", "1.1.1.1", HandlingSpec(tlp="red", recipients=(world.orgs["le_gb"],)))
    [run] = analyze(world, "le_gb", "1.1.1.1", "geoip")  # offline: no egress, so RED may be analysed
    assert run["status"] == "done"
    with session_of(world) as s:
        for who, sees in (("le_gb", True), ("bank", True), ("analyst", False), ("ncb_fr", False)):
            found = intel.search(s, viewer=world.viewer(who), purpose="investigation", q="1.1.1.1",
                                 types=["ipv4-addr", "note"]).items
            assert (who, bool(found)) == (who, sees)


# --- idempotency and the cache --------------------------------------------------------------------

def _counts(world):
    with session_of(world) as s:
        return (s.scalar(select(func.count()).select_from(StixObject)),
                s.scalar(select(func.count()).select_from(Contribution)))


def test_same_analyzer_on_same_value_stores_once_and_calls_once(world, tmp_path):
    add_ip(world, tmp_path, "bank", "9.9.9.9", HandlingSpec(tlp="green"))
    [first] = analyze(world, "le_gb", "9.9.9.9", "test-count")
    after_first = _counts(world)
    [second] = analyze(world, "ncb_fr", "9.9.9.9", "test-count")
    # the same owner holds the value again under other rules: one more input, still no new result objects
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "9.9.9.9", stix_id="indicator--" + "1" * 8 +
                                                   "-1111-4111-8111-111111111111")], HandlingSpec(tlp="amber"))
    runs = analyze(world, "le_gb", "9.9.9.9", "test-count")
    assert (first["cached"], second["cached"], [r["cached"] for r in runs]) == (False, True, [True, True])
    assert Counting.calls == 1
    objects, contributions = _counts(world)
    assert (objects, contributions) == (after_first[0] + 1, after_first[1] + 1)  # just the new indicator
    assert {tuple(r["results"]) for r in runs + [first, second]} == {tuple(first["results"])}


def test_expired_cache_calls_again_and_adds_a_version_not_a_duplicate(world, tmp_path):
    with session_of(world) as s:
        service.configure(s, name="test-count", cache_hours=0)
    add_ip(world, tmp_path, "bank", "9.9.9.10", HandlingSpec(tlp="green"))
    [a] = analyze(world, "le_gb", "9.9.9.10", "test-count")
    [b] = analyze(world, "le_gb", "9.9.9.10", "test-count")
    assert (Counting.calls, a["cached"], b["cached"]) == (2, False, False)
    assert a["results"] == b["results"]  # the same objects ...
    with session_of(world) as s:
        note = stable_id("note", "test-count", "ipv4-addr", "9.9.9.10")
        versions = s.scalars(select(StixObject.modified).where(StixObject.stix_id == note)).all()
    assert len(versions) == len(set(versions))  # ... each stored once per version


# --- runs: status, errors, duration, audit ------------------------------------------------------------

def test_failures_and_timeouts_are_recorded_with_their_reason(world, tmp_path):
    add_ip(world, tmp_path, "bank", "9.9.9.11", HandlingSpec(tlp="green"))
    [broken] = analyze(world, "le_gb", "9.9.9.11", "test-broken")
    [slow] = analyze(world, "le_gb", "9.9.9.11", "test-slow")
    assert (broken["status"], broken["error"]) == ("failed", "test-broken raised KeyError: 'lookup table missing'")
    assert (slow["status"], slow["error"]) == ("failed", "test-slow did not finish within 0.2 s")
    assert slow["duration_ms"] >= 200
    assert [(d["analyzer"], d["status"]) for d in audit_runs(world)] == [("test-broken", "failed"),
                                                                         ("test-slow", "failed")]


def test_rate_limit_defers_runs_until_a_later_pass(world, tmp_path):
    add_ip(world, tmp_path, "bank", "9.9.9.12", HandlingSpec(tlp="green"))
    add_ip(world, tmp_path, "bank", "9.9.9.13", HandlingSpec(tlp="green"))
    [a] = analyze(world, "le_gb", "9.9.9.12", "test-limited")
    [b] = analyze(world, "le_gb", "9.9.9.13", "test-limited")
    assert (a["status"], b["status"], b["error"]) == ("done", "queued",
                                                      "deferred: rate limit of 1 calls per 3600 s reached")
    with session_of(world) as s:
        s.get(AnalyzerRun, a["id"]).called_at = utcnow() - timedelta(hours=2)
    with session_of(world) as s:
        report = service.run_pending(s)
    assert (report.done, report.deferred, report.run_ids) == (1, 0, [b["id"]])


def test_run_is_refused_at_execution_when_the_input_was_hidden(world, tmp_path):
    cid, _ = add_ip(world, tmp_path, "bank", "9.9.9.14", HandlingSpec(tlp="green"))
    with session_of(world) as s:
        runs = service.analyze_value(s, viewer=world.viewer("le_gb"), purpose="investigation", value="9.9.9.14",
                                     analyzer="test-count", execute=False)
        assert runs[0]["status"] == "queued"
    with session_of(world) as s:
        s.get(Contribution, cid).status = "hidden"
    with session_of(world) as s:
        assert service.run_pending(s).refused == 1
        run = s.get(AnalyzerRun, runs[0]["id"])
        assert (run.status, run.error) == ("refused", ("the input is not readable by the requester for "
                                                      "investigation any more"))
    assert Counting.calls == 0


# --- automatic runs on ingest ----------------------------------------------------------------------

def test_analyze_contribution_runs_configured_analyzers_within_budget(world, tmp_path):
    with session_of(world) as s:
        service.configure(s, name="test-count", auto_kinds=["ipv4-addr"], budget=2)
        service.configure(s, name="test-egress", auto_kinds=["domain-name"])
    objs = [indicator("ipv4-addr", f"198.51.100.{i}") for i in (1, 2, 3)] + [indicator("domain-name", "evil.example.com")]
    cid = contribute(world, tmp_path, "bank", objs, HandlingSpec(tlp="amber+strict")).contribution_id
    with session_of(world) as s:  # the import queued them; asking again adds no queued run
        out = service.analyze_contribution(s, cid)
        s.rollback()
    assert (out["queued"], out["over_budget"]) == (2, {"test-count": 1})
    with session_of(world) as s:
        runs = s.scalars(select(AnalyzerRun).order_by(AnalyzerRun.id)).all()
        assert [(r.analyzer, r.value, r.status, r.trigger) for r in runs] == [
            ("test-count", "198.51.100.1", "queued", "ingest"), ("test-count", "198.51.100.2", "queued", "ingest"),
            ("test-egress", "evil.example.com", "refused", "ingest")]
        report = service.run_pending(s)
    assert (report.done, Counting.calls, Recorder.received) == (2, 2, [])
    # results are never analysed again
    with session_of(world) as s:
        result_cid = s.scalar(select(Contribution.id).where(Contribution.source_format == "analyzer"))
        assert service.analyze_contribution(s, result_cid) == {"queued": 0, "run_ids": [], "over_budget": {}}


def test_configure_validates_its_input(world):
    with session_of(world) as s:
        with pytest.raises(InvalidInput) as e:
            service.configure(s, name="geoip", auto_kinds=["iban"])
        assert e.value.field == "auto_kinds"
        with pytest.raises(InvalidInput) as e:
            service.configure(s, name="geoip", url="http://127.0.0.1/")
        assert e.value.field == "url"
        with pytest.raises(NotFound):
            service.configure(s, name="nope")
        row = service.configure(s, name="geoip", enabled=False)
        assert row["enabled"] is False
    with pytest.raises(InvalidInput, match="analyzer geoip is disabled"):
        analyze(world, "le_gb", "8.8.8.8", "geoip")


# --- CVE links through the policy gate -----------------------------------------------------------------

def test_cve_links_only_objects_every_reader_of_the_result_may_read(world, tmp_path):
    vuln = {"type": "vulnerability", "spec_version": "2.1", "id": "vulnerability--" + "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12,
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "CVE-2021-44228"}
    technique = {"type": "attack-pattern", "spec_version": "2.1",
                 "id": "attack-pattern--7e150503-88e7-4861-866b-ff1ac82c4475", "created": "2026-01-01T00:00:00.000Z",
                 "modified": "2026-01-01T00:00:00.000Z", "name": "Exploit Public-Facing Application"}
    rel = {"type": "relationship", "spec_version": "2.1", "id": "relationship--" + "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12,
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "relationship_type": "related-to", "source_ref": technique["id"], "target_ref": vuln["id"]}
    contribute(world, tmp_path, "vendor", [vuln, technique, rel], HandlingSpec(tlp="clear"))
    secret = {"type": "malware", "spec_version": "2.1", "id": "malware--" + "c" * 8 + "-cccc-4ccc-8ccc-" + "c" * 12,
              "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "Bank Secret",
              "is_family": True}
    rel2 = dict(rel, id="relationship--" + "d" * 8 + "-dddd-4ddd-8ddd-" + "d" * 12, source_ref=secret["id"])
    contribute(world, tmp_path, "bank", [secret, rel2], HandlingSpec(tlp="amber"))  # readable, but not open
    probe = indicator("cve", "CVE-2021-44228")
    contribute(world, tmp_path, "ncb_fr", [probe], HandlingSpec(tlp="amber"))
    [run] = analyze(world, "ncb_fr", "CVE-2021-44228", "cve-links")
    assert run["summary"] == ("CVE-2021-44228: linked to attack-pattern Exploit Public-Facing Application, "
                              "vulnerability CVE-2021-44228")
    ours = subject("cve", "CVE-2021-44228")["id"]
    expected = {stable_id("relationship", ours, "related-to", technique["id"]),
                stable_id("relationship", ours, "related-to", vuln["id"])}
    assert expected <= set(run["results"])
    assert secret["id"] not in json.dumps(run, default=str)


def test_a_result_that_cannot_be_stored_fails_alone_and_is_not_cached(world, tmp_path):
    from cyberfusion.analyzers.base import Analyzer, AnalyzerResult

    class BadObjects(Analyzer):
        name, version, accepts = "test-bad-objects", "1.0", frozenset({"ipv4-addr"})

        def run(self, observable):
            return AnalyzerResult(summary="x", objects=[{"type": "malware", "id": "malware--not-a-uuid"}])

    registry.register(BadObjects)
    try:
        add_ip(world, tmp_path, "bank", "9.9.9.15", HandlingSpec(tlp="green"))
        with session_of(world) as s:
            runs = service.analyze_value(s, viewer=world.viewer("le_gb"), purpose="investigation",
                                         value="9.9.9.15", analyzer=None)
            by_name = {r["analyzer"]: r for r in runs}
            before = s.scalar(select(func.count()).select_from(StixObject).where(StixObject.type == "malware"))
        from cyberfusion.analyzers.models import AnalyzerCache
        with session_of(world) as s:
            cached = s.scalars(select(AnalyzerCache.analyzer)).all()
    finally:
        registry.unregister("test-bad-objects")
    bad = by_name["test-bad-objects"]
    assert bad["status"] == "failed"
    assert bad["error"].startswith("the result could not be stored: ")
    assert "malware--not-a-uuid" in bad["error"]
    assert {n: r["status"] for n, r in by_name.items()} == {
        "geoip": "done", "test-count": "done", "test-egress": "done", "test-limited": "done",
        "test-broken": "failed", "test-slow": "failed", "test-bad-objects": "failed"}
    assert before == 0
    assert sorted(cached) == ["geoip", "test-count", "test-egress", "test-limited"]  # not the failed ones


# --- automatic runs on ingest, as jobs ---------------------------------------------------------------

def test_import_queues_configured_runs_as_a_job_that_the_worker_runs(world, tmp_path):
    from cyberfusion.jobs.models import Job
    from cyberfusion.jobs.service import work

    with session_of(world) as s:
        service.configure(s, name="test-count", auto_kinds=["ipv4-addr"], budget=2)
    objs = [indicator("ipv4-addr", f"198.51.100.{i}") for i in (1, 2, 3)]
    cid = contribute(world, tmp_path, "bank", objs, HandlingSpec(tlp="amber")).contribution_id
    with session_of(world) as s:  # the import itself queued the runs and one job for them
        runs = s.scalars(select(AnalyzerRun).order_by(AnalyzerRun.id)).all()
        assert [(r.value, r.status, r.trigger, r.contribution_id) for r in runs] == [
            ("198.51.100.1", "queued", "ingest", cid), ("198.51.100.2", "queued", "ingest", cid)]
        jobs = s.scalars(select(Job).where(Job.kind == "analyzers.run")).all()
        assert [(j.kind, j.status, j.payload) for j in jobs] == [("analyzers.run", "queued",
                                                                  {"ids": [r.id for r in runs]})]
    assert Counting.calls == 0
    assert work(world.factory, once=True, idle_sleep=0, kinds=["analyzers.run"]) == 1
    with session_of(world) as s:
        assert [r.status for r in s.scalars(select(AnalyzerRun).order_by(AnalyzerRun.id))] == ["done", "done"]
        job = s.scalars(select(Job).where(Job.kind == "analyzers.run")).one()
        assert (job.status, job.result["done"]) == ("done", 2)
        results = s.scalars(select(Contribution).where(Contribution.source_format == "analyzer")).all()
        assert len(results) == 2 and all(c.organisation_id == world.orgs["bank"] for c in results)
        # the results' own import queued nothing more
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == "analyzers.run")) == 1
    assert Counting.calls == 2
    assert [d["trigger"] for d in audit_runs(world)] == ["ingest", "ingest"]


def test_runs_deferred_by_a_rate_limit_get_a_later_job(world, tmp_path):
    from cyberfusion.jobs.models import Job
    from cyberfusion.jobs.service import work

    with session_of(world) as s:
        service.configure(s, name="test-limited", auto_kinds=["ipv4-addr"])
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "198.51.100.7"), indicator("ipv4-addr", "198.51.100.8")],
               HandlingSpec(tlp="amber"))
    assert work(world.factory, once=True, idle_sleep=0, kinds=["analyzers.run"]) == 1
    with session_of(world) as s:
        runs = s.scalars(select(AnalyzerRun).order_by(AnalyzerRun.id)).all()
        assert [r.status for r in runs] == ["done", "queued"]
        assert runs[1].error == "deferred: rate limit of 1 calls per 3600 s reached"
        later = s.scalars(select(Job).where(Job.status == "queued", Job.kind == "analyzers.run")).one()
        assert later.payload == {"ids": [runs[1].id]} and later.run_after > utcnow() + timedelta(seconds=20)


def test_hash_analyzer_reads_the_warninglists(world, tmp_path):
    from testdata import CONFORMANCE

    from cyberfusion.fusion import warninglists

    eicar_md5 = "44d88612fea8a8f36de82e1278abb02f"
    with session_of(world) as s:
        warninglists.import_paths(s, [CONFORMANCE / "misp" / "warninglists" / "eicar.com",
                                      CONFORMANCE / "misp" / "warninglists" / "empty-hashes"])
    contribute(world, tmp_path, "bank", [indicator("md5", eicar_md5), indicator("md5", "d41d8cd98f00b204e9800998ecf8427e"),
                                         indicator("md5", "0123456789abcdef0123456789abcdef")],
               HandlingSpec(tlp="green"))
    out = {v: analyze(world, "le_gb", v, "hash-known")[0]
           for v in (eicar_md5, "d41d8cd98f00b204e9800998ecf8427e", "0123456789abcdef0123456789abcdef")}
    assert {v: (r["status"], r["confidence"]) for v, r in out.items()} == {
        eicar_md5: ("done", 90), "d41d8cd98f00b204e9800998ecf8427e": ("done", 100),
        "0123456789abcdef0123456789abcdef": ("done", 50)}
    eicar_list = "List of hashes for EICAR test virus"
    assert out[eicar_md5]["summary"] == f"md5 {eicar_md5}: known, listed in {eicar_list}"
    assert out["d41d8cd98f00b204e9800998ecf8427e"]["summary"].endswith("the empty file (zero bytes) — not a sample")
    with session_of(world) as s:
        verdicts = {(n := json.loads(r.data))["x_cfc_analysis"]["verdict"]: n["x_cfc_analysis"]["lists"]
                    for r in s.scalars(select(StixObject).where(StixObject.type == "note"))}
    assert verdicts == {"known-benign": [eicar_list], "known-empty": ["List of known hashes for empty files"],
                        "unknown": []}
