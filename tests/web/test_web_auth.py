"""Sign-in, sessions, CSRF, lock-out, security headers, the acknowledgement screen, the purpose."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cyberfusion.app import create_app
from cyberfusion.audit.models import AuditEntry
from cyberfusion.config import get_settings
from cyberfusion.db import transaction, utcnow
from cyberfusion.partners.models import Secondment
from cyberfusion.web.models import LoginThrottle, WebSession
from web_support import PASSWORD, csrf_of, email, give_password, new_client, post, sign_in


@pytest.fixture
def web(client, world):
    give_password(world, "analyst", "expert_unsigned", "expert_lapsed", "uni", "expired")
    return client


def _signin_form(client):
    page = client.get("/signin")
    return csrf_of(page.text)


def test_root_shows_sign_in_then_dashboard(web, world):
    r = web.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/signin")
    page = web.get("/signin")
    assert page.status_code == 200
    assert '<label for="email">E-mail address</label>' in page.text
    assert '<label for="password">Password</label>' in page.text
    sign_in(web, "analyst")
    home = web.get("/")
    assert home.status_code == 200
    assert "<h1>Dashboard</h1>" in home.text
    assert "analyst@example.org" in home.text and "Fusion Host" in home.text


def test_security_headers_on_web_pages(web):
    r = web.get("/signin")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in r.headers
    tls = web.get("/signin", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "<script>" not in r.text and " style=" not in r.text  # nothing inline for the CSP to refuse


def test_session_cookie_flags(web):
    token = _signin_form(web)
    r = post(web, "/signin", token, {"email": email("analyst"), "password": PASSWORD})
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("cfc_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    from fastapi.testclient import TestClient
    tls = TestClient(web.app, base_url="https://testserver")
    token = csrf_of(tls.get("/signin").text)
    r = post(tls, "/signin", token, {"email": email("analyst"), "password": PASSWORD})
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("cfc_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert tls.get("/").headers["strict-transport-security"].startswith("max-age=")


def test_wrong_password_and_unknown_account_read_the_same(web):
    token = _signin_form(web)
    wrong = post(web, "/signin", token, {"email": email("analyst"), "password": "nope-nope-nope"})
    unknown = post(web, "/signin", token, {"email": "nobody@example.org", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    message = "The e-mail address or the password is wrong."
    assert message in wrong.text and message in unknown.text
    assert "cfc_session" not in web.cookies


def test_csrf_refused_without_or_with_a_forged_token(web, factory):
    r = web.post("/signin", data={"email": email("analyst"), "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "This form has expired" in r.text
    r = post(web, "/signin", "0" * 64, {"email": email("analyst"), "password": PASSWORD})
    assert r.status_code == 403
    csrf = sign_in(web, "analyst")
    assert web.post("/signout", follow_redirects=False).status_code == 403
    other = new_client(web)
    foreign = sign_in(other, "analyst")  # another browser's token does not fit this browser's cookie
    assert foreign != csrf
    assert post(web, "/signout", foreign).status_code == 403
    assert web.get("/").status_code == 200  # still signed in
    assert post(web, "/signout", csrf).status_code == 303
    assert web.get("/", follow_redirects=False).headers["location"] == "/signin"


def test_every_form_carries_a_csrf_token(web):
    csrf = sign_in(web, "analyst")
    for path in ("/", "/search", "/contribute", "/tokens"):
        html = web.get(path).text
        forms = html.count('method="post"')
        assert forms >= 1
        assert html.count(f'name="csrf_token" value="{csrf}"') == forms, path


def test_lockout_after_repeated_failures_shared_by_every_process(web, engine, monkeypatch, factory):
    monkeypatch.setenv("CFC_WEB_LOGIN_MAX_FAILURES", "3")
    get_settings.cache_clear()
    app = create_app(get_settings(), engine=engine)
    from fastapi.testclient import TestClient
    first = TestClient(app, raise_server_exceptions=False)
    token = _signin_form(first)
    for _ in range(2):
        assert post(first, "/signin", token, {"email": email("analyst"), "password": "wrong-wrong"}).status_code == 401
    third = post(first, "/signin", token, {"email": email("analyst"), "password": "wrong-wrong"})
    assert third.status_code == 401 and "Too many failed sign-ins" in third.text
    assert int(third.headers["retry-after"]) == 30
    # Another process (another app on the same database) refuses even the right password now.
    second = TestClient(create_app(get_settings(), engine=engine), raise_server_exceptions=False)
    token2 = _signin_form(second)
    locked = post(second, "/signin", token2, {"email": email("analyst"), "password": PASSWORD})
    assert locked.status_code == 401 and "Try again in" in locked.text
    with transaction(factory) as s:
        row = s.get(LoginThrottle, "account:analyst@example.org")
        assert row.failures == 3
        # The next failure after the lock doubles it.
        row.locked_until = utcnow() - timedelta(seconds=1)
    fourth = post(second, "/signin", token2, {"email": email("analyst"), "password": "wrong-wrong"})
    assert int(fourth.headers["retry-after"]) == 60
    with transaction(factory) as s:
        s.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    ok = post(second, "/signin", token2, {"email": email("analyst"), "password": PASSWORD})
    assert ok.status_code == 303
    with transaction(factory) as s:
        assert s.get(LoginThrottle, "account:analyst@example.org") is None
        failed = s.scalars(select(AuditEntry).where(AuditEntry.action == "web.signin.failed")).all()
        assert len(failed) == 4 and failed[2].detail["locked_seconds"] == 30


def test_sign_out_ends_the_session_everywhere(web, factory):
    csrf = sign_in(web, "analyst")
    stolen = web.cookies["cfc_session"]
    post(web, "/signout", csrf)
    with transaction(factory) as s:
        assert s.scalars(select(WebSession)).all() == []
    replay = new_client(web)
    replay.cookies.set("cfc_session", stolen)
    r = replay.get("/search", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/signin?next=%2Fsearch")


def test_idle_session_ends(web, factory):
    sign_in(web, "analyst")
    with transaction(factory) as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=61)))
    r = web.get("/", follow_redirects=False)
    assert r.headers["location"] == "/signin"
    assert 'cfc_session=""' in r.headers["set-cookie"]


def test_next_is_followed_but_never_off_site(web):
    token = _signin_form(web)
    r = post(web, "/signin", token, {"email": email("analyst"), "password": PASSWORD, "next": "//evil.example/x"})
    assert r.headers["location"] == "/"
    other = new_client(web)
    token = _signin_form(other)
    r = post(other, "/signin", token, {"email": email("analyst"), "password": PASSWORD, "next": "/search?q=x"})
    assert r.headers["location"] == "/search?q=x"


def test_seconded_expert_acknowledges_before_any_access(web, world, factory):
    csrf = sign_in(web, "expert_unsigned")
    for path in ("/", "/search", "/tokens"):
        r = web.get(path, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/acknowledge"), path
    page = web.get("/acknowledge")
    assert "Confidentiality acknowledgement" in page.text
    assert 'id="accept" name="accept" type="checkbox"' in page.text
    refused = post(web, "/acknowledge", csrf)
    assert refused.status_code == 422 and "tick the box" in refused.text
    done = post(web, "/acknowledge", csrf, {"accept": "yes"})
    assert done.headers["location"] == "/?notice=acknowledged"
    home = web.get("/?notice=acknowledged")
    assert "your confidentiality acknowledgement is recorded" in home.text
    with transaction(factory) as s:
        sec = s.scalars(select(Secondment).where(Secondment.member_id == world.members["expert_unsigned"])).one()
        assert sec.confidentiality_ack_at is not None
    assert web.get("/search").status_code == 200


def test_members_without_access_are_told_why(web):
    sign_in(web, "expert_lapsed")
    home = web.get("/")
    assert "No access to intelligence:" in home.text and "secondment is outside its term" in home.text
    r = web.get("/search")
    assert r.status_code == 403 and "secondment is outside its term" in r.text
    other = new_client(web)
    sign_in(other, "expired")
    r = other.get("/search")
    assert r.status_code == 403 and "may not receive intelligence" in r.text


def test_reading_purpose_is_chosen_per_session(web, factory):
    csrf = sign_in(web, "analyst")
    assert '<option value="investigation" selected>' in web.get("/").text
    r = post(web, "/purpose", csrf, {"purpose": "research", "next": "/search"})
    assert r.headers["location"] == "/search?notice=purpose"
    assert '<option value="research" selected>' in web.get("/search").text
    with transaction(factory) as s:
        assert s.scalars(select(WebSession.purpose)).one() == "research"
    uni = new_client(web)
    uni_csrf = sign_in(uni, "uni")
    assert '<option value="research" selected>' in uni.get("/").text  # its agreement allows research only
    refused = post(uni, "/purpose", uni_csrf, {"purpose": "investigation"})
    assert refused.status_code == 403 and "does not permit the purpose" in refused.text


def test_static_files_and_tlp_colours_from_the_standard(web):
    from cyberfusion.sharing.markings import TLP_COLOURS
    css = web.get("/static/tlp.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for name, colour in TLP_COLOURS.items():
        assert f".tlp-{name.replace('+', '-')} {{ color: {colour}; background: #000; }}" in css.text
    assert web.get("/static/app.js").headers["x-content-type-options"] == "nosniff"
    assert web.get("/static/../config.py").status_code == 404
    assert web.get("/static/nothing.css").status_code == 404
