"""TAXII 2.1 endpoints, filters, headers and error statuses, each with its exact outcome."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import indicator
from taxii.support import STIX, TAXII, basic, seed

ROOT = "/taxii2/cfc"
ALL = f"{ROOT}/collections/all"
T1 = datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
T3 = T1 + timedelta(hours=2)
A = "indicator--6770298f-0fd8-471a-ab8c-1c658a46574e"
M = "malware--c0931cc6-c75e-47e5-9036-78fabc95d4ec"


def _ind(modified: str, value: str = "10.20.30.40") -> dict:
    return {**indicator("ipv4-addr", value, modified=modified, stix_id=A), "created": "2025-12-01T00:00:00.000Z"}


def _malware() -> dict:
    return {"type": "malware", "spec_version": "2.1", "id": M, "created": "2026-01-05T00:00:00.000Z",
            "modified": "2026-01-05T00:00:00.000Z", "name": "Poison Ivy", "is_family": True}


@pytest.fixture
def data(world, tmp_path):  # type: ignore[no-untyped-def]
    """Vendor's GREEN contributions: A v1 + malware at T1, A v2 at T2, A v3 at T3."""
    seed(world, "vendor", [_ind("2026-01-01T00:00:00.000Z"), _malware()], now=T1, tmp_path=tmp_path)
    seed(world, "vendor", [_ind("2026-02-01T00:00:00.000Z")], now=T2, tmp_path=tmp_path)
    seed(world, "vendor", [_ind("2026-03-01T00:00:00.000Z")], now=T3, tmp_path=tmp_path)
    return world


def _get(client, path, headers, **params):  # type: ignore[no-untyped-def]
    return client.get(path, headers=headers, params=params)


def _versions(r) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(o["id"], o["modified"]) for o in r.json().get("objects", [])]


# --- discovery, API root, collections -------------------------------------------------------------

