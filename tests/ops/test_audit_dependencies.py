"""scripts/audit_dependencies.py: pip-audit's JSON report read into pass / vulnerable / skipped,
and a run that could audit nothing reported as skipped, never as passed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"
_spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["audit_dependencies"] = audit  # dataclasses look their module up there
_spec.loader.exec_module(audit)  # type: ignore[union-attr]

# The shape of `pip-audit --format json` (pip-audit 2.x).
REPORT = {"dependencies": [
    {"name": "jinja2", "version": "3.1.2", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"],
         "description": "xmlattr filter allows keys with spaces"}]},
    {"name": "fastapi", "version": "0.165.0", "vulns": []},
    {"name": "torch", "skip_reason": "Dependency not found on PyPI and could not be audited: torch (2.13.0+cpu)"},
], "fixes": []}


def test_a_vulnerable_package_fails_the_audit_with_its_advisory_and_fix():
    outcome = audit.read_report(REPORT)
    assert (outcome.status, outcome.audited) == ("vulnerable", 2)
    assert outcome.vulnerable == [{"name": "jinja2", "version": "3.1.2", "id": "GHSA-h5c8-rqwp-cp95",
                                   "aliases": ["CVE-2024-22195"], "fix_versions": ["3.1.3"]}]
    assert audit.render(outcome).splitlines() == [
        "1 known vulnerabilities in 2 audited packages:",
        "  jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195); fixed in 3.1.3"]


def test_no_vulnerability_passes_and_names_what_could_not_be_audited():
    report = {"dependencies": REPORT["dependencies"][1:]}
    outcome = audit.read_report(report)
    assert (outcome.status, outcome.audited) == ("ok", 1)
    assert audit.render(outcome) == ("dependency audit: 1 packages audited, no known vulnerabilities; "
                                     "not audited (unknown to the service): torch")


def test_nothing_audited_is_skipped_not_passed():
    report = {"dependencies": [{"name": n, "skip_reason": f"Dependency not found on PyPI: {n}"} for n in ("a", "b")]}
    outcome = audit.read_report(report)
    assert outcome.status == "skipped"
    assert audit.render(outcome).startswith("SKIPPED: dependency audit: the advisory database could not be used")
    assert audit.read_report({"dependencies": []}).status == "skipped"


@pytest.mark.parametrize("outcome,code", [("vulnerable", 1), ("ok", 0), ("skipped", 0)])
def test_exit_status_and_json_output(monkeypatch, capsys, outcome, code):
    reports = {"vulnerable": REPORT, "ok": {"dependencies": REPORT["dependencies"][1:2]},
               "skipped": {"dependencies": REPORT["dependencies"][2:]}}
    monkeypatch.setattr(audit, "run_pip_audit", lambda service: audit.read_report(reports[outcome]))
    assert audit.main(["--format", "json"]) == code
    assert json.loads(capsys.readouterr().out)["status"] == outcome


def test_pip_audit_that_cannot_run_is_a_skip_with_its_reason(monkeypatch):
    """A real run with an auditor that cannot report (here: a module name that does not exist)."""
    import subprocess

    real_run = subprocess.run

    def run(cmd, **kwargs):  # type: ignore[no-untyped-def]
        if cmd[:3] == [sys.executable, "-m", "pip_audit"]:
            cmd = [sys.executable, "-m", "cfc_no_such_auditor", *cmd[3:]]
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(audit.subprocess, "run", run)
    outcome = audit.run_pip_audit("pypi")
    assert outcome.status == "skipped"
    assert "No module named cfc_no_such_auditor" in outcome.failure
