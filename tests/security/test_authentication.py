"""Authentication on every route of the app, the failed-token limit, and CSRF on every web form.

The routes are read from the application itself (security/routes.py): an endpoint added
tomorrow is in these sweeps without anyone remembering to list it.
"""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient
from security.routes import concrete, routes

PROBLEM = "application/problem+json"
TAXII = "application/taxii+json;version=2.1"
WRONG_TOKEN = "Bearer cfc_0123456789ab_" + "x" * 43
# What anyone may fetch without signing in: probes, the API description, the sign-in page and
# the static files it needs. Everything else is behind a token (API, TAXII) or a session (web).
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"), ("GET", "/signin"),
          ("GET", "/static/tlp.css"), ("GET", "/static/plotly.min.js"), ("GET", "/static/{name}")}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _api(path: str) -> bool:
    return path.startswith(("/api/v1", "/taxii2"))


@pytest.fixture
def all_routes(client):  # type: ignore[no-untyped-def]
    found = routes(client.app)
    assert len(found) > 200 and any(p.startswith("/taxii2") for _, p in found)
    return found


def test_every_api_and_taxii_endpoint_answers_401_without_a_valid_token(client, all_routes, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "api_auth_max_failures", 10_000)  # limit: tested below
    wrong = {}
    for (method, path), headers in itertools.product(all_routes, ({}, {"Authorization": WRONG_TOKEN})):
        if not _api(path):
            continue
        r = client.request(method, concrete(path), headers=headers)
        taxii = path.startswith("/taxii2")
        expected_type = TAXII if taxii else PROBLEM
        body = r.json() if r.headers.get("content-type") == expected_type else {}
        if (r.status_code != 401 or "WWW-Authenticate" not in r.headers
                or (body.get("http_status") if taxii else body.get("status")) not in ("401", 401)):
            wrong[f"{method} {path} {sorted(headers)}"] = (r.status_code, r.headers.get("content-type"))
    assert wrong == {}


def test_no_web_page_opens_without_signing_in(client, all_routes):
    opened = {}
    for method, path in all_routes:
        if _api(path) or method in UNSAFE:
            continue
        r = client.request(method, concrete(path), follow_redirects=False)
        if (method, path) in PUBLIC:
            continue
        if not (r.status_code == 303 and r.headers["location"].startswith("/signin")) and r.status_code != 404:
            opened[f"{method} {path}"] = r.status_code
    assert opened == {}
    # The allow-list is exact: each public route really answers without credentials.
    for method, path in PUBLIC - {("GET", "/static/{name}")}:
        assert client.request(method, path).status_code == 200, path


def test_every_web_form_refuses_a_post_without_the_csrf_token(client, world, all_routes):
    from web.web_support import give_password, sign_in
    give_password(world, "admin")
    signed_in = TestClient(client.app, raise_server_exceptions=False)
    csrf = sign_in(signed_in, "admin")
    unsafe = [(m, p) for m, p in all_routes if m in UNSAFE and not _api(p)]
    assert len(unsafe) >= 40
    accepted = {}
    for method, path in unsafe:
        for browser, form in ((client, {}), (signed_in, {}), (signed_in, {"csrf_token": "0" * 64})):
            r = browser.request(method, concrete(path), data=form, follow_redirects=False)
            if r.status_code != 403 or "Form expired" not in r.text:
                accepted[f"{method} {path}"] = r.status_code
    assert accepted == {}
    # The session still works: the refusals did not sign the browser out.
    assert signed_in.post("/purpose", data={"purpose": "research", "csrf_token": csrf},
                          follow_redirects=False).status_code == 303


# --- failed-token limit ---------------------------------------------------------------------------

def _limited(client: TestClient, address: str) -> TestClient:
    return TestClient(client.app, raise_server_exceptions=False, client=(address, 50000))


def test_guessing_tokens_gets_429_with_retry_after_from_that_address_only(client, world, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "api_auth_max_failures", 5)
    token = world.token("analyst")
    guesser, other = _limited(client, "203.0.113.7"), _limited(client, "198.51.100.9")
    codes = [guesser.get("/api/v1/me", headers={"Authorization": WRONG_TOKEN}).status_code for _ in range(7)]
    assert codes == [401] * 5 + [429, 429]  # five guesses, then a wait
    r = guesser.get("/api/v1/me", headers={"Authorization": WRONG_TOKEN})
    assert r.status_code == 429 and r.headers["content-type"] == PROBLEM
    assert 1 <= int(r.headers["Retry-After"]) <= 31
    assert r.json()["type"].endswith("/too-many-requests")
    # TAXII shares the limit (same tokens, same counter), answered as a TAXII error.
    t = guesser.get("/taxii2/", headers={"Authorization": WRONG_TOKEN, "Accept": TAXII})
    assert t.status_code == 429 and t.headers["content-type"] == TAXII and "Retry-After" in t.headers
    # Only failures are limited: a valid token works, from that address too (a colleague behind
    # the same proxy as the guesser), and asking without credentials is not a guess.
    assert guesser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for _ in range(10):
        assert other.get("/api/v1/me").status_code == 401
    assert other.get("/api/v1/me", headers={"Authorization": WRONG_TOKEN}).status_code == 401
    # The lock is shared through the database: a second app (another API process) refuses too.
    from cyberfusion.app import create_app
    second = TestClient(create_app(client.app.state.settings, engine=client.app.state.engine),
                        raise_server_exceptions=False, client=("203.0.113.7", 50001))
    assert second.get("/api/v1/me", headers={"Authorization": WRONG_TOKEN}).status_code == 429


def test_taxii_guesses_count_toward_the_same_limit(client, world, monkeypatch):
    monkeypatch.setattr(client.app.state.settings, "api_auth_max_failures", 3)
    guesser = _limited(client, "203.0.113.8")
    headers = {"Accept": TAXII}
    codes = [guesser.get("/taxii2/", headers={**headers, "Authorization": f"Basic {'QUFB' * i}"}).status_code
             for i in range(1, 5)]
    assert codes == [401, 401, 401, 429]
    assert guesser.get("/api/v1/me", headers={"Authorization": WRONG_TOKEN}).status_code == 429
