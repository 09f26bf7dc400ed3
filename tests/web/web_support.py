"""Shared steps of the web tests: give world members a password, sign in a TestClient, read forms."""

from __future__ import annotations

import re
from functools import lru_cache

from fastapi.testclient import TestClient

from argon2 import PasswordHasher
from cyberfusion.db import transaction
from cyberfusion.partners.models import Member
from cyberfusion.web import security

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@lru_cache(maxsize=1)
def password_hash() -> str:
    """An argon2id hash with the lowest cost: verification reads the cost from the hash, so
    signing in takes milliseconds in tests (production hashes use argon2's default cost)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def give_password(world, *keys: str) -> None:
    with transaction(world.factory) as s:
        for key in keys:
            s.get(Member, world.members[key]).password_hash = password_hash()


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def email(key: str) -> str:
    return f"{key}@example.org"


def sign_in(client: TestClient, key: str, *, password: str = PASSWORD) -> str:
    """Sign the client in as the world member ``key``; returns the session's CSRF token."""
    page = client.get("/signin")
    r = client.post("/signin", data={"email": email(key), "password": password, "csrf_token": csrf_of(page.text),
                                     "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return session_csrf(client)


def session_csrf(client: TestClient) -> str:
    """The CSRF token the pages of this signed-in browser carry."""
    secret = client.app.state.settings.effective_secret_key()
    return security.csrf_for(secret, client.cookies[security.SESSION_COOKIE])


def new_client(client: TestClient) -> TestClient:
    """Another browser on the same app (its own cookie jar)."""
    other = TestClient(client.app, raise_server_exceptions=False)
    return other


def post(client: TestClient, url: str, csrf: str, data: dict | None = None, **kw):
    return client.post(url, data={**(data or {}), "csrf_token": csrf}, follow_redirects=False, **kw)


# --- the leak matrix through the browser ------------------------------------------------------

MISSING_ID = "indicator--00000000-0000-4000-8000-000000000000"


def browser(world, key: str, client: TestClient) -> TestClient:
    """A signed-in browser per viewer, reused by every read path of one test."""
    cache = world.__dict__.setdefault("_web_browsers", {})
    if key not in cache:
        b = new_client(client)
        sign_in(b, key)
        cache[key] = b
    return cache[key]


def denied(r) -> bool:
    """The member cannot read at all (no access, lapsed, no acknowledgement, purpose not allowed)."""
    return r.status_code in (303, 403)


def check_paths(paths, world, client: TestClient, tmp_path) -> dict[str, dict[str, tuple[list, list]]]:
    """Every read path over one matrix (built once: it is the slow part), judged as
    sharing.leak.assert_matrix judges it; per path, viewer -> (seen but must not be, missed)."""
    from sharing.leak import VIEWERS, expected_for
    failures = {}
    for read_path in paths:
        outcome = {key: read_path(world, key, client, tmp_path) for key in VIEWERS}
        wrong = {k: (sorted(outcome[k] - expected_for(k)), sorted(expected_for(k) - outcome[k]))
                 for k in VIEWERS if outcome[k] != expected_for(k)}
        if wrong:
            failures[read_path.__name__] = wrong
    return failures
