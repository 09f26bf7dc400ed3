"""Authorisation by organisation: one organisation's ids used by another (IDOR attempts).

Each attempt must fail with 403/404, say nothing of the target (no title, value or owner in
the answer), answer the same as for an id that does not exist, and change nothing.
"""

from __future__ import annotations

import re

from fusion.fusion_helpers import give, indicator
from tasking.tasking_support import file as file_rfi

MISSING_STIX = "indicator--00000000-0000-4000-8000-000000000000"
DENIED = (403, 404)


def _h(world, key):
    cache = world.__dict__.setdefault("_idor_tokens", {})
    if key not in cache:
        cache[key] = world.token(key)
    return {"Authorization": f"Bearer {cache[key]}"}


def _same_as_missing(attempt, missing, *secrets: str, ids: tuple[str, str] = ("", "")) -> None:
    """The attempt is refused exactly like a request for an id that does not exist."""
    assert attempt.status_code in DENIED, attempt.text
    assert attempt.status_code == missing.status_code
    body, other = attempt.json(), missing.json()
    normalise = (lambda text: text.replace(ids[0], "<id>").replace(ids[1], "<id>")) if ids[0] else (lambda t: t)
    assert re.sub(r"\d+", "N", normalise(str(body.get("detail")))) == re.sub(r"\d+", "N", normalise(str(other.get("detail"))))
    for secret in secrets:
        assert secret not in attempt.text


def test_restricted_object_of_another_organisation(client, world, tmp_path):
    secret = indicator("domain-name", "only-for-fr.example.net")
    give(world, tmp_path, "ncb_fr", [secret], tlp="red", recipients=("le_gb",))
    sid = secret["id"]
    params = {"purpose": "investigation"}
    assert client.get(f"/api/v1/objects/{sid}", params=params, headers=_h(world, "ncb_fr")).status_code == 200
    for path in ("/api/v1/objects/{}", "/api/v1/objects/{}/related"):
        attempt = client.get(path.format(sid), params=params, headers=_h(world, "bank"))
        missing = client.get(path.format(MISSING_STIX), params=params, headers=_h(world, "bank"))
        _same_as_missing(attempt, missing, "only-for-fr", "NCB France", ids=(sid, MISSING_STIX))
    attempt = client.post(f"/api/v1/objects/{sid}/analyze", params=params, json={}, headers=_h(world, "bank"))
    assert attempt.status_code in DENIED and "only-for-fr" not in attempt.text
    search = client.get("/api/v1/search", params={**params, "q": "only-for-fr.example.net"}, headers=_h(world, "bank"))
    assert search.status_code == 200 and search.json()["items"] == []


def test_api_token_of_another_member(client, world):
    issued = client.post("/api/v1/tokens", json={"name": "fr-feed"}, headers=_h(world, "ncb_fr")).json()
    attempt = client.delete(f"/api/v1/tokens/{issued['prefix']}", headers=_h(world, "bank"))
    missing = client.delete("/api/v1/tokens/0123456789ab", headers=_h(world, "bank"))
    _same_as_missing(attempt, missing, ids=(issued["prefix"], "0123456789ab"))
    assert attempt.status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {issued['token']}"}).status_code == 200


def test_rfi_of_another_organisation(client, world):
    rfi_id = file_rfi(world, "ncb_fr", title="Who runs bulletproof host Zeta?")
    assert client.get(f"/api/v1/rfis/{rfi_id}", headers=_h(world, "ncb_fr")).status_code == 200
    for method, path, body in (("GET", "/api/v1/rfis/{}", None), ("POST", "/api/v1/rfis/{}/withdraw", {}),
                               ("GET", "/api/v1/rfis/{}/report", None)):
        attempt = client.request(method, path.format(rfi_id), json=body, headers=_h(world, "bank"))
        missing = client.request(method, path.format(rfi_id + 1000), json=body, headers=_h(world, "bank"))
        _same_as_missing(attempt, missing, "Zeta")
    after = client.get(f"/api/v1/rfis/{rfi_id}", headers=_h(world, "ncb_fr")).json()
    assert after["state"] != "withdrawn"


