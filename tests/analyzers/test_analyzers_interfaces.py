"""`cfc analyze`, `cfc analyzer ...` and the analyzers API: parse, call one service, render."""

from __future__ import annotations

import json

from analyzers.analyzer_support import add_ip
from sharing.helpers import indicator
from typer.testing import CliRunner

from cyberfusion.cli import app
from cyberfusion.sharing.handling import HandlingSpec

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [*args, "--format", "json"])


def test_cli_list_analyze_runs_and_configure(world, tmp_path):
    r = cli("analyzer", "list")
    assert r.exit_code == 0, r.stderr
    geoip = next(a for a in json.loads(r.stdout) if a["name"] == "geoip")
    assert (geoip["owner"], geoip["accepts"], geoip["egress"], geoip["enabled"]) == \
        ("host centre", ["ipv4-addr", "ipv6-addr"], False, True)

    add_ip(world, tmp_path, "bank", "8.8.4.4", HandlingSpec(tlp="green"))
    r = cli("analyze", "8.8.4[.]4", "--as", "le_gb@example.org",
            "--purpose", "investigation", "--analyzer", "geoip")
    assert r.exit_code == 0, r.stderr
    [run] = json.loads(r.stdout)
    assert (run["value"], run["status"], run["summary"]) == (
        "8.8.4.4", "done", "8.8.4.4: US (United States), AS GOOGLE (8.8.4.0/24); GeoLite2 2024-06-18")

    r = cli("analyzer", "runs", "--as", "bank@example.org", "--purpose", "investigation")
    assert r.exit_code == 0, r.stderr
    page = json.loads(r.stdout)
    assert [(i["analyzer"], i["status"], i["requested_by_you"]) for i in page["items"]] == [("geoip", "done", False)]
    assert page["items"][0]["result_contribution_id"] is not None  # the bank owns the result

    r = cli("analyzer", "configure", "geoip", "--auto", "ipv4-addr", "--budget", "5")
    assert r.exit_code == 0, r.stderr
    assert (json.loads(r.stdout)["auto_kinds"], json.loads(r.stdout)["budget"]) == (["ipv4-addr"], 5)
    assert json.loads(cli("analyzer", "run-pending").stdout) == {"done": 0, "failed": 0, "refused": 0,
                                                                 "deferred": 0, "run_ids": []}


def test_cli_errors_and_exit_codes(world, tmp_path):
    r = cli("analyze", "8.8.4.4", "--as", "le_gb@example.org", "--purpose", "investigation")
    assert r.exit_code == 1
    assert json.loads(r.stderr)["error"]["status"] == 404
    r = cli("analyze", "not a value", "--as", "le_gb@example.org", "--purpose", "investigation")
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "value")
    r = cli("analyzer", "configure", "geoip", "--auto", "iban")
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "auto_kinds")
    r = cli("analyzer", "runs", "--as", "uni@example.org", "--purpose", "investigation")
    assert (r.exit_code, json.loads(r.stderr)["error"]["status"]) == (1, 403)


def test_api_analyze_object_and_runs(world, client, tmp_path):
    _, ind = add_ip(world, tmp_path, "bank", "9.9.9.9", HandlingSpec(tlp="amber"))
    h = {"Authorization": f"Bearer {world.token('ncb_fr')}"}
    r = client.post(f"/api/v1/objects/{ind}/analyze", params={"purpose": "investigation"}, headers=h)
    assert r.status_code == 200, r.text
    [run] = r.json()["runs"]
    assert (run["analyzer"], run["input"], run["status"], run["summary"]) == (
        "geoip", ind, "done", "9.9.9.9: US (United States), AS QUAD9-AS-1 (9.9.9.0/24); GeoLite2 2024-06-18")
    r = client.get(f"/api/v1/analyzer-runs/{run['id']}", params={"purpose": "investigation"}, headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "done")
    r = client.get("/api/v1/analyzer-runs", params={"purpose": "investigation", "status": "bogus"}, headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "status")
    r = client.post(f"/api/v1/objects/{ind}/analyze", params={"purpose": "investigation", "analyzer": "iban-info"},
                    headers=h)
    assert (r.status_code, r.json()["field"]) == (422, "analyzer")
    r = client.post(f"/api/v1/objects/{ind}/analyze", headers=h)
    assert r.status_code == 422  # every read states its purpose
    # telco's agreement stops at GREEN: the AMBER object does not exist for it
    r = client.post(f"/api/v1/objects/{ind}/analyze", params={"purpose": "investigation"},
                    headers={"Authorization": f"Bearer {world.token('telco')}"})
    assert r.status_code == 404
    r = client.get(f"/api/v1/analyzer-runs/{run['id']}", params={"purpose": "investigation"},
                   headers={"Authorization": f"Bearer {world.token('telco')}"})
    assert r.status_code == 404


