"""Role checks on every tasking endpoint (a role matrix), and problem+json on bad input."""

from __future__ import annotations

from tasking.tasking_support import act, file, headers, to_assigned

from cyberfusion.db import transaction
from cyberfusion.tasking.groups import repository as groups_repo
from cyberfusion.tasking.groups import service as groups
from cyberfusion.tasking.projects import service as projects
from cyberfusion.tasking.reviews import service as reviews
from cyberfusion.tasking.rfi import service as rfis

PROBLEM = "application/problem+json"


def _shared(world):
    """What every caller's requests refer to: a project, a group the analyst belongs to, a review."""
    ids = {"project": act(world, "analyst", projects.create_project, name="Op Tide", objective="dismantle").id}
    with transaction(world.factory) as s:
        groups.seed_groups(s)
        ids["group"] = groups_repo.group_by_name(s, groups.EXPERT_GROUP).id
    act(world, "admin", groups.add_member, group_id=ids["group"], member="analyst@example.org")
    ids["review"] = act(world, "le_gb", reviews.request_review).id
    return ids


def _rfis(world):
    """One caller's RFIs in the states the workflow endpoints need (TLP:CLEAR: every caller sees them)."""
    ids = {k: file(world, tlp="clear") for k in ("new", "new2", "triaged", "assigned", "answered")}
    act(world, "analyst", rfis.triage, rfi_id=ids["triaged"])
    to_assigned(world, ids["assigned"])
    to_assigned(world, ids["answered"])
    act(world, "analyst", rfis.start, rfi_id=ids["answered"])
    act(world, "analyst", rfis.answer, rfi_id=ids["answered"], text="done")
    return ids


# (method, path, body); paths use the ids from _setup.
ENDPOINTS = {
    "rfi.file": ("POST", "/api/v1/rfis", {"title": "t", "question": "q"}),
    "rfi.list": ("GET", "/api/v1/rfis", None),
    "rfi.queue": ("GET", "/api/v1/rfis?assigned=me", None),
    "rfi.read": ("GET", "/api/v1/rfis/{new}", None),
    "rfi.overdue": ("GET", "/api/v1/rfis/overdue", None),
    "rfi.check_sla": ("POST", "/api/v1/rfis/check-sla", None),
    "rfi.triage": ("POST", "/api/v1/rfis/{new}/triage", {"priority": "urgent"}),
    "rfi.reject": ("POST", "/api/v1/rfis/{new2}/reject", {"reason": "out of scope"}),
    "rfi.assign": ("POST", "/api/v1/rfis/{triaged}/assign", {"member": "analyst@example.org"}),
    "rfi.start": ("POST", "/api/v1/rfis/{assigned}/start", {}),
    "rfi.release": ("POST", "/api/v1/rfis/{answered}/release", None),
    "team.create": ("POST", "/api/v1/teams", {"name": "Desk of {caller}"}),
    "team.list": ("GET", "/api/v1/teams", None),
    "project.create": ("POST", "/api/v1/projects", {"name": "Op", "objective": "o"}),
    "project.list": ("GET", "/api/v1/projects", None),
    "project.member": ("POST", "/api/v1/projects/{project}/members", {"member": "expert@example.org"}),
    "workload.me": ("GET", "/api/v1/workload/me", None),
    "activity.register": ("POST", "/api/v1/activities", {"title": "a", "kind": "investigation",
                                                         "targets": ["198.51.100.7"]}),
    "activity.list": ("GET", "/api/v1/activities", None),
    "group.list": ("GET", "/api/v1/groups", None),
    "group.create": ("POST", "/api/v1/groups", {"name": "Taskforce of {caller}"}),
    "group.members": ("GET", "/api/v1/groups/{group}/members", None),
    "group.post": ("POST", "/api/v1/groups/{group}/posts", {"kind": "note", "title": "t", "body": "b"}),
    "review.request": ("POST", "/api/v1/reviews", None),
    "review.list": ("GET", "/api/v1/reviews", None),
    "review.assign": ("POST", "/api/v1/reviews/{review}/reviewers", {"member": "ncb_fr@example.org"}),
    "notifications": ("GET", "/api/v1/tasking/notifications", None),
}
EVERYONE = {"rfi.list", "rfi.queue", "rfi.read", "project.list", "workload.me", "activity.list", "group.list",
            "review.list", "notifications"}
