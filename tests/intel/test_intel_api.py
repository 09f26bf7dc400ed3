"""Contributions, search, object pages and exports over HTTP."""

from __future__ import annotations

import json

from sharing.helpers import indicator

PROBLEM = "application/problem+json"


def _bundle(*objects):
    return {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": list(objects)}


def test_json_contribution_then_search_and_object_page(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    ind = indicator("domain-name", "evil-login.example.com")
    malware = {"type": "malware", "spec_version": "2.1", "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
               "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z", "name": "QakBot",
               "is_family": True}
    rel = {"type": "relationship", "spec_version": "2.1", "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
           "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
           "relationship_type": "indicates", "source_ref": ind["id"], "target_ref": malware["id"]}
    r = client.post("/api/v1/contributions", headers=h, json={
        "format": "stix", "file_name": "qakbot.json", "content": _bundle(ind, malware, rel),
        "handling": {"tlp": "green", "attribution": "sector"}})
    assert r.status_code == 201, r.text
    assert (r.json()["created"], r.json()["objects"], r.json()["observables"]) == (True, 3, 1)

    analyst = {"Authorization": f"Bearer {world.token('analyst')}"}
    found = client.get("/api/v1/search", params={"purpose": "investigation", "q": "evil-login[.]example[.]com"},
                       headers=analyst).json()
    assert [i["id"] for i in found["items"]] == [ind["id"]]
    page = client.get(f"/api/v1/objects/{ind['id']}", params={"purpose": "investigation"}, headers=analyst).json()
    assert page["object"] == ind
    assert page["handling"]["tlp"] == "green"
    assert [x["id"] for x in page["relationships"]] == [rel["id"]]
    # attribution "sector": the analyst sees the sector and region, not the vendor's name
    assert [s["source"] for s in page["sources"]] == ["internet security sector, Europe"]
    assert page["sources"][0]["contribution_id"] is None
    own = client.get(f"/api/v1/objects/{ind['id']}", params={"purpose": "investigation"}, headers=h).json()
    assert own["sources"][0]["source"] == "Vendor Labs" and own["sources"][0]["contribution_id"]


def test_versions_are_immutable_and_latest_is_returned(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    v1 = indicator("ipv4-addr", "203.0.113.7")
    v2 = {**v1, "modified": "2026-10-05T00:00:00.000Z", "name": "updated"}
    for n, obj in enumerate((v1, v2)):
        r = client.post("/api/v1/contributions", headers=h, json={"file_name": f"v{n}.json", "content": _bundle(obj),
                                                                  "handling": {"tlp": "clear"}})
        assert r.status_code == 201
    page = client.get(f"/api/v1/objects/{v1['id']}", params={"purpose": "investigation"}, headers=h).json()
    assert page["object"]["name"] == "updated"
    assert page["versions"] == ["2026-10-05T00:00:00Z", "2026-10-01T00:00:00Z"]
    old = client.get(f"/api/v1/objects/{v1['id']}", params={"purpose": "investigation",
                                                            "version": "2026-10-01T00:00:00.000Z"}, headers=h).json()
    assert old["object"]["name"] == v1["name"]


def test_multipart_contribution_of_a_text_list(client, world):
    h = {"Authorization": f"Bearer {world.token('bank')}"}
    r = client.post("/api/v1/contributions", headers=h,
                    files={"file": ("iocs.txt", b"hxxp://bad-bank-login[.]com/x\n198.51.100[.]23\n", "text/plain")},
                    data={"format": "text", "handling": json.dumps({"tlp": "amber", "category": "phishing"})})
    assert r.status_code == 201, r.text
    assert (r.json()["objects"], r.json()["observables"]) == (2, 2)


def test_bad_contribution_is_a_problem_naming_object_and_field(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    bad = {**indicator("ipv4-addr", "192.0.2.1"), "modified": "2020-01-01T00:00:00.000Z"}
    r = client.post("/api/v1/contributions", headers=h, json={"file_name": "bad.json", "content": _bundle(bad)})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    err = r.json()["errors"][0]
    assert (err["file"], err["field"]) == ("bad.json", "modified")
    assert err["location"].startswith("object 0 (indicator--")
    # nothing was written
    r = client.get("/api/v1/search", params={"purpose": "investigation", "q": "192.0.2.1"}, headers=h)
    assert r.json()["items"] == []


def test_bad_handling_is_a_problem(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    r = client.post("/api/v1/contributions", headers=h, json={
        "content": _bundle(indicator("ipv4-addr", "192.0.2.2")), "handling": {"tlp": "purple"}})
    assert (r.status_code, r.json()["field"]) == (422, "tlp")
    r = client.post("/api/v1/contributions", headers=h, json={
        "content": _bundle(indicator("ipv4-addr", "192.0.2.2")), "handling": {"tlp": "red"}})
    assert (r.status_code, r.json()["field"]) == (422, "recipients")
    r = client.post("/api/v1/contributions", headers=h, json={
        "content": _bundle(indicator("ipv4-addr", "192.0.2.2")), "handling": {"allowed_countries": ["ZZ"]}})
    assert (r.status_code, r.json()["field"]) == (422, "allowed_countries")


def test_readers_cannot_contribute(client, world):
    r = client.post("/api/v1/contributions", headers={"Authorization": f"Bearer {world.token('uni')}"},
                    json={"content": _bundle(indicator("ipv4-addr", "192.0.2.3"))})
    assert (r.status_code, r.json()["detail"]) == (403, "contributing needs the contributor or analyst role")


def test_search_pages_with_a_keyset_cursor(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    objs = [indicator("ipv4-addr", f"198.51.100.{i}") for i in range(1, 8)]
    assert client.post("/api/v1/contributions", headers=h, json={"content": _bundle(*objs),
                                                                 "handling": {"tlp": "clear"}}).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"purpose": "network_defence", "limit": 3, "type": "indicator"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/search", params=params, headers=h).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(o["id"] for o in objs) and len(seen) == 7
    r = client.get("/api/v1/search", params={"purpose": "network_defence", "cursor": "%%%"}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "cursor")


def test_search_without_a_purpose_is_refused(client, world):
    r = client.get("/api/v1/search", headers={"Authorization": f"Bearer {world.token('vendor')}"})
    assert (r.status_code, r.json()["field"]) == (422, "purpose")
    r = client.get("/api/v1/search", params={"purpose": "curiosity"},
                   headers={"Authorization": f"Bearer {world.token('vendor')}"})
    assert (r.status_code, r.json()["field"]) == (422, "purpose")


def test_reads_are_audited_with_purpose(client, world, factory):
    from sqlalchemy import select

    from cyberfusion.audit.models import AuditEntry
    h = {"Authorization": f"Bearer {world.token('analyst')}"}
    client.get("/api/v1/search", params={"purpose": "threat_reporting", "q": "anything"}, headers=h)
    with factory() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "intel.search")).one()
    assert (e.member_id, e.purpose, e.detail["q"]) == (world.members["analyst"], "threat_reporting", "anything")


def test_stix_export_carries_handling_markings(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    client.post("/api/v1/contributions", headers=h, json={
        "content": _bundle(indicator("url", "http://phish.example.net/login")),
        "handling": {"tlp": "amber", "no_further_dissemination": True, "denied_countries": ["RU"]}})
    r = client.get("/api/v1/export", params={"purpose": "network_defence", "format": "stix"}, headers=h)
    assert r.headers["content-type"].startswith("application/stix+json")
    objs = {o["id"]: o for o in r.json()["objects"]}
    ind = objs[indicator("url", "http://phish.example.net/login")["id"]]
    tlp_id, statement_id = ind["object_marking_refs"]
    assert tlp_id == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    assert objs[tlp_id]["name"] == "TLP:AMBER"
    assert objs[statement_id]["definition"]["statement"] == (
        "cyberfusion handling — TLP:AMBER; purposes: investigation, victim_notification, network_defence, "
        "threat_reporting; not countries: RU; no further dissemination")