def test_api_analyze_without_waiting_queues_a_job(world, client, tmp_path):
    from cyberfusion.jobs.models import Job
    from cyberfusion.jobs.service import work

    _, ind = add_ip(world, tmp_path, "bank", "1.1.1.1", HandlingSpec(tlp="amber"))
    h = {"Authorization": f"Bearer {world.token('ncb_fr')}"}
    r = client.post(f"/api/v1/objects/{ind}/analyze", params={"purpose": "investigation", "wait": "false"},
                    headers=h)
    assert r.status_code == 200, r.text
    [run] = r.json()["runs"]
    assert (run["analyzer"], run["status"], run["summary"]) == ("geoip", "queued", None)
    with world.factory() as s:
        assert [(j.kind, j.payload) for j in s.query(Job).filter(Job.kind == "analyzers.run")] == [
            ("analyzers.run", {"ids": [run["id"]]})]
    assert work(world.factory, once=True, idle_sleep=0, kinds=["analyzers.run"]) == 1
    r = client.get(f"/api/v1/analyzer-runs/{run['id']}", params={"purpose": "investigation"}, headers=h)
    assert (r.json()["status"], r.json()["summary"]) == (
        "done", "1.1.1.1: AU (Australia), AS CLOUDFLARENET (1.1.1.0/24); GeoLite2 2024-06-18")
    assert r.json()["duration_ms"] >= 0


def test_api_configuration_is_for_platform_admins(world, client):
    body = {"auto_kinds": ["domain-name"], "budget": 10}
    r = client.put("/api/v1/analyzers/domain-parts", json=body,
                   headers={"Authorization": f"Bearer {world.token('analyst')}"})
    assert r.status_code == 403
    admin = {"Authorization": f"Bearer {world.token('admin')}"}
    r = client.put("/api/v1/analyzers/domain-parts", json=body, headers=admin)
    assert (r.status_code, r.json()["auto_kinds"], r.json()["budget"]) == (200, ["domain-name"], 10)
    r = client.put("/api/v1/analyzers/domain-parts", json={"budget": 0}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "budget")
    listed = {a["name"]: a for a in client.get("/api/v1/analyzers", headers=admin).json()}
    assert listed["domain-parts"]["auto_kinds"] == ["domain-name"]
    r = client.post("/api/v1/analyzer-runs/run-pending", headers=admin)
    assert (r.status_code, r.json()["done"]) == (200, 0)


def test_api_object_without_observables(world, client, tmp_path):
    from sharing.helpers import contribute
    actor = {"type": "threat-actor", "spec_version": "2.1", "id": "threat-actor--" + "e" * 8 + "-eeee-4eee-8eee-" + "e" * 12,
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "Nobody"}
    contribute(world, tmp_path, "bank", [actor, indicator("ipv4-addr", "9.9.9.8")], HandlingSpec(tlp="green"))
    r = client.post(f"/api/v1/objects/{actor['id']}/analyze", params={"purpose": "investigation"},
                    headers={"Authorization": f"Bearer {world.token('le_gb')}"})
    assert (r.status_code, r.json()["field"]) == (422, "stix_id")