HOST_ANALYST = {"rfi.overdue", "rfi.check_sla", "rfi.triage", "rfi.reject", "rfi.assign", "rfi.release",
                "team.create", "team.list", "project.create", "group.create"}
FILERS = {"rfi.file", "activity.register"}
ALLOWED = {
    "analyst": EVERYONE | HOST_ANALYST | FILERS | {"rfi.start", "project.member", "group.members", "group.post"},
    "expert": EVERYONE | HOST_ANALYST | FILERS,
    "admin": EVERYONE | {"rfi.check_sla", "group.create", "review.assign"},
    "auditor": EVERYONE,
    "ncb_fr": EVERYONE | FILERS | {"review.request"},
    "le_gb": EVERYONE | FILERS,  # its country's review is already requested (409), see below
    "bank": EVERYONE | FILERS,
    "bank_admin": EVERYONE,
    "vendor": EVERYONE | FILERS,
    "uni": EVERYONE,
}
NO_CONTENT_CREATED = {"rfi.check_sla", "rfi.triage", "rfi.reject", "rfi.assign", "rfi.start", "rfi.release"}
# Refused for another reason than the role: a project one may not see does not exist (404); the
# country's review is already requested (409).
OTHER = {("le_gb", "review.request"): 409} | {
    (caller, "project.member"): 404 for caller in ("admin", "auditor", "ncb_fr", "le_gb", "bank", "bank_admin",
                                                   "vendor", "uni")}


def test_role_matrix(client, world):
    shared = _shared(world)
    outcome, expected = {}, {}
    for caller in ALLOWED:
        ids = shared | _rfis(world) | {"caller": caller}
        h = headers(world, caller)
        outcome[caller], expected[caller] = {}, {}
        for name, (method, path, body) in ENDPOINTS.items():
            if body:
                body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
            outcome[caller][name] = client.request(method, path.format(**ids), json=body, headers=h).status_code
            ok = 201 if method == "POST" and name not in NO_CONTENT_CREATED else 200
            expected[caller][name] = OTHER.get((caller, name), ok if name in ALLOWED[caller] else 403)
    assert outcome == expected


def test_assigned_me_is_the_members_queue_over_the_api(client, world):
    rid = file(world, priority="urgent")
    to_assigned(world, rid)
    other = file(world, priority="immediate")
    r = client.get("/api/v1/rfis", params={"assigned": "me"}, headers=headers(world, "analyst"))
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [rid]
    r = client.get("/api/v1/rfis", headers=headers(world, "analyst"))
    assert [i["id"] for i in r.json()["items"]] == [other, rid]  # immediate before urgent


def test_invalid_transition_is_a_409_problem_naming_the_state(client, world):
    rid = file(world)
    r = client.post(f"/api/v1/rfis/{rid}/close", json={}, headers=headers(world, "ncb_fr"))
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert r.json() == {"type": "https://cyberfusion.invalid/problems/conflict", "title": "Conflict", "status": 409,
                        "detail": f"RFI {rid} is 'new': it cannot become 'closed' "
                                  "(allowed next: triaged, rejected, withdrawn)",
                        "field": "state", "state": "new", "allowed": ["triaged", "rejected", "withdrawn"],
                        "instance": f"/api/v1/rfis/{rid}/close"}


def test_bad_rfi_input_is_a_422_problem_naming_the_field(client, world):
    for body, field in (({"title": "t", "question": "q", "priority": "asap"}, "priority"),
                        ({"title": "t", "question": "q", "countries": ["XX"]}, "countries"),
                        ({"title": "t"}, "question"),
                        ({"title": "t", "question": "q", "related_values": ["plainword"]}, "related_values.0")):
        r = client.post("/api/v1/rfis", json=body, headers=headers(world, "ncb_fr"))
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        assert r.json()["field"] == field
    r = client.get("/api/v1/rfis", params={"assigned": "someone"}, headers=headers(world, "analyst"))
    assert (r.status_code, r.json()["field"], r.json()["detail"]) == (422, "assigned",
                                                                     "field 'assigned': only 'me' is supported")