def test_discovery_api_root_and_collections(client, world):
    h = basic(world, "bank")
    r = client.get("/taxii2/", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == TAXII
    assert r.json()["api_roots"] == ["http://testserver/taxii2/cfc/"]
    assert r.json()["default"] == "http://testserver/taxii2/cfc/"
    root = client.get(f"{ROOT}/", headers=h).json()
    assert root["versions"] == [TAXII] and root["max_content_length"] > 0
    listed = client.get(f"{ROOT}/collections/", headers=h).json()["collections"]
    aliases = [c["alias"] for c in listed]
    assert aliases[:6] == ["all", "tlp-clear", "tlp-green", "tlp-amber", "tlp-amber-strict", "tlp-red"]
    assert "crime-ransomware" in aliases and "region-europe" in aliases and aliases[-1] == "inbox"
    inbox = listed[-1]
    assert (inbox["can_read"], inbox["can_write"], inbox["title"]) == (True, True, "Inbox of Big Bank")
    assert all(c["media_types"] == [STIX] for c in listed)
    assert not any(c["can_write"] for c in listed[:-1])
    by_id = client.get(f"{ROOT}/collections/{listed[0]['id']}/", headers=h).json()
    assert by_id == listed[0] == client.get(f"{ROOT}/collections/all/", headers=h).json()


def test_collections_follow_the_viewer(client, world):
    uni = client.get(f"{ROOT}/collections/", headers=basic(world, "uni")).json()["collections"]
    # Its agreement permits research only: no network-defence collection; its inbox is read for research.
    assert [(c["alias"], c["can_read"], c["can_write"]) for c in uni] == [("inbox", True, False)]
    reader_inbox = client.get(f"{ROOT}/collections/", headers=basic(world, "analyst")).json()["collections"][-1]
    assert reader_inbox["title"] == "Inbox of Fusion Host"
    other_inbox = client.get(f"{ROOT}/collections/", headers=basic(world, "bank")).json()["collections"][-1]["id"]
    assert client.get(f"{ROOT}/collections/{other_inbox}/", headers=basic(world, "vendor")).status_code == 404
    assert client.get(f"{ROOT}/collections/nope/", headers=basic(world, "bank")).status_code == 404
    assert client.get("/taxii2/other/collections/", headers=basic(world, "bank")).status_code == 404


# --- authentication --------------------------------------------------------------------------------

def test_authentication_basic_bearer_and_errors(client, world):
    token = world.token("bank")
    assert client.get(f"{ROOT}/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    ok = base64.b64encode(f"bank@example.org:{token}".encode()).decode()
    assert client.get(f"{ROOT}/", headers={"Authorization": f"Basic {ok}"}).status_code == 200
    wrong = base64.b64encode(f"vendor@example.org:{token}".encode()).decode()
    for headers in ({}, {"Authorization": f"Basic {wrong}"}, {"Authorization": "Bearer cfc_nope"},
                    {"Authorization": "Basic !!!"}, {"Authorization": "Digest x"}):
        r = client.get(f"{ROOT}/", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == TAXII
        assert r.headers["www-authenticate"].startswith('Basic realm="cyberfusion TAXII"')
        assert r.json()["http_status"] == "401" and r.json()["title"] == "Authentication required"
    r = client.get(f"{ROOT}/", headers=basic(world, "pending"))
    assert (r.status_code, r.json()["description"]) == (403, "organisation vetting is pending")


# --- content negotiation and errors -------------------------------------------------------------------

@pytest.mark.parametrize("accept,status,answer", [
    (TAXII, 200, TAXII), ("application/taxii+json", 200, TAXII), (STIX, 200, STIX), ("*/*", 200, TAXII),
    (None, 200, TAXII), ("text/html, application/taxii+json;version=2.1;q=0.9", 200, TAXII),
    ("application/json", 406, TAXII), ("application/taxii+json;version=2.0", 406, TAXII),
    ("application/taxii+json;version=2.1;q=0", 406, TAXII)])
def test_accept_on_objects(client, world, accept, status, answer):
    h = basic(world, "bank")
    if accept is None:
        h.pop("Accept")
    else:
        h["Accept"] = accept
    r = client.get(f"{ALL}/objects/", headers=h)
    assert (r.status_code, r.headers["content-type"]) == (status, answer)
    if status == 406:
        assert r.json()["http_status"] == "406" and r.json()["title"] == "Not Acceptable"


def test_stix_media_type_is_not_offered_for_taxii_resources(client, world):
    h = {**basic(world, "bank"), "Accept": STIX}
    assert client.get(f"{ROOT}/collections/", headers=h).status_code == 406
    assert client.get(f"{ALL}/manifest/", headers=h).status_code == 406


def test_unknown_paths_methods_and_slashes(client, world):
    h = basic(world, "bank")
    r = client.post(f"{ALL}/", headers=h)
    assert (r.status_code, r.json()["http_status"]) == (405, "405")
    r = client.get(f"{ROOT}/nothing/here/", headers=h)
    assert (r.status_code, r.headers["content-type"]) == (404, TAXII)
    assert client.get(f"{ALL}/objects", headers=h).status_code == 200  # taxii2-client's slash-less URLs
    # The rest of the application keeps problem+json.
    r = client.get("/api/v1/search", params={"purpose": "investigation"})
    assert (r.status_code, r.headers["content-type"]) == (401, "application/problem+json")


# --- objects and filters -----------------------------------------------------------------------------

def test_objects_default_is_the_last_version_in_date_added_order(client, data):
    r = _get(client, f"{ALL}/objects/", basic(data, "bank"))
    assert r.status_code == 200
    assert _versions(r) == [(M, "2026-01-05T00:00:00.000Z"), (A, "2026-03-01T00:00:00.000Z")]
    assert r.json()["more"] is False and "next" not in r.json()
    assert r.headers["X-TAXII-Date-Added-First"] == "2026-05-01T10:00:00.123456Z"
    assert r.headers["X-TAXII-Date-Added-Last"] == "2026-05-01T12:00:00.123456Z"


@pytest.mark.parametrize("version,expected", [
    ("first", [(A, "2026-01-01T00:00:00.000Z"), (M, "2026-01-05T00:00:00.000Z")]),
    ("last", [(M, "2026-01-05T00:00:00.000Z"), (A, "2026-03-01T00:00:00.000Z")]),
    ("all", [(A, "2026-01-01T00:00:00.000Z"), (M, "2026-01-05T00:00:00.000Z"), (A, "2026-02-01T00:00:00.000Z"),
             (A, "2026-03-01T00:00:00.000Z")]),
    ("first,last", [(A, "2026-01-01T00:00:00.000Z"), (M, "2026-01-05T00:00:00.000Z"),
                    (A, "2026-03-01T00:00:00.000Z")]),
    ("2026-02-01T00:00:00Z", [(A, "2026-02-01T00:00:00.000Z")]),
    ("2026-02-01T00:00:00.000Z,2026-01-05T00:00:00.000Z", [(M, "2026-01-05T00:00:00.000Z"),
                                                            (A, "2026-02-01T00:00:00.000Z")]),
    ("1999-01-01T00:00:00Z", []),
])
def test_match_version(client, data, version, expected):
    r = _get(client, f"{ALL}/objects/", basic(data, "bank"), **{"match[version]": version})
    assert r.status_code == 200
    assert _versions(r) == expected


def test_match_id_type_spec_version_and_added_after(client, data):
    h = basic(data, "bank")
    assert _versions(_get(client, f"{ALL}/objects/", h, **{"match[id]": M})) == [(M, "2026-01-05T00:00:00.000Z")]
    assert _versions(_get(client, f"{ALL}/objects/", h, **{"match[id]": f"{M},{A}", "match[version]": "first"})) == \
        [(A, "2026-01-01T00:00:00.000Z"), (M, "2026-01-05T00:00:00.000Z")]
    assert _versions(_get(client, f"{ALL}/objects/", h, **{"match[type]": "malware"})) == [(M, "2026-01-05T00:00:00.000Z")]
    assert _versions(_get(client, f"{ALL}/objects/", h, **{"match[type]": "indicator,tool"})) == \
        [(A, "2026-03-01T00:00:00.000Z")]
    assert _versions(_get(client, f"{ALL}/objects/", h, **{"match[spec_version]": "2.0"})) == []
    assert len(_versions(_get(client, f"{ALL}/objects/", h, **{"match[spec_version]": "2.1"}))) == 2
    # added_after is strictly after, to the microsecond.
    after = _get(client, f"{ALL}/objects/", h, added_after="2026-05-01T10:00:00.123456Z", **{"match[version]": "all"})
    assert _versions(after) == [(A, "2026-02-01T00:00:00.000Z"), (A, "2026-03-01T00:00:00.000Z")]
    assert after.headers["X-TAXII-Date-Added-First"] == "2026-05-01T11:00:00.123456Z"
    assert _versions(_get(client, f"{ALL}/objects/", h, added_after="2026-05-01T12:00:00.123456Z")) == []
    empty = _get(client, f"{ALL}/objects/", h, added_after="2026-05-01T12:00:00.123456Z")
    assert empty.json() == {"more": False} and "X-TAXII-Date-Added-First" not in empty.headers


def test_limit_and_next_pages_through_everything(client, data):
    h = basic(data, "bank")
    seen, nxt, pages = [], None, 0
    while True:
        params = {"limit": 1, "match[version]": "all"} | ({"next": nxt} if nxt else {})
        r = client.get(f"{ALL}/objects/", headers=h, params=params)
        body = r.json()
        seen += _versions(r)
        pages += 1
        if not body["more"]:
            assert "next" not in body
            break
        nxt = body["next"]
    assert pages == 4 and len(seen) == 4 == len(set(seen))
    r = client.get(f"{ALL}/objects/", headers=h, params={"limit": 2, "match[version]": "all"})
    assert r.json()["more"] is True and len(r.json()["objects"]) == 2
    assert r.headers["X-TAXII-Date-Added-First"] == r.headers["X-TAXII-Date-Added-Last"] == "2026-05-01T10:00:00.123456Z"


@pytest.mark.parametrize("params,field", [
    ({"limit": "0"}, "limit"), ({"limit": "ten"}, "limit"), ({"added_after": "yesterday"}, "added_after"),
    ({"added_after": "2016-11-04T03:04:051Z"}, "added_after"),  # upstream example's 3-digit seconds: rejected
    ({"match[version]": "latest"}, "match[version]"), ({"match[spec_version]": "3.0"}, "match[spec_version]"),
    ({"match[colour]": "red"}, "match[colour]"), ({"next": "bm90LWEtY3Vyc29y"}, "next")])
def test_bad_filters_are_400(client, world, params, field):
    r = client.get(f"{ALL}/objects/", headers=basic(world, "bank"), params=params)
    assert r.status_code == 400
    body = r.json()
    assert (body["http_status"], body["title"], body["details"]["field"]) == ("400", "Invalid input", field)


def test_next_is_bound_to_its_collection_and_endpoint(client, data):
    h = basic(data, "bank")
    nxt = client.get(f"{ALL}/objects/", headers=h, params={"limit": 1}).json()["next"]
    assert client.get(f"{ROOT}/collections/tlp-green/objects/", headers=h, params={"next": nxt}).status_code == 400
    assert client.get(f"{ALL}/manifest/", headers=h, params={"next": nxt}).status_code == 400
    assert client.get(f"{ALL}/objects/", headers=h, params={"next": nxt[:-2] + "AA"}).status_code == 400


def test_limit_above_the_maximum_is_clamped(client, data, monkeypatch):
    from cyberfusion.taxii import service
    monkeypatch.setattr(service, "MAX_LIMIT", 2)
    r = client.get(f"{ALL}/objects/", headers=basic(data, "bank"), params={"limit": 100, "match[version]": "all"})
    assert len(r.json()["objects"]) == 2 and r.json()["more"] is True


# --- manifest, object, versions ---------------------------------------------------------------------

def test_manifest(client, data):
    r = _get(client, f"{ALL}/manifest/", basic(data, "bank"), **{"match[version]": "all"})
    assert r.status_code == 200 and r.headers["content-type"] == TAXII
    assert r.json() == {"more": False, "objects": [
        {"id": A, "date_added": "2026-05-01T10:00:00.123456Z", "version": "2026-01-01T00:00:00.000Z", "media_type": STIX},
        {"id": M, "date_added": "2026-05-01T10:00:00.123456Z", "version": "2026-01-05T00:00:00.000Z", "media_type": STIX},
        {"id": A, "date_added": "2026-05-01T11:00:00.123456Z", "version": "2026-02-01T00:00:00.000Z", "media_type": STIX},
        {"id": A, "date_added": "2026-05-01T12:00:00.123456Z", "version": "2026-03-01T00:00:00.000Z", "media_type": STIX}]}
    assert r.headers["X-TAXII-Date-Added-Last"] == "2026-05-01T12:00:00.123456Z"
    last = _get(client, f"{ALL}/manifest/", basic(data, "bank"), **{"match[id]": A}).json()["objects"]
    assert [e["version"] for e in last] == ["2026-03-01T00:00:00.000Z"]


def test_get_object_and_versions(client, data):
    h = basic(data, "bank")
    r = client.get(f"{ALL}/objects/{A}/", headers=h)
    assert r.status_code == 200 and _versions(r) == [(A, "2026-03-01T00:00:00.000Z")]
    r = client.get(f"{ALL}/objects/{A}/", headers=h, params={"match[version]": "all", "limit": 2})
    assert _versions(r) == [(A, "2026-01-01T00:00:00.000Z"), (A, "2026-02-01T00:00:00.000Z")] and r.json()["more"]
    r2 = client.get(f"{ALL}/objects/{A}/", headers=h, params={"match[version]": "all", "limit": 2,
                                                               "next": r.json()["next"]})
    assert _versions(r2) == [(A, "2026-03-01T00:00:00.000Z")] and r2.json()["more"] is False
    r = client.get(f"{ALL}/objects/{A}/", headers=h, params={"match[version]": "2026-02-01T00:00:00.000Z"})
    assert _versions(r) == [(A, "2026-02-01T00:00:00.000Z")]
    r = client.get(f"{ALL}/objects/{A}/versions/", headers=h)
    assert r.json() == {"more": False, "versions": ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z",
                                                    "2026-03-01T00:00:00.000Z"]}
    assert r.headers["X-TAXII-Date-Added-First"] == "2026-05-01T10:00:00.123456Z"
    r = client.get(f"{ALL}/objects/{A}/versions/", headers=h, params={"added_after": "2026-05-01T11:00:00Z"})
    assert r.json()["versions"] == ["2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]
    r = client.get(f"{ALL}/objects/{A}/versions/", headers=h, params={"match[version]": "first"})
    assert r.status_code == 400  # versions take no match[version]
    for path in (f"{ALL}/objects/indicator--00000000-0000-4000-8000-000000000000/",
                 f"{ALL}/objects/indicator--00000000-0000-4000-8000-000000000000/versions/"):
        r = client.get(path, headers=h)
        assert (r.status_code, r.json()["http_status"]) == (404, "404")
    # A filter that excludes every version of an object that exists is an empty answer, not 404.
    r = client.get(f"{ALL}/objects/{A}/", headers=h, params={"added_after": "2027-01-01T00:00:00Z"})
    assert (r.status_code, r.json()) == (200, {"more": False})


def test_collection_membership_filters(client, world, tmp_path):
    seed(world, "vendor", [indicator("ipv4-addr", "10.1.1.1")], spec=HandlingSpec(tlp="clear"), tmp_path=tmp_path)
    seed(world, "bank", [indicator("ipv4-addr", "10.1.1.2")], spec=HandlingSpec(tlp="amber", category="fraud"),
         tmp_path=tmp_path)
    seed(world, "ncb_fr", [indicator("ipv4-addr", "10.1.1.3")],
         spec=HandlingSpec(tlp="green", attribution="anonymous"), tmp_path=tmp_path)

    def names(viewer: str, alias: str) -> list[str]:
        r = client.get(f"{ROOT}/collections/{alias}/objects/", headers=basic(world, viewer))
        return sorted(o["name"] for o in r.json().get("objects", []))

    assert names("analyst", "all") == ["test 10.1.1.1", "test 10.1.1.2", "test 10.1.1.3"]
    assert names("analyst", "tlp-clear") == ["test 10.1.1.1"]
    assert names("analyst", "tlp-amber") == ["test 10.1.1.2"]
    assert names("analyst", "crime-fraud") == ["test 10.1.1.2"]
    assert names("analyst", "region-europe") == ["test 10.1.1.1", "test 10.1.1.2"]  # anonymous: not by region
    assert names("ncb_fr", "region-europe") == ["test 10.1.1.1", "test 10.1.1.2", "test 10.1.1.3"]  # its own
    assert names("telco", "tlp-amber") == []  # telco's agreement stops at GREEN
    assert names("bank", "inbox") == ["test 10.1.1.2"]


# --- POST, status, DELETE ----------------------------------------------------------------------------

def test_post_objects_status_and_read_back(client, world):
    h = {**basic(world, "bank"), "Content-Type": TAXII}
    good = indicator("domain-name", "evil.example")
    bad = {"type": "indicator", "spec_version": "2.1", "id": "indicator--5c3a4e2b-8d41-4c1f-9e6a-1b2c3d4e5f60",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "pattern": "[ipv4-addr:value = ", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content=json.dumps({"objects": [good, bad]}))
    assert r.status_code == 202 and r.headers["content-type"] == TAXII
    status = r.json()
    assert {k: status[k] for k in ("status", "total_count", "success_count", "failure_count", "pending_count")} == \
        {"status": "complete", "total_count": 2, "success_count": 1, "failure_count": 1, "pending_count": 0}
    assert status["successes"] == [{"id": good["id"], "version": "2026-10-01T00:00:00.000Z"}]
    assert status["failures"][0]["id"] == bad["id"]
    assert "pattern is not a valid STIX 2.1 pattern" in status["failures"][0]["message"]
    assert client.get(f"{ROOT}/status/{status['id']}/", headers=h).json() == status
    assert client.get(f"{ROOT}/status/{status['id']}/", headers=basic(world, "vendor")).status_code == 404
    assert client.get(f"{ROOT}/status/00000000-0000-4000-8000-000000000000/", headers=h).status_code == 404
    inbox = client.get(f"{ROOT}/collections/inbox/objects/", headers=h).json()["objects"]
    assert [o["id"] for o in inbox] == [good["id"]]
    # The collection's handling (inbox default: TLP:AMBER) travels as markings.
    assert inbox[0]["object_marking_refs"][0] == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    # Posting the same envelope again adds nothing and still reports success.
    again = client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content=json.dumps({"objects": [good]})).json()
    assert again["success_count"] == 1
    assert len(client.get(f"{ROOT}/collections/inbox/manifest/", headers=h).json()["objects"]) == 1


def test_post_errors(client, world, monkeypatch):
    from cyberfusion.taxii import service
    h = {**basic(world, "bank"), "Content-Type": TAXII}
    body = json.dumps({"objects": [indicator("domain-name", "evil.example")]})
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers={**h, "Content-Type": "application/json"}, content=body)
    assert (r.status_code, r.json()["http_status"]) == (415, "415")
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers={**h, "Accept": "text/html"}, content=body)
    assert r.status_code == 406
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content="{not json")
    assert r.status_code == 400
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content='{"objects": 5}')
    assert r.status_code == 400
    r = client.post(f"{ALL}/objects/", headers=h, content=body)
    assert (r.status_code, r.json()["title"]) == (403, "Forbidden")
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers={**basic(world, "bank_admin"), "Content-Type": TAXII},
                    content=body)
    assert r.status_code == 403  # org_admin is not a contributor
    monkeypatch.setattr(service, "MAX_CONTENT_LENGTH", 20)
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content=body)
    assert (r.status_code, r.json()["http_status"]) == (413, "413")
    # STIX bundles are accepted too (stix2's TAXIICollectionSink posts them).
    monkeypatch.setattr(service, "MAX_CONTENT_LENGTH", 10_000_000)
    bundle = {"type": "bundle", "id": "bundle--2a25c3c8-5d42-4a7b-9e51-6b9c0f1d2e3a",
              "objects": [indicator("domain-name", "bundle.example")]}
    r = client.post(f"{ROOT}/collections/inbox/objects/", headers={**h, "Content-Type": STIX}, content=json.dumps(bundle))
    assert (r.status_code, r.json()["success_count"]) == (202, 1)


