"""Malformed and hostile request bodies: a located 4xx in the API's own format, never a 5xx."""

from __future__ import annotations

import json

TAXII = "application/taxii+json;version=2.1"
DEEP = "[" * 5000 + "]" * 5000


def test_contribution_bodies(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}"}
    csv = ("iocs.csv", b"value\n198.51.100.8\n", "text/csv")
    for form, field in (({"format": "csv", "mapping": "{not json"}, "mapping"),  # regression: was a 500
                        ({"format": "csv", "mapping": "[1, 2]"}, "mapping"),
                        ({"format": "csv", "handling": "nope"}, "handling")):
        r = client.post("/api/v1/contributions", headers=h, files={"file": csv}, data=form)
        assert (r.status_code, r.headers["content-type"], r.json()["field"]) == (422, "application/problem+json",
                                                                                 field), r.text
    for body in (b"{", DEEP.encode(), json.dumps({"format": "stix", "content": json.loads("[" * 90 + "]" * 90)}).encode(),
                 b'{"format": "stix", "content": ' + DEEP.encode() + b"}"):
        r = client.post("/api/v1/contributions", headers={**h, "Content-Type": "application/json"}, content=body)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text[:200]


def test_taxii_envelopes(client, world):
    h = {"Authorization": f"Bearer {world.token('vendor')}", "Accept": TAXII, "Content-Type": TAXII}
    url = "/taxii2/cfc/collections/inbox/objects/"
    for body in (DEEP.encode(), b'{"objects": ' + DEEP.encode() + b"}", b"\xff\xfe", b'{"objects": 7}'):
        r = client.post(url, headers=h, content=body)
        assert r.status_code == 400 and r.headers["content-type"] == TAXII, r.text[:200]
        assert r.json()["http_status"] == str(r.status_code)
