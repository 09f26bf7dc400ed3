"""SQL injection attempts in search, filters and lookups: a clear 4xx or a plain (empty) result,
and the database untouched afterwards. LIKE wildcards in a search are literal characters."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from fusion.fusion_helpers import give, indicator
from sqlalchemy import func, select, text
from web.web_support import give_password, sign_in

from cyberfusion.intel.models import StixObject

PAYLOADS = ["' OR '1'='1", "'; DROP TABLE stix_objects; --", '" OR ""="', "1; SELECT pg_sleep(5)", "%", "_",
            "\\", "' UNION SELECT data FROM stix_objects --", "\x00", "é' --"]


@pytest.fixture
def stored(world, tmp_path):
    give(world, tmp_path, "vendor", [indicator("domain-name", "shared.example.org")], tlp="green")
    give(world, tmp_path, "bank", [indicator("domain-name", "bank-only.example.org")], tlp="red", recipients=("le_gb",))
    return world


def _count(world) -> int:
    with world.factory() as s:
        return s.scalar(select(func.count()).select_from(StixObject))


def _ok_or_4xx(r) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] in ("application/problem+json", "application/taxii+json;version=2.1")


def test_search_and_filters_take_payloads_as_plain_values(client, stored):
    before = _count(stored)
    h = {"Authorization": f"Bearer {stored.token('telco')}"}
    base = {"purpose": "investigation"}
    for payload in PAYLOADS:
        for params in ({"q": payload}, {"type": payload}, {"source_kind": payload}, {"since": payload},
                       {"cursor": payload}, {"q": payload, "type": f"indicator,{payload}"}):
            r = client.get("/api/v1/search", params={**base, **params}, headers=h)
            _ok_or_4xx(r)
            if r.status_code == 200:
                assert "bank-only" not in r.text
                assert r.json()["items"] == [], (payload, params)  # no wildcard matches everything
        for params in ({"value": payload}, {"value": payload, "kind": "domain-name"}):
            _ok_or_4xx(client.get("/api/v1/correlation", params={**base, **params}, headers=h))
        _ok_or_4xx(client.get("/api/v1/export", params={**base, "type": payload}, headers=h))
        r = client.post("/api/v1/lookup", json={"purpose": "investigation", "values": [payload]}, headers=h)
        _ok_or_4xx(r)
        assert "bank-only" not in r.text
        taxii = client.get("/taxii2/cfc/collections/tlp-green/objects/",
                           params={"match[id]": payload, "match[type]": payload},
                           headers={**h, "Accept": "application/taxii+json;version=2.1"})
        _ok_or_4xx(taxii)
    assert _count(stored) == before
    with stored.factory() as s:  # the table is still there and readable
        assert s.execute(text("SELECT count(*) FROM stix_objects")).scalar() == before


def test_a_like_wildcard_is_a_literal_character(client, stored):
    h = {"Authorization": f"Bearer {stored.token('telco')}"}
    found = client.get("/api/v1/search", params={"purpose": "investigation", "q": "shared.example"}, headers=h)
    assert len(found.json()["items"]) == 1
    for wildcard in ("%", "_", "shared%org", "shared_example"):
        r = client.get("/api/v1/search", params={"purpose": "investigation", "q": wildcard}, headers=h)
        assert r.json()["items"] == [], wildcard


def test_web_search_takes_payloads_as_plain_values(client, stored):
    give_password(stored, "analyst")
    browser = TestClient(client.app, raise_server_exceptions=False)
    sign_in(browser, "analyst")
    before = _count(stored)
    for payload in PAYLOADS[:3] + PAYLOADS[4:6] + PAYLOADS[8:9]:
        for params in ({"q": payload}, {"type": payload}, {"tlp": payload}, {"country": payload},
                       {"since": payload}, {"cursor": payload}):
            r = browser.get("/search", params=params)
            assert r.status_code in (200, 422), (params, r.status_code)
            assert "bank-only" not in r.text
    assert _count(stored) == before


def test_nul_characters_in_a_contribution_are_stored_or_refused_never_a_server_error(client, world):
    # PostgreSQL text refuses NUL (0x00): a name, label or value carrying one must not reach it raw.
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    t = "2026-10-05T10:00:00.000Z"
    bundle = {"type": "bundle", "id": "bundle--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f70", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f71",
         "created": t, "modified": t, "name": "nul\x00name", "description": "d\x00", "labels": ["a\x00b"],
         "pattern": "[url:value = 'http://nul.example/a\x00b']", "pattern_type": "stix", "valid_from": t},
        {"type": "malware", "spec_version": "2.1", "id": "malware--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f72",
         "created": t, "modified": t, "name": "m\x00", "is_family": True, "aliases": ["\x00"]}]}
    r = client.post("/api/v1/contributions", headers=h, json={
        "format": "stix", "file_name": "nul.json", "content": bundle, "handling": {"tlp": "green"}})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"file": "nul.json", "location": "object 0 (indicator--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f71)",
                                   "reason": "text contains a NUL character (U+0000), which cannot be stored"}]
    found = client.get("/api/v1/search", params={"purpose": "investigation", "q": "nul"}, headers=h)
    assert (found.status_code, found.json()["items"]) == (200, [])  # nothing of it was stored
    csv = client.post("/api/v1/contributions", headers=h, json={
        "format": "csv", "file_name": "nul.csv", "content": "value,description\nnul-csv.example.org,x\x00y\n",
        "handling": {"tlp": "green"}})
    assert (csv.status_code, csv.json()["errors"][0]["location"]) == (422, "line 2"), csv.text
