"""Administration pages (organisations and vetting, members, secondments, agreements), API tokens
and the auditors' audit log viewer."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cyberfusion.auth import tokens
from cyberfusion.db import transaction
from cyberfusion.partners.models import ApiToken, Member, Organisation
from web_support import give_password, new_client, post, sign_in


@pytest.fixture
def web(client, world):
    give_password(world, "admin", "bank_admin", "auditor", "vendor")
    return client


def test_admin_pages_need_an_admin_role(web):
    sign_in(web, "vendor")
    for path in ("/admin", "/admin/organisations", "/admin/members", "/admin/secondments", "/admin/agreements",
                 "/audit"):
        r = web.get(path)
        assert r.status_code == 403, path
        assert "requires one of the roles" in r.text
    assert 'href="/admin"' not in web.get("/").text


def test_platform_admin_registers_and_vets_an_organisation(web, factory):
    csrf = sign_in(web, "admin")
    page = web.get("/admin/organisations").text
    assert "Vendor Labs" in page and "Pending Co" in page
    bad = post(web, "/admin/organisations", csrf, {"name": "Acme Bank", "kind": "private", "country": "FR"})
    assert bad.status_code == 422
    assert 'id="org-sector" name="sector" aria-invalid="true"' in bad.text
    assert "a private organisation needs a sector" in bad.text
    ok = post(web, "/admin/organisations", csrf, {"name": "Acme Bank", "kind": "private", "country": "FR",
                                                  "sector": "financial"})
    assert ok.headers["location"] == "/admin/organisations?notice=saved"
    with transaction(factory) as s:
        org = s.scalars(select(Organisation).where(Organisation.name == "Acme Bank")).one()
        assert org.vetting_status == "pending"
        org_id = org.id
    post(web, f"/admin/organisations/{org_id}/vetting", csrf, {"decision": "approved", "notes": "checked"})
    with transaction(factory) as s:
        org = s.get(Organisation, org_id)
        assert (org.vetting_status, org.vetting_reviewer, org.vetting_notes) == ("approved", "admin@example.org",
                                                                                  "checked")
    dup = post(web, "/admin/organisations", csrf, {"name": "Acme Bank", "kind": "academia", "country": "FR"})
    assert dup.status_code == 422 and "an organisation named &#39;Acme Bank&#39; exists" in dup.text


def test_members_admin_per_role(web, world, factory):
    csrf = sign_in(web, "bank_admin")
    page = web.get("/admin/members").text
    assert "bank@example.org" in page and "vendor@example.org" not in page  # own organisation only
    assert 'value="platform_admin"' not in page
    r = post(web, "/admin/members", csrf, {"email": "new.analyst@bigbank.example", "name": "New",
                                           "organisation": str(world.orgs["bank"]), "roles": ["reader"],
                                           "password": "long-enough-password"})
    assert r.status_code == 303
    refused = post(web, "/admin/members", csrf, {"email": "x@vendor.example", "organisation": str(world.orgs["vendor"]),
                                                 "roles": ["reader"]})
    assert refused.status_code == 403 and "its own organisation only" in refused.text
    short = post(web, "/admin/members", csrf, {"email": "y@bigbank.example", "organisation": str(world.orgs["bank"]),
                                               "roles": ["reader"], "password": "short"})
    assert short.status_code == 422 and 'aria-describedby="err-password"' in short.text
    with transaction(factory) as s:
        m = s.scalars(select(Member).where(Member.email == "new.analyst@bigbank.example")).one()
        assert m.roles == ["reader"] and m.password_hash.startswith("$argon2id$")
    agreements = web.get("/admin/agreements").text
    assert "DSA-bank" in agreements and "DSA-vendor" not in agreements and "Add an agreement" not in agreements


def test_secondments_and_agreements_admin(web, world):
    csrf = sign_in(web, "admin")
    page = web.get("/admin/secondments").text
    assert "expert_unsigned@example.org" in page and "<strong>not acknowledged</strong>" in page
    assert '<span class="pill">ended</span>' in page  # the lapsed expert
    r = post(web, "/admin/secondments", csrf, {"member": "analyst@example.org",
                                               "seconding_org": str(world.orgs["telco"]), "start": "2026-01-01",
                                               "end": "2025-01-01"})
    assert r.status_code == 422 and "end date is before start date" in r.text
    r = post(web, "/admin/secondments", csrf, {"member": "nobody@example.org",
                                               "seconding_org": str(world.orgs["telco"]), "start": "2026-01-01"})
    assert r.status_code == 422 and "no member" in r.text
    r = post(web, "/admin/agreements", csrf, {"organisation": str(world.orgs["pending"]), "reference": "DSA-2",
                                              "valid_from": "2026-01-01", "tlp_ceiling": "green",
                                              "contribute": ["phishing"], "receive": ["phishing"],
                                              "purposes": ["research"]})
    assert r.headers["location"] == "/admin/agreements?notice=saved"
    assert "DSA-2" in web.get("/admin/agreements").text
    r = post(web, "/admin/agreements", csrf, {"organisation": str(world.orgs["pending"]), "reference": "DSA-3",
                                              "valid_from": "2026-01-01", "tlp_ceiling": "purple"})
    assert r.status_code == 422 and "unknown TLP" in r.text


def test_api_token_shown_once_then_revoked(web, factory):
    csrf = sign_in(web, "vendor")
    r = post(web, "/tokens", csrf, {"name": "feed puller", "expires_days": "30"})
    assert r.status_code == 200
    token = re.search(r'id="issued-token" type="text" readonly value="(cfc_[a-z0-9]{12}_[A-Za-z0-9_-]{43})"',
                      r.text).group(1)
    listing = web.get("/tokens").text
    assert token not in listing and "feed puller" in listing
    prefix = token.split("_")[1]
    with transaction(factory) as s:
        assert tokens.authenticate(s, token).email == "vendor@example.org"
    other = new_client(web)
    other_csrf = sign_in(other, "admin")
    assert post(other, f"/tokens/{prefix}/revoke", other_csrf).status_code == 404  # not the admin's token
    assert post(web, f"/tokens/{prefix}/revoke", csrf).headers["location"] == "/tokens?notice=revoked"
    with transaction(factory) as s:
        assert s.scalars(select(ApiToken.revoked_at)).one() is not None
    assert post(web, "/tokens", csrf, {"expires_days": "soon"}).status_code == 422


def test_audit_log_viewer_for_auditors(web):
    sign_in(web, "vendor")
    web.get("/search", params={"q": "198.51.100.1"})
    auditor = new_client(web)
    sign_in(auditor, "auditor")
    page = auditor.get("/audit", params={"action": "intel.search"})
    assert page.status_code == 200
    assert page.text.count("<code>intel.search</code>") == 1
    assert '"via": "web"' in page.text
    signins = auditor.get("/audit", params={"action": "web.signin"}).text
    assert signins.count("<code>web.signin</code>") == 2
    verify = auditor.get("/audit/verify").text
    assert "<strong>Intact:</strong>" in verify
    assert auditor.get("/audit", params={"since": "yesterday"}).status_code == 422