def test_watchlist_and_alerts_of_another_member(client, world, tmp_path):
    created = client.post("/api/v1/watchlists", headers=_h(world, "analyst"), json={
        "name": "secret-infra", "purpose": "investigation", "items": [{"type": "cidr", "value": "203.0.113.0/24"}]})
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    item_id = created.json()["items"][0]["id"]
    for method, path, body in (("GET", "/api/v1/watchlists/{}", None), ("DELETE", "/api/v1/watchlists/{}", None),
                               ("POST", "/api/v1/watchlists/{}/items", {"type": "value", "value": "198.51.100.1"}),
                               ("DELETE", "/api/v1/watchlists/{}/items/" + str(item_id), None)):
        attempt = client.request(method, path.format(wid), json=body, headers=_h(world, "bank"))
        missing = client.request(method, path.format(wid + 1000), json=body, headers=_h(world, "bank"))
        _same_as_missing(attempt, missing, "secret-infra")
    mine = client.get(f"/api/v1/watchlists/{wid}", headers=_h(world, "analyst")).json()
    assert [i["value"] for i in mine["items"]] == ["203.0.113.0/24"]

    give(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.44")])
    inbox = client.get("/api/v1/alerts", params={"purpose": "investigation"}, headers=_h(world, "analyst")).json()
    assert len(inbox) == 1
    stolen = client.post("/api/v1/alerts/read", json={"ids": [inbox[0]["id"]]}, headers=_h(world, "bank"))
    assert stolen.json() == {"marked": 0}
    assert client.get("/api/v1/alerts", params={"purpose": "investigation"}, headers=_h(world, "bank")).json() == []
    unread = client.get("/api/v1/alerts", params={"purpose": "investigation", "unread": True},
                        headers=_h(world, "analyst")).json()
    assert [a["id"] for a in unread] == [inbox[0]["id"]]


def test_lookup_notification_of_another_organisation(client, world, tmp_path):
    give(world, tmp_path, "bank", [indicator("domain-name", "evil-bank.example.com")], tlp="amber", hit_reveal=False)
    asked = client.post("/api/v1/lookup", headers=_h(world, "vendor"),
                        json={"purpose": "investigation", "values": ["evil-bank.example.com"]})
    assert asked.status_code == 200, asked.text
    inbox = client.get("/api/v1/hits/inbox", headers=_h(world, "bank")).json()
    ref = inbox[0]["reference"]
    for other in ("telco", "vendor"):
        attempt = client.post(f"/api/v1/hits/{ref}/answer", json={"decision": "share"}, headers=_h(world, other))
        missing = client.post("/api/v1/hits/nope-0000/answer", json={"decision": "share"}, headers=_h(world, other))
        assert attempt.status_code in DENIED and attempt.status_code == missing.status_code
        assert "evil-bank" not in attempt.text
        assert client.get("/api/v1/hits/inbox", headers=_h(world, other)).json() == []
    still = client.get("/api/v1/hits/inbox", headers=_h(world, "bank")).json()
    assert [(n["reference"], n["status"]) for n in still] == [(ref, inbox[0]["status"])]


def test_country_report_of_another_country(client, world, tmp_path):
    from products import products_fixture as fx
    fx.build(world, tmp_path)
    r = client.post("/api/v1/reports/country", json={"period": "2026-10", "countries": ["FR"], "formats": ["html"]},
                    headers=_h(world, "analyst"))
    rid = r.json()["reports"][0]["report_id"]
    assert client.post(f"/api/v1/reports/{rid}/send", headers=_h(world, "analyst")).status_code == 200
    for who in ("ncb_ru", "bank", "uni"):
        for path in ("/api/v1/reports/{}", "/api/v1/reports/{}/download?format=html"):
            attempt = client.get(path.format(rid), headers=_h(world, who))
            assert attempt.status_code in DENIED and "62.4.1.1" not in attempt.text and "Emotet" not in attempt.text
        assert client.post(f"/api/v1/reports/{rid}/send", headers=_h(world, who)).status_code in DENIED
        listed = client.get("/api/v1/reports", headers=_h(world, who))
        assert listed.status_code in (200, 403) and rid not in listed.text
