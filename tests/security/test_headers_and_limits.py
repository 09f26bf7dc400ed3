"""Security headers on every kind of response, and the request-body limit in each error format."""

from __future__ import annotations

import pytest

from cyberfusion.api.guards import API_CSP

HSTS = "max-age=31536000; includeSubDomains"


def test_api_taxii_probe_and_docs_responses_carry_the_security_headers(client, world):
    token = {"Authorization": f"Bearer {world.token('analyst')}"}
    cases = {"/api/v1/me": token, "/api/v1/search?purpose=investigation&q=x": token, "/api/v1/objects/x": token,
             "/taxii2/": {**token, "Accept": "application/taxii+json;version=2.1"}, "/taxii2/cfc/nowhere/x": token}
    for path, headers in cases.items():
        r = client.get(path, headers=headers)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Content-Security-Policy"] == API_CSP, path
        assert r.headers["Cache-Control"] == "no-store", path
        assert "Strict-Transport-Security" not in r.headers, path  # plain HTTP: no HSTS
    for path in ("/healthz", "/openapi.json", "/docs"):
        assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in client.get("/docs").headers["Content-Security-Policy"]


def test_hsts_only_when_the_request_came_over_tls(client):
    for path in ("/api/v1/me", "/taxii2/", "/signin", "/healthz"):
        assert client.get(path, headers={"X-Forwarded-Proto": "https"}).headers["Strict-Transport-Security"] == HSTS
        assert "Strict-Transport-Security" not in client.get(path).headers


def test_web_pages_keep_their_own_strict_policy_and_the_rest_gets_the_api_one(client):
    for path in ("/signin", "/search"):
        r = client.get(path, follow_redirects=False)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.headers["Content-Security-Policy"]) == (404, API_CSP)


@pytest.fixture
def small_bodies(monkeypatch):
    monkeypatch.setenv("CFC_MAX_REQUEST_MB", "1")


def test_a_declared_body_over_the_limit_is_refused_before_any_work(small_bodies, client, world):
    big = b"x" * (1024 * 1024 + 1)
    api = client.post("/api/v1/contributions", content=big, headers={"Content-Type": "application/json"})
    assert (api.status_code, api.headers["content-type"]) == (413, "application/problem+json")
    assert api.json()["detail"] == "the request body is larger than 1 MiB (CFC_MAX_REQUEST_MB)"
    taxii = client.post("/taxii2/cfc/collections/tlp-green/objects/", content=big)
    assert (taxii.status_code, taxii.headers["content-type"]) == (413, "application/taxii+json;version=2.1")
    assert taxii.json()["http_status"] == "413"
    assert taxii.headers["X-Content-Type-Options"] == "nosniff"


def test_a_streamed_body_is_cut_off_at_the_limit(small_bodies, client, world):
    token = {"Authorization": f"Bearer {world.token('ncb_fr')}"}

    def chunks():  # no Content-Length: sent chunked
        for _ in range(20):
            yield b"[" + b" " * 65_534 + b"]"

    api = client.post("/api/v1/contributions", content=chunks(), headers={**token, "Content-Type": "application/json"})
    assert (api.status_code, api.headers["content-type"]) == (413, "application/problem+json")
    taxii = client.post("/taxii2/cfc/collections/tlp-green/objects/", content=chunks(),
                        headers={**token, "Content-Type": "application/taxii+json;version=2.1",
                                 "Accept": "application/taxii+json;version=2.1"})
    assert (taxii.status_code, taxii.json()["http_status"]) == (413, "413")
    # Under the limit the same route works as before.
    ok = client.post("/api/v1/contributions", headers=token, json={
        "format": "text", "file_name": "one.txt", "content": "198.51.100.77\n",
        "handling": {"tlp": "green", "category": "malware"}})
    assert ok.status_code == 201, ok.text
