"""Stored XSS: script payloads in STIX names/descriptions/labels and MISP event info and comments
come back escaped in every web page and in the country report HTML, never as markup."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from web.web_support import give_password, sign_in

from cyberfusion.kit.observables import to_pattern

SCRIPT = '<script>alert("xss")</script>'
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(2)>"
RAW = ("<script>alert", "<img src=x onerror", "<svg onload")
T = "2026-10-05T10:00:00.000Z"
IND = "indicator--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f60"
MAL = "malware--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f61"
REL = "relationship--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f62"
BUNDLE = {"type": "bundle", "id": "bundle--6a1b0c3e-2f4d-4c5b-9a7e-1d2c3b4a5f63", "objects": [
    {"type": "indicator", "spec_version": "2.1", "id": IND, "created": T, "modified": T, "name": f"C2 {SCRIPT}",
     "description": f"seen {IMG}", "labels": ["c2", SVG], "pattern": to_pattern("ipv4-addr", "62.4.1.9"),
     "pattern_type": "stix", "valid_from": T, "confidence": 80},
    {"type": "malware", "spec_version": "2.1", "id": MAL, "created": T, "modified": T, "name": f"Bad {SCRIPT}",
     "description": IMG, "is_family": True},
    {"type": "relationship", "spec_version": "2.1", "id": REL, "created": T, "modified": T,
     "relationship_type": "indicates", "source_ref": IND, "target_ref": MAL},
]}
MISP = {"Event": {"info": f"Campaign {SCRIPT}", "date": "2026-10-05", "uuid": "5f0c2b1a-3d4e-4f5a-8b6c-7d8e9f0a1b2c",
                  "Attribute": [{"type": "domain", "category": "Network activity", "to_ids": True,
                                 "value": "xss-test.example.org", "comment": f"comment {IMG}",
                                 "uuid": "5f0c2b1a-3d4e-4f5a-8b6c-7d8e9f0a1b2d"},
                                {"type": "text", "category": "Other", "value": f"note {SVG}",
                                 "uuid": "5f0c2b1a-3d4e-4f5a-8b6c-7d8e9f0a1b2e"}]}}


def _h(world, key):
    return {"Authorization": f"Bearer {world.token(key)}"}


def _contribute(client, world, fmt, content):
    r = client.post("/api/v1/contributions", headers=_h(world, "vendor"), json={
        "format": fmt, "file_name": f"xss.{fmt}", "content": content, "handling": {"tlp": "green", "category": "malware"}})
    assert r.status_code == 201, r.text
    return r.json()


def _escaped(html: str, where: str) -> None:
    for raw in RAW:
        assert raw not in html, f"{where}: raw {raw!r} in the page"


def test_payloads_in_stix_and_misp_are_escaped_in_every_web_page(client, world):
    _contribute(client, world, "stix", BUNDLE)
    _contribute(client, world, "misp", MISP)
    give_password(world, "analyst")
    browser = TestClient(client.app, raise_server_exceptions=False)
    sign_in(browser, "analyst")
    found = browser.get("/search", params={"q": "xss"}).text + browser.get("/search", params={"q": "C2"}).text
    assert "&lt;script&gt;" in found  # the names are on the page, as text
    _escaped(found, "/search")
    misp_ids = [r["id"] for r in client.get("/api/v1/search", params={"purpose": "investigation", "q": "xss"},
                                            headers=_h(world, "analyst")).json()["items"]]
    notes = [r["id"] for r in client.get("/api/v1/search", params={"purpose": "investigation", "type": "note"},
                                         headers=_h(world, "analyst")).json()["items"]]
    assert misp_ids and notes
    for sid in (IND, MAL, *misp_ids, *notes):
        page = browser.get(f"/objects/{sid}")
        assert page.status_code == 200, sid
        _escaped(page.text, sid)
        if sid in (IND, MAL):
            assert "Bad &lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in page.text  # shown, as text
    home = browser.get("/").text + browser.get("/observable", params={"value": "62.4.1.9"}).text
    _escaped(home, "/ and /observable")


def test_payloads_are_escaped_in_the_country_report_html(client, world, tmp_path):
    from products import products_fixture as fx
    fx.build(world, tmp_path)
    _contribute(client, world, "stix", BUNDLE)
    r = client.post("/api/v1/reports/country", json={"period": "2026-10", "countries": ["FR"], "formats": ["html"]},
                    headers=_h(world, "analyst"))
    assert r.status_code == 201, r.text
    rid = r.json()["reports"][0]["report_id"]
    assert client.post(f"/api/v1/reports/{rid}/send", headers=_h(world, "analyst")).status_code == 200
    html = client.get(f"/api/v1/reports/{rid}/download", params={"format": "html"}, headers=_h(world, "ncb_fr"))
    assert html.status_code == 200
    assert "62.4.1.9" in html.text and "&lt;script&gt;" in html.text
    _escaped(html.text, "country report")
    assert json.dumps(SCRIPT) not in html.text
