"""Projects, deliverables, links, and a person's whole load beside the secondment scope."""

from __future__ import annotations

from datetime import date

import pytest
from sharing.helpers import contribute, indicator
from tasking.tasking_support import NOW, act, file, headers, to_assigned

from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.partners.models import Secondment
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.tasking.projects import service as projects
from cyberfusion.tasking.rfi import service as rfis


@pytest.fixture
def project(world):
    p = act(world, "analyst", projects.create_project, name="Operation Tidewater", kind="operation",
            objective="Dismantle the BEC ring", countries=["NG", "GB"], start_date=date(2026, 11, 1))
    act(world, "analyst", projects.add_member, project_id=p.id, member="expert@example.org",
        tasks="Trace mule accounts")
    act(world, "analyst", projects.add_organisation, project_id=p.id, organisation="Cyber Unit GB")
    return p.id


def test_project_members_organisations_and_deliverables(world, project):
    d = act(world, "analyst", projects.add_deliverable, project_id=project, title="Target package",
            due_date=date(2026, 12, 15), owner="expert@example.org")
    act(world, "analyst", projects.add_deliverable, project_id=project, title="Action day", due_date=date(2027, 1, 20))
    act(world, "expert", projects.update_deliverable, deliverable_id=d.id, status="in_progress")
    out = act(world, "le_gb", projects.get_project, project_id=project)  # a participating organisation
    assert (out["name"], out["kind"], out["countries"]) == ("Operation Tidewater", "operation", ["GB", "NG"])
    assert [(m["email"], m["role"], m["tasks"]) for m in out["members"]] == [
        ("analyst@example.org", "lead", ""), ("expert@example.org", "member", "Trace mule accounts")]
    assert [o["name"] for o in out["organisations"]] == ["Cyber Unit GB"]
    assert [(x["title"], x["status"]) for x in out["deliverables"]] == [("Target package", "in_progress"),
                                                                       ("Action day", "planned")]
    for outsider in ("vendor", "ncb_fr"):
        with pytest.raises(NotFound):
            act(world, outsider, projects.get_project, project_id=project)
    with pytest.raises(Forbidden, match="only the lead of project"):
        act(world, "expert", projects.add_member, project_id=project, member="le_gb@example.org")
    with pytest.raises(InvalidInput) as e:
        act(world, "analyst", projects.add_deliverable, project_id=project, title="x", due_date=date(2027, 1, 1),
            owner="le_gb@example.org")
    assert e.value.field == "owner"


def test_linked_intelligence_and_rfis_show_each_reader_only_what_it_may_see(world, project, tmp_path):
    clear, strict = indicator("ipv4-addr", "10.2.0.1"), indicator("ipv4-addr", "10.2.0.2")
    contribute(world, tmp_path, "vendor", [clear], HandlingSpec(tlp="clear"))
    contribute(world, tmp_path, "ncb_fr", [strict], HandlingSpec(tlp="amber+strict"))
    for obj in (clear, strict):
        act(world, "analyst", projects.link_object, project_id=project, stix_id=obj["id"], purpose="investigation")
    red_rfi = file(world, "analyst", tlp="red")
    act(world, "analyst", projects.link_rfi, project_id=project, rfi_id=red_rfi)
    host = act(world, "analyst", projects.get_project, project_id=project, purpose="investigation")
    gb = act(world, "le_gb", projects.get_project, project_id=project, purpose="investigation")
    assert {o["id"] for o in host["intelligence"]} == {clear["id"], strict["id"]}
    assert [o["id"] for o in gb["intelligence"]] == [clear["id"]]
    assert ([r["id"] for r in host["rfis"]], gb["rfis"]) == ([red_rfi], [])
    assert act(world, "le_gb", projects.get_project, project_id=project)["intelligence"] == []  # no purpose given
    with pytest.raises(Forbidden, match="only members of project"):
        act(world, "le_gb", projects.link_object, project_id=project, stix_id=clear["id"], purpose="investigation")


def test_workload_shows_the_secondment_scope_beside_tasks_and_rfis(client, world, project):
    with transaction(world.factory) as s:
        sec = s.query(Secondment).filter_by(member_id=world.members["expert"]).one()
        sec.scope = "Financial fraud and BEC analysis"
    act(world, "analyst", projects.add_deliverable, project_id=project, title="Target package",
        due_date=date(2026, 12, 15), owner="expert@example.org")
    rid = file(world, "bank", priority="urgent")
    to_assigned(world, rid, member="expert@example.org")
    red = file(world, "le_gb", tlp="red")
    to_assigned(world, red, member="expert@example.org")
    load = act(world, "analyst", projects.workload, member_id=world.members["expert"], now=NOW)  # the lead
    assert load["secondment"]["scope"] == "Financial fraud and BEC analysis"
    assert load["secondment"]["seconding_organisation"] == "Big Bank"
    assert [(p["name"], p["role"], p["tasks"]) for p in load["projects"]] == [
        ("Operation Tidewater", "member", "Trace mule accounts")]
    assert [d["title"] for d in load["deliverables"]] == ["Target package"]
    assert [r["id"] for r in load["rfis"]] == [rid, red]
    assert (load["other_projects"], load["other_rfis"]) == (0, 0)
    own = act(world, "expert", projects.workload, member_id=world.members["expert"], now=NOW)
    assert [r["id"] for r in own["rfis"]] == [rid, red]
    with pytest.raises(Forbidden, match="visible to the person and to the leads of their projects"):
        act(world, "le_gb", projects.workload, member_id=world.members["expert"])
    # A lead sees load hidden from it as counts only.
    p2 = act(world, "analyst", projects.create_project, name="Quiet case", objective="z", lead="expert@example.org")
    assert p2.lead_member_id == world.members["expert"]
    act(world, "expert", projects.add_member, project_id=p2.id, member="analyst@example.org")
    staff_rfi = file(world, "bank", staff_only=True)
    to_assigned(world, staff_rfi, member="analyst@example.org")
    load = act(world, "expert", projects.workload, member_id=world.members["analyst"], now=NOW)
    assert ([r["id"] for r in load["rfis"]], load["other_rfis"]) == ([], 1)
    assert sorted(p["name"] for p in load["projects"]) == ["Operation Tidewater", "Quiet case"]
    # The same over the API.
    r = client.get("/api/v1/projects", headers=headers(world, "le_gb"))
    assert [p["name"] for p in r.json()] == ["Operation Tidewater"]
    assert client.get("/api/v1/projects", headers=headers(world, "vendor")).json() == []
    r = client.get("/api/v1/workload/me", headers=headers(world, "expert"))
    assert r.status_code == 200 and r.json()["projects"][0]["tasks"] == "Trace mule accounts"
    r = client.post(f"/api/v1/projects/{project}/deliverables", headers=headers(world, "analyst"),
                    json={"title": "x", "due_date": "not a date"})
    assert (r.status_code, r.json()["field"]) == (422, "due_date")
    rid = file(world, "analyst")
    act(world, "analyst", rfis.triage, rfi_id=rid)
    r = client.post(f"/api/v1/projects/{project}/rfis", headers=headers(world, "expert"), json={"rfi_id": rid})
    assert r.status_code == 201