def test_delete_from_inbox(client, world, tmp_path):
    h = {**basic(world, "vendor"), "Content-Type": TAXII}
    for modified in ("2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"):
        client.post(f"{ROOT}/collections/inbox/objects/", headers=h, content=json.dumps({"objects": [_ind(modified)]}))
    seed(world, "bank", [_ind("2026-02-01T00:00:00.000Z")], tmp_path=tmp_path)  # the bank holds the same version
    r = client.delete(f"{ROOT}/collections/inbox/objects/{A}/", headers=h, params={"match[version]": "first"})
    assert r.status_code == 200
    assert client.get(f"{ROOT}/collections/inbox/objects/{A}/versions/", headers=h).json()["versions"] == \
        ["2026-02-01T00:00:00.000Z"]
    assert client.delete(f"{ALL}/objects/{A}/", headers=h).status_code == 403
    assert client.delete(f"{ROOT}/collections/inbox/objects/{A}/", headers=h).status_code == 200
    assert client.get(f"{ROOT}/collections/inbox/objects/{A}/", headers=h).status_code == 404
    assert client.delete(f"{ROOT}/collections/inbox/objects/{A}/", headers=h).status_code == 404
    # Only the vendor's own rows went: the bank's copy is untouched.
    bank = client.get(f"{ROOT}/collections/inbox/objects/{A}/", headers=basic(world, "bank"))
    assert _versions(bank) == [(A, "2026-02-01T00:00:00.000Z")]


