"""Role checks on every partners/audit endpoint and problem+json on bad input."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"

# (method, path, body) for every endpoint that needs a role; the body is valid for an allowed caller.
ENDPOINTS = {
    "org.list": ("GET", "/api/v1/organisations", None),
    "org.create": ("POST", "/api/v1/organisations", {"name": "New Unit", "kind": "law_enforcement", "country": "IT"}),
    "org.vet": ("POST", "/api/v1/organisations/{pending}/vetting", {"decision": "approved"}),
    "member.list": ("GET", "/api/v1/members", None),
    "member.create": ("POST", "/api/v1/members", {"email": "new@example.org", "organisation": "Big Bank",
                                                  "roles": ["reader"]}),
    "secondment.list": ("GET", "/api/v1/secondments", None),
    "agreement.list": ("GET", "/api/v1/agreements", None),
    "audit.search": ("GET", "/api/v1/audit", None),
    "audit.verify": ("GET", "/api/v1/audit/verify", None),
    "me": ("GET", "/api/v1/me", None),
}
# caller -> endpoints it may use (everything else must be 403)
ALLOWED = {
    "admin": {"org.list", "org.create", "org.vet", "member.list", "member.create", "secondment.list",
              "agreement.list", "me"},
    "bank_admin": {"org.list", "member.list", "member.create", "agreement.list", "me"},
    "auditor": {"org.list", "audit.search", "audit.verify", "me"},
    "analyst": {"org.list", "me"},
    "bank": {"org.list", "me"},
    "uni": {"org.list", "me"},
}


@pytest.mark.parametrize("caller", sorted(ALLOWED))
def test_role_matrix(client, world, caller):
    token = world.token(caller)
    outcome = {}
    for name, (method, path, body) in ENDPOINTS.items():
        r = client.request(method, path.format(pending=world.orgs["pending"]), json=body,
                           headers={"Authorization": f"Bearer {token}"})
        outcome[name] = r.status_code
    expected = {name: ({"POST": 201}.get(ENDPOINTS[name][0], 200) if name in ALLOWED[caller] else 403)
                for name in ENDPOINTS}
    if "org.vet" in ALLOWED[caller]:
        expected["org.vet"] = 200
    assert outcome == expected


@pytest.mark.parametrize("header,detail", [
    (None, "missing 'Authorization: Bearer <token>' header"),
    ("Bearer not-a-token", "malformed token: expected cfc_<12 hex>_<43 characters>"),
    ("Basic dXNlcjpwYXNz", "missing 'Authorization: Bearer <token>' header"),
    ("Bearer cfc_0123456789ab_" + "x" * 43, "unknown token"),
])
def test_unauthenticated_requests_get_problem_json(client, header, detail):
    r = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.json() == {"type": "https://cyberfusion.invalid/problems/unauthenticated",
                        "title": "Authentication required", "status": 401, "detail": detail,
                        "instance": "/api/v1/me"}


def test_unknown_country_code_is_a_problem_naming_the_field(client, world):
    r = client.post("/api/v1/organisations", json={"name": "X Unit", "kind": "law_enforcement", "country": "XX"},
                    headers={"Authorization": f"Bearer {world.token('admin')}"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["field"] == "country"
    assert body["detail"] == "field 'country': unknown ISO 3166-1 alpha-2 country code: 'XX'"
    assert body["errors"] == [{"field": "country", "reason": "unknown ISO 3166-1 alpha-2 country code: 'XX'"}]


def test_overlapping_secondment_is_a_conflict_problem(client, world):
    r = client.post("/api/v1/secondments", json={"member": "expert@example.org", "seconding_organisation": "Vendor Labs",
                                                 "start_date": "2026-01-01"},
                    headers={"Authorization": f"Bearer {world.token('admin')}"})
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "start_date"
    assert r.json()["detail"].startswith("overlaps secondment ")


def test_schema_errors_name_the_field(client, world):
    r = client.post("/api/v1/organisations", json={"name": "X", "kind": "private"},
                    headers={"Authorization": f"Bearer {world.token('admin')}"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "country"


def test_org_admin_cannot_add_members_elsewhere_or_grant_platform_roles(client, world):
    h = {"Authorization": f"Bearer {world.token('bank_admin')}"}
    r = client.post("/api/v1/members", json={"email": "x@example.org", "organisation": "Vendor Labs",
                                             "roles": ["reader"]}, headers=h)
    assert (r.status_code, r.json()["detail"]) == (403, "an organisation admin adds members to its own organisation only")
    r = client.post("/api/v1/members", json={"email": "x@example.org", "organisation": "Big Bank",
                                             "roles": ["auditor"]}, headers=h)
    assert (r.status_code, r.json()["detail"]) == (403, "only a platform admin grants platform_admin or auditor")


def test_token_lifecycle_over_the_api(client, world):
    h = {"Authorization": f"Bearer {world.token('bank')}"}
    r = client.post("/api/v1/tokens", json={"name": "siem", "expires_days": 30}, headers=h)
    assert r.status_code == 201
    new = r.json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {new}"}).json()["email"] == "bank@example.org"
    assert client.delete(f"/api/v1/tokens/{r.json()['prefix']}", headers=h).status_code == 204
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {new}"})
    assert (r.status_code, r.json()["detail"]) == (401, "token revoked")


def test_lapsed_and_unsigned_experts_are_refused_with_the_reason(client, world):
    for key, detail in (("expert_lapsed", "secondment is outside its term: host-centre access has lapsed"),
                        ("expert_unsigned", "confidentiality acknowledgement required before any access")):
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {world.token(key)}"})
        assert (r.status_code, r.json()["detail"]) == (403, detail)


def test_unsigned_expert_acknowledges_then_gets_access(client, world):
    h = {"Authorization": f"Bearer {world.token('expert_unsigned')}"}
    r = client.post("/api/v1/secondments/current/acknowledge", headers=h)
    assert r.status_code == 200 and r.json()["confidentiality_acknowledged_at"]
    assert client.get("/api/v1/me", headers=h).json()["secondment_id"] == r.json()["id"]


def test_auditor_verifies_the_chain(client, world):
    r = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {world.token('auditor')}"})
    assert r.status_code == 200
    assert r.json()["ok"] is True and r.json()["broken_at"] is None


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    from cyberfusion.db import migration_state
    current, heads = migration_state(client.app.state.engine)
    assert current == heads
    assert client.get("/readyz").json() == {"status": "ready", "schema": heads}


def test_openapi_is_served(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/organisations", "/api/v1/search", "/api/v1/objects/{stix_id}", "/api/v1/contributions"} <= set(paths)
