"""Hit/no-hit deconfliction: answers with and without hit reveal, owner notifications and their
inbox, hashed storage of asked values, audit, limits, the CLI and private search sets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from cyberfusion.audit.models import AuditEntry
from cyberfusion.cli import app
from cyberfusion.config import get_settings
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.fusion import hits, searchset, warninglists
from cyberfusion.fusion.hits import CONTACT_ROUTE, lookup_key, value_digest
from cyberfusion.fusion.models import Lookup, LookupHit
from fusion.fusion_helpers import WARNINGLISTS, give, indicator

IP = indicator("ipv4-addr", "198.51.100.7")
SECRET_DOMAIN = indicator("domain-name", "evil-bank.example.com")
VENDOR_ONLY_URL = indicator("url", "http://pay.example.net/x")
ASKED = ["198.51.100[.]7", "evil-bank.example.com", "hxxp://pay[.]example[.]net/x", "192.0.2.250", "not a value"]


@pytest.fixture
def held(world, tmp_path):
    give(world, tmp_path, "vendor", [IP])
    give(world, tmp_path, "bank", [SECRET_DOMAIN], tlp="amber", hit_reveal=False)
    give(world, tmp_path, "bank", [VENDOR_ONLY_URL], tlp="green", recipients=("vendor",))
    return world


def _lookup(world, key, values, purpose="investigation", **kw):
    with transaction(world.factory) as s:
        return hits.lookup(s, viewer=world.viewer(key), purpose=purpose, values=values, **kw)


def _inbox(world, key):
    with transaction(world.factory) as s:
        return hits.inbox(s, viewer=world.viewer(key))


def _refs(result):
    return {r["value"]: [x["reference"] for x in r.get("references", [])] for r in result.results}


def test_answers_with_and_without_reveal_and_no_hit(held):
    result = _lookup(held, "ncb_fr", ASKED)
    vendor_ref = _refs(result)[ASKED[0]][0]
    bank_ref = _refs(result)[ASKED[1]][0]
    assert result.counts == {"values": 5, "hit": 2, "no_hit": 2, "invalid": 1}
    assert result.results == [
        {"value": "198.51.100[.]7", "kind": "ipv4-addr", "normalised": "198.51.100.7", "result": "hit",
         "references": [{"reference": vendor_ref, "owner": "Vendor Labs", "contact": CONTACT_ROUTE}],
         "warninglists": [],
         "details": {"matched": [{"kind": "ipv4-addr", "value": "198.51.100.7", "via": "value"}],
                     "corroboration": 1, "first_seen": result.results[0]["details"]["first_seen"],
                     "last_seen": result.results[0]["details"]["last_seen"], "sources": ["Vendor Labs"],
                     "common": False, "warninglists": [], "objects": [{"id": IP["id"], "type": "indicator"}],
                     "sightings": 0, "object_count": 1}},
        # hit reveal "no": a reference and the owner's contact route, nothing else
        {"value": "evil-bank.example.com", "kind": "domain-name", "normalised": "evil-bank.example.com",
         "result": "hit", "references": [{"reference": bank_ref, "owner": "Big Bank", "contact": CONTACT_ROUTE}],
         "warninglists": []},
        # readable only by the vendor: the asker is told nothing, the owner hears of it
        {"value": "hxxp://pay[.]example[.]net/x", "kind": "url", "normalised": "http://pay.example.net/x",
         "result": "no_hit"},
        {"value": "192.0.2.250", "kind": "ipv4-addr", "normalised": "192.0.2.250", "result": "no_hit"},
        {"value": "not a value", "result": "invalid", "reason": "not a recognised observable"},
    ]
    assert result.results[0]["details"]["first_seen"].isoformat() == "2026-10-01T00:00:00+00:00"


def test_owners_are_notified_with_who_what_why_and_the_reference(held):
    result = _lookup(held, "ncb_fr", ASKED)
    vendor_inbox, bank_inbox = _inbox(held, "vendor"), _inbox(held, "bank")
    strip = ("id", "first_asked_at", "last_asked_at")
    assert [{k: v for k, v in n.items() if k not in strip} for n in vendor_inbox] == [
        {"reference": _refs(result)[ASKED[0]][0], "kind": "ipv4-addr", "value": "198.51.100.7",
         "purpose": "investigation", "asked_by": {"organisation": "NCB France", "member": "ncb_fr@example.org"},
         "times_asked": 1, "your_objects": [IP["id"]], "asker_told": "details", "status": "open",
         "decision": None, "message": None, "answered_at": None}]
    assert sorted((n["value"], n["asker_told"], n["your_objects"]) for n in bank_inbox) == [
        ("evil-bank.example.com", "reference", [SECRET_DOMAIN["id"]]),
        ("http://pay.example.net/x", "no_hit", [VENDOR_ONLY_URL["id"]])]
    # Asking again renews the notifications instead of piling them up.
    again = _lookup(held, "ncb_fr", ASKED[:1])
    assert _refs(again)[ASKED[0]] == _refs(result)[ASKED[0]]
    assert [n["times_asked"] for n in _inbox(held, "vendor")] == [2]
    # An organisation asking about its own data notifies nobody.
    own = _lookup(held, "vendor", ["198.51.100.7"])
    assert own.results[0]["result"] == "hit" and own.results[0]["references"] == []
    assert [n["times_asked"] for n in _inbox(held, "vendor")] == [2]


def test_owner_answers_and_what_the_asker_then_sees(held):
    _lookup(held, "ncb_fr", ASKED)
    bank = {n["value"]: n for n in _inbox(held, "bank")}
    with transaction(held.factory) as s:
        sent = hits.sent(s, viewer=held.viewer("ncb_fr"))
    # The asker sees its references, not the hit it was answered "no_hit" for.
    assert sorted(x["value"] for x in sent) == ["198.51.100.7", "evil-bank.example.com"]
    with transaction(held.factory) as s:
        hits.answer(s, viewer=held.viewer("bank"), reference=bank["http://pay.example.net/x"]["reference"],
                    decision="decline")
    with transaction(held.factory) as s:
        assert len(hits.sent(s, viewer=held.viewer("ncb_fr"))) == 2  # declined: still nothing revealed
        hits.answer(s, viewer=held.viewer("bank"), reference=bank["http://pay.example.net/x"]["reference"],
                    decision="contact", message="call our CERT on +44 20 7946 0000")
    with transaction(held.factory) as s:
        url = [x for x in hits.sent(s, viewer=held.viewer("ncb_fr")) if x["value"] == "http://pay.example.net/x"]
        assert [(x["owner"], x["decision"], x["message"]) for x in url] == [
            ("Big Bank", "contact", "call our CERT on +44 20 7946 0000")]
        with pytest.raises(NotFound):  # another organisation's notification
            hits.answer(s, viewer=held.viewer("vendor"), reference=bank["evil-bank.example.com"]["reference"],
                        decision="share")
        with pytest.raises(InvalidInput) as caught:
            hits.answer(s, viewer=held.viewer("bank"), reference=bank["evil-bank.example.com"]["reference"],
                        decision="maybe")
        assert caught.value.field == "decision"
        with pytest.raises(Forbidden):  # the hit inbox is for analysts, contributors and org admins
            hits.inbox(s, viewer=held.viewer("uni"))
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action == "fusion.hit.answer")).all()
    assert actions == ["fusion.hit.answer", "fusion.hit.answer"]


def test_values_are_stored_hashed_unless_they_hit_and_the_lookup_is_audited(held, engine):
    result = _lookup(held, "ncb_fr", ASKED)
    key = lookup_key(get_settings())
    with held.factory() as s:
        row = s.get(Lookup, result.lookup_id)
        assert (row.value_count, row.hit_count, row.notified_count, len(row.digests)) == (5, 2, 3, 80)
        assert row.digests[48:64] == value_digest(key, "ipv4-addr", "192.0.2.250")
        assert row.digests[64:80] == value_digest(key, None, "not a value")
        assert sorted((h.value, h.answer) for h in s.scalars(select(LookupHit))) == [
            ("198.51.100.7", "details"), ("evil-bank.example.com", "reference"),
            ("http://pay.example.net/x", "no_hit")]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "fusion.lookup")).one()
        assert (entry.member_id, entry.organisation_id, entry.purpose, entry.object_ids) == (
            held.members["ncb_fr"], held.orgs["ncb_fr"], "investigation", [IP["id"]])
        assert entry.detail == {"lookup_id": result.lookup_id, "values": 5, "hit": 2, "no_hit": 2, "invalid": 0 + 1,
                                "notified": 3}
    # The values that did not hit are nowhere in clear.
    with engine.connect() as conn:
        for table in ("fusion_lookups", "fusion_lookup_hits", "fusion_hit_notifications", "audit_log"):
            dump = " ".join(str(r) for r in conn.execute(text(f"SELECT * FROM {table}")))
            assert "192.0.2.250" not in dump and "not a value" not in dump, table


def test_warninglisted_hits_notify_nobody_and_expired_data_is_a_no_hit(world, tmp_path):
    with transaction(world.factory) as s:
        warninglists.import_paths(s, [WARNINGLISTS / "rfc1918"])
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "10.20.30.40")])
    give(world, tmp_path, "bank", [indicator("ipv4-addr", "203.0.113.99")], expires_at=utcnow() - timedelta(minutes=1))
    result = _lookup(world, "ncb_fr", ["10.20.30.40", "203.0.113.99"])
    listed, expired = result.results
    assert (listed["result"], listed["warninglists"], listed["references"]) == (
        "hit", ["List of RFC 1918 CIDR blocks"], [])
    assert listed["details"]["objects"] == [{"id": indicator("ipv4-addr", "10.20.30.40")["id"], "type": "indicator"}]
    assert expired["result"] == "no_hit"
    assert _inbox(world, "vendor") == [] and _inbox(world, "bank") == []


def test_cidr_and_host_matches_in_lookups(world, tmp_path):
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.0/24")])
    give(world, tmp_path, "bank", [indicator("url", "https://cdn.bücher.de/p")])
    result = _lookup(world, "ncb_fr", ["198.51.100.77", "bücher[.]de", "cdn.xn--bcher-kva.de", "198.51.0.0/16"])
    matched = [[(m["value"], m["via"]) for m in r["details"]["matched"]] if r["result"] == "hit" else None
               for r in result.results]
    assert matched == [[("198.51.100.0/24", "cidr")], None, [("cdn.xn--bcher-kva.de", "host")],
                       [("198.51.100.0/24", "cidr")]]


def test_limits_and_purpose(world, tmp_path):
    with pytest.raises(InvalidInput) as caught:
        _lookup(world, "ncb_fr", [])
    assert caught.value.field == "values"
    with pytest.raises(InvalidInput) as caught:
        _lookup(world, "ncb_fr", ["1.2.3.4"], kind="ipv5")
    assert caught.value.field == "kind"
    with pytest.raises(Forbidden):
        _lookup(world, "uni", ["1.2.3.4"])  # its agreement permits research only
    with pytest.raises(InvalidInput) as caught:
        _lookup(world, "ncb_fr", ["1.2.3.4"], purpose="curiosity")
    assert caught.value.field == "purpose"


def test_lookup_over_http(client, held):
    h = {"Authorization": f"Bearer {held.token('ncb_fr')}"}
    r = client.post("/api/v1/lookup", headers=h, json={"purpose": "investigation", "values": ASKED})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["result"] for x in body["results"]] == ["hit", "hit", "no_hit", "no_hit", "invalid"]
    assert body["results"][0]["details"]["first_seen"] == "2026-10-01T00:00:00+00:00"
    too_many = client.post("/api/v1/lookup", headers=h,
                           json={"purpose": "investigation", "values": ["192.0.2.1"] * 100_001})
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == "application/problem+json"
    assert (too_many.json()["field"], too_many.json()["detail"]) == (
        "values", "field 'values': at most 100,000 values per lookup, got 100,001")
    inbox = client.get("/api/v1/hits/inbox", headers={"Authorization": f"Bearer {held.token('bank')}"}).json()
    assert sorted(n["asker_told"] for n in inbox) == ["no_hit", "reference"]
    ref = [n for n in inbox if n["asker_told"] == "reference"][0]["reference"]
    answered = client.post(f"/api/v1/hits/{ref}/answer", headers={"Authorization": f"Bearer {held.token('bank')}"},
                           json={"decision": "share", "message": "sending the report"})
    assert (answered.status_code, answered.json()["status"]) == (200, "answered")
    sent = client.get("/api/v1/hits/sent", headers=h).json()
    assert [(x["reference"], x["decision"]) for x in sent if x["reference"] == ref] == [(ref, "share")]


def test_cli_lookup_and_private_search_set(held, tmp_path):
    runner = CliRunner()
    values = tmp_path / "values.txt"
    values.write_text("\n".join(ASKED) + "\n# a comment\n")
    r = runner.invoke(app, ["lookup", str(values), "--as", "ncb_fr@example.org", "--purpose", "investigation",
                            "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert [x["result"] for x in json.loads(r.stdout)["results"]] == ["hit", "hit", "no_hit", "no_hit", "invalid"]

    out = tmp_path / "set.json"
    r = runner.invoke(app, ["search-set", "export", "--org", "NCB France", "--purpose", "investigation",
                            "-o", str(out), "--bloom-fp", "0.01", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    header = json.loads(r.stdout)
    assert (header["count"], header["organisation"], header["algorithm"], header["bloom"]["fp_rate"]) == (
        2, "NCB France", "HMAC-SHA256", 0.01)
    doc = json.loads(out.read_text())
    assert "198.51.100.7" not in out.read_text() and len(doc["hashes"]) == 2
    r = runner.invoke(app, ["lookup", str(values), "--search-set", str(out), "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert [x["result"] for x in json.loads(r.stdout)] == ["match", "match", "no_match", "no_match", "invalid"]

    bloom_only = tmp_path / "bloom.json"
    runner.invoke(app, ["search-set", "export", "--org", "NCB France", "--purpose", "investigation",
                        "-o", str(bloom_only), "--bloom-fp", "0.001", "--bloom-only"])
    loaded = searchset.load(bloom_only)
    assert loaded.hashes is None
    assert [x["result"] for x in searchset.check(loaded, ASKED[:2])] == ["possible_match", "possible_match"]
    # A Bloom filter at 0.1% on 2 values: of 2,000 absent values only a handful may collide.
    absent = sum(loaded.check("ipv4-addr", f"203.0.{i // 256}.{i % 256}") != "no_match" for i in range(2000))
    assert absent <= 10
    with held.factory() as s:
        exported = s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "fusion.search_set.export")).all()
    assert exported == [{"count": 2, "hashes": True, "bloom_fp": 0.01}, {"count": 2, "hashes": False,
                                                                          "bloom_fp": 0.001}]


def test_hit_reveal_no_never_hides_an_owners_own_data_from_it(held):
    own = _lookup(held, "bank", ["evil-bank.example.com"]).results[0]
    assert (own["result"], own["references"]) == ("hit", [])
    assert own["details"]["objects"] == [{"id": SECRET_DOMAIN["id"], "type": "indicator"}]
    assert own["details"]["sources"] == ["Big Bank"]


def test_a_thousand_values_take_the_single_parameter_path(world, tmp_path):
    """Above a few hundred values the asked values travel as one JSON/array parameter (json_each
    on SQLite, unnest on PostgreSQL): same answers."""
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.0/24"),
                                     indicator("url", "https://files.example.org/a"),
                                     indicator("sha256", "d" * 64)])
    values = ([f"203.0.{i // 256}.{i % 256}" for i in range(600)] + [f"host{i}.example.net" for i in range(300)]
              + ["198.51.100.200", "files.example.org", "D" * 64] + [f"{i:063x}a" for i in range(97)])
    result = _lookup(world, "ncb_fr", values)
    assert result.counts == {"values": 1000, "hit": 3, "no_hit": 997, "invalid": 0}
    hit = {r["value"]: [(m["value"], m["via"]) for m in r["details"]["matched"]]
           for r in result.results if r["result"] == "hit"}
    assert hit == {"198.51.100.200": [("198.51.100.0/24", "cidr")],
                   "files.example.org": [("files.example.org", "host")],
                   "D" * 64: [("d" * 64, "value")]}


def test_sources_follow_attribution_and_common_counts_contributions(world, tmp_path):
    """Each source as the asker may name it (named, sector, anonymous = the host centre), and the
    "common" flag from the number of contributions holding the value."""
    shared = "203.0.113.77"
    give(world, tmp_path, "vendor", [indicator("ipv4-addr", shared)], attribution="anonymous")
    give(world, tmp_path, "bank", [indicator("ipv4-addr", shared, stix_id=
                                             "indicator--00000000-0000-4000-8000-0000000000b1")],
         attribution="sector")
    give(world, tmp_path, "telco", [indicator("ipv4-addr", shared, stix_id=
                                              "indicator--00000000-0000-4000-8000-0000000000b2")])
    with transaction(world.factory) as s:
        answer = hits.lookup(s, viewer=world.viewer("ncb_fr"), purpose="investigation", values=[shared],
                             settings=get_settings().model_copy(update={"common_threshold": 2})).results[0]
        host = s.scalar(text("SELECT name FROM organisations WHERE kind = 'host_centre'"))
        bank_region = s.scalar(text("SELECT region FROM organisations WHERE id = :i"), {"i": world.orgs["bank"]})
    telco = world.viewer("telco").org_name
    assert answer["details"]["sources"] == sorted([host, f"financial sector, {bank_region}", telco])
    assert [r["owner"] for r in answer["references"]] == sorted([host, f"financial sector, {bank_region}", telco])
    assert (answer["details"]["common"], answer["details"]["corroboration"]) == (True, 3)
    with transaction(world.factory) as s:
        answer = hits.lookup(s, viewer=world.viewer("ncb_fr"), purpose="investigation", values=[shared]).results[0]
    assert answer["details"]["common"] is False  # default threshold
    with world.factory() as s:
        assert s.scalar(select(Lookup.notified_count).order_by(Lookup.id.desc()).limit(1)) == 3