def test_every_read_is_audited(client, data):
    from cyberfusion.audit.repository import search
    client.get(f"{ALL}/objects/", headers=basic(data, "bank"))
    client.get(f"{ALL}/objects/", headers=basic(data, "bank"), params={"added_after": "2030-01-01T00:00:00Z"})
    with data.factory() as s:
        entries = search(s, action="taxii.read")
    assert len(entries) == 1  # an empty answer returned no intelligence
    assert (entries[0].object_ids, entries[0].purpose, entries[0].detail) == \
        (sorted([A, M]), "network_defence", {"collection": "all", "endpoint": "objects", "count": 2})


# --- markings ------------------------------------------------------------------------------------------

def _corpus_objects() -> list[dict]:
    valid = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "stix21" / "valid"
    out = []
    for f in sorted(valid.glob("*.json")):
        doc = json.loads(f.read_text())
        out.extend(doc["objects"] if doc.get("type") == "bundle" else [doc])
    return out


def test_fast_marking_equals_the_export_marking():
    """The in-place rewrite gives exactly what export.stix.marked gives, for every corpus object."""
    from cyberfusion.export.stix import marked
    from cyberfusion.taxii.service import _Marker
    handlings = [{"tlp": tlp, "purposes": ["network_defence"], "allowed_countries": ["FR"], "denied_countries": [],
                  "allowed_kinds": [], "law_enforcement_only": False, "no_further_dissemination": nfd}
                 for tlp, nfd in (("green", False), ("amber+strict", True))]
    objects = _corpus_objects()
    objects.append({"type": "indicator", "id": "indicator--0b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
                    "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                                            "marking-definition--1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"]})
    tlp_white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
    objects += [  # the key nested before the top-level one, nested after it, and inside a string
        {"type": "indicator", "id": "indicator--1b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "extensions": {"x": {"object_marking_refs": [tlp_white]}}, "object_marking_refs": [tlp_white]},
        {"type": "indicator", "id": "indicator--2b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "object_marking_refs": [tlp_white], "x_nested": {"object_marking_refs": [tlp_white]}},
        {"type": "indicator", "id": "indicator--3b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "name": '"object_marking_refs":["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]'},
        {"type": "indicator", "id": "indicator--4b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "object_marking_refs": [tlp_white, "marking-definition--not-a-uuid"]},
        # an empty list; a ']' inside a listed string; a list seen before (cached), then nested first
        {"type": "indicator", "id": "indicator--5b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70", "object_marking_refs": []},
        {"type": "indicator", "id": "indicator--6b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "object_marking_refs": [tlp_white, "x]y"]},
        {"type": "indicator", "id": "indicator--7b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70", "object_marking_refs": [tlp_white]},
        {"type": "indicator", "id": "indicator--8b5a1e6e-8f1d-4c8e-9d3a-2b3c4d5e6f70",
         "extensions": {"x": {"object_marking_refs": [tlp_white]}}, "object_marking_refs": [tlp_white],
         "x_nested": {"object_marking_refs": [tlp_white]}},
    ]
    assert len(objects) > 150
    for n, handling in enumerate(handlings):
        mark = _Marker(None)  # type: ignore[arg-type]
        from cyberfusion.export.stix import statement_marking
        from cyberfusion.sharing.markings import TLP2_MARKING_IDS
        tail = f'"{TLP2_MARKING_IDS[handling["tlp"]]}","{statement_marking(handling)["id"]}"'
        mark.by_handling[n] = (handling, tail, ',"object_marking_refs":[' + tail + "]}")
        rows = [(0, None, obj["id"], n, json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
                for obj in objects]
        for obj, row, text in zip(objects, rows, mark.page(rows), strict=True):
            assert json.loads(text) == marked(obj, handling)[0], obj["id"]
            # byte for byte what parsing the stored text and marking it gives
            assert text == json.dumps(marked(json.loads(row[4]), handling)[0], ensure_ascii=False,
                                      separators=(",", ":")), obj["id"]
