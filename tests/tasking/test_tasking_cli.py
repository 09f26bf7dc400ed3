"""`cfc rfi`, `project`, `activity`, `group`, `review` and `inbox` as members of the world."""

from __future__ import annotations

import json

from tasking.tasking_support import act, to_assigned
from typer.testing import CliRunner

from cyberfusion.cli import app
from cyberfusion.db import transaction
from cyberfusion.tasking.groups import service as groups
from cyberfusion.tasking.reviews import service as reviews
from cyberfusion.tasking.rfi import service as rfis

runner = CliRunner()


def cfc(*args):
    return runner.invoke(app, [*args, "--format", "json"])


def ok(*args):
    r = cfc(*args)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_rfi_workflow_and_queue_on_the_command_line(world):
    fr = ["--as", "ncb_fr@example.org"]
    an = ["--as", "analyst@example.org"]
    routine = ok("rfi", "file", "--title", "Mule accounts", "--question", "Who controls them?", "--priority",
                 "routine", "--value", "GB33BUKB20201555555555", "--country", "GB", *fr)["id"]
    urgent = ok("rfi", "file", "--title", "Ransom note", "--question", "Which family?", "--priority", "urgent", *fr)["id"]
    to_assigned(world, routine)
    assert ok("rfi", "triage", str(urgent), *an)["state"] == "triaged"
    assert ok("rfi", "assign", str(urgent), "--member", "analyst@example.org", *an)["state"] == "assigned"
    queue = ok("rfi", "queue", *an)
    assert ([i["id"] for i in queue["items"]], queue["next"]) == ([urgent, routine], None)
    # An invalid transition: exit 1, the problem as JSON on stderr, nothing on stdout.
    r = cfc("rfi", "close", str(urgent), *fr)
    assert (r.exit_code, r.stdout) == (1, "")
    err = json.loads(r.stderr)["error"]
    assert (err["status"], err["field"], err["detail"]) == (
        409, "state", f"RFI {urgent} is 'assigned': it cannot become 'closed' (allowed next: assigned, in_progress, "
                      "withdrawn)")
    # Bad input: exit 2 naming the field.
    r = cfc("rfi", "file", "--title", "t", "--question", "q", "--priority", "asap", *fr)
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "priority")
    act(world, "analyst", rfis.start, rfi_id=urgent)
    ok("rfi", "answer", str(urgent), "--text", "LockBit 3.0", *an)
    assert ok("rfi", "show", str(urgent), *fr)["answer"]["text"] == "LockBit 3.0"
    assert ok("rfi", "check-sla") == {"breached": []}
    assert [n["kind"] for n in ok("inbox", *fr)] == ["rfi.answered"]


def test_collaboration_on_the_command_line(world, tmp_path):
    ok("project", "create", "Op Tide", "--objective", "dismantle", "--country", "NG", "--as", "analyst@example.org")
    assert ok("project", "workload", "--as", "analyst@example.org")["projects"][0]["role"] == "lead"
    ok("activity", "register", "Kraken", "--kind", "investigation", "--target", "actor=Kraken Crew",
       "--target", "198.51.100.5", "--as", "ncb_fr@example.org")
    gb = ok("activity", "register", "Kraken too", "--kind", "takedown", "--target", "actor=kraken crew",
            "--as", "le_gb@example.org")
    assert gb["overlaps"][0]["counterpart"].startswith("an activity of NCB France (TLP:AMBER)")
    with transaction(world.factory) as s:
        groups.seed_groups(s)
    ok("group", "add-member", groups.EXPERT_GROUP, "bank@example.org", "--as", "admin@example.org")
    r = cfc("group", "members", groups.EXPERT_GROUP, "--as", "vendor@example.org")
    assert (r.exit_code, json.loads(r.stderr)["error"]["status"]) == (1, 403)
    assert [m["email"] for m in ok("group", "members", groups.EXPERT_GROUP, "--as", "bank@example.org")] == \
        ["bank@example.org"]
    review = ok("review", "request", "--as", "ncb_fr@example.org")["id"]
    act(world, "admin", reviews.assign_reviewer, review_id=review, member="le_gb@example.org")
    ok("review", "score", str(review), "training", "2", "--gaps", "no judges trained", "--as", "le_gb@example.org")
    out = tmp_path / "review.html"
    assert ok("review", "report", str(review), "-o", str(out), "--as", "ncb_fr@example.org")["file"] == str(out)
    assert "no judges trained" in out.read_text()
