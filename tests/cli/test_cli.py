"""The scriptable contract of `cfc`: JSON output, exit codes, idempotent set-up."""

from __future__ import annotations

import json

from sqlalchemy import update
from typer.testing import CliRunner

from cyberfusion.audit.models import AuditEntry
from cyberfusion.cli import app
from cyberfusion.db import transaction

runner = CliRunner()


def cfc(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_init_is_safe_to_repeat(engine):
    first = cfc("init", "--format", "json")
    second = cfc("init", "--format", "json")
    assert first.exit_code == second.exit_code == 0
    assert json.loads(first.stdout)["host_centre"] == json.loads(second.stdout)["host_centre"] == "Cyber Fusion Centre"
    orgs = json.loads(cfc("org", "list", "--format", "json").stdout)
    assert [o["kind"] for o in orgs] == ["host_centre"]


def test_org_member_token_flow_with_json_output(engine):
    cfc("init")
    r = cfc("org", "add", "Bank of Tests", "--kind", "private", "--sector", "financial", "--country", "ch",
            "--format", "json")
    assert r.exit_code == 0
    org = json.loads(r.stdout)
    assert (org["country"], org["region"], org["vetting"]) == ("CH", "Europe", "pending")
    r = cfc("org", "vet", "Bank of Tests", "--decision", "approved", "--reviewer", "dd@host.example",
            "--format", "json")
    assert json.loads(r.stdout)["vetting"] == "approved"
    r = cfc("member", "add", "ana@bank.example", "--org", "Bank of Tests", "--roles", "contributor,reader",
            "--format", "json")
    assert json.loads(r.stdout)["roles"] == ["contributor", "reader"]
    r = cfc("token", "create", "--member", "ana@bank.example", "--expires-days", "7", "--format", "json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["token"].startswith("cfc_") and out["member"] == "ana@bank.example"
    r = cfc("token", "revoke", out["prefix"], "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["revoked_at"]


def test_bad_input_exits_2_with_a_json_error(engine):
    cfc("init")
    r = cfc("org", "add", "Nowhere", "--kind", "law_enforcement", "--country", "XX", "--format", "json")
    assert r.exit_code == 2
    assert r.stdout == ""
    err = json.loads(r.stderr)["error"]
    assert (err["status"], err["field"]) == (422, "country")


def test_bad_input_in_text_mode_is_one_readable_line(engine):
    cfc("init")
    r = cfc("org", "add", "Nowhere", "--kind", "spies", "--country", "FR")
    assert r.exit_code == 2
    assert "error: field 'kind': 'spies' is not one of: law_enforcement" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_unknown_member_exits_1(engine):
    cfc("init")
    r = cfc("token", "create", "--member", "nobody@example.org", "--format", "json")
    assert r.exit_code == 1
    assert json.loads(r.stderr)["error"]["detail"] == "no member 'nobody@example.org'"


def test_secondment_and_agreement_commands(engine):
    cfc("init")
    cfc("org", "add", "Vendor", "--kind", "private", "--sector", "internet_security", "--country", "FI")
    cfc("member", "add", "expert@host.example", "--org", "Cyber Fusion Centre", "--roles", "analyst")
    r = cfc("secondment", "add", "--member", "expert@host.example", "--seconding-org", "Vendor",
            "--start", "2026-01-01", "--format", "json")
    assert json.loads(r.stdout)["end_date"] == "2027-01-01"
    r = cfc("secondment", "add", "--member", "expert@host.example", "--seconding-org", "Vendor",
            "--start", "2026-06-01", "--format", "json")
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 409
    r = cfc("agreement", "add", "--org", "Vendor", "--reference", "DSA-1", "--valid-from", "2026-01-01",
            "--tlp-ceiling", "amber", "--receive", "malware,phishing", "--purposes", "network_defence",
            "--format", "json")
    assert json.loads(r.stdout)["receive"] == ["malware", "phishing"]
    listed = json.loads(cfc("agreement", "list", "--format", "json").stdout)
    assert [a["reference"] for a in listed] == ["DSA-1"]
    assert len(json.loads(cfc("secondment", "list", "--format", "json").stdout)) == 1


def test_audit_verify_exit_codes(engine, factory):
    cfc("init")
    cfc("org", "add", "Vendor", "--kind", "private", "--sector", "internet_security", "--country", "FI")
    ok = cfc("audit", "verify", "--format", "json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    with transaction(factory) as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == 1).values(purpose="research"))
    bad = cfc("audit", "verify", "--format", "json")
    assert bad.exit_code == 1
    assert json.loads(bad.stdout) == {"ok": False, "entries": 1, "broken_at": 1,
                                      "reason": "content does not match its hash (altered)"}


def test_audit_export_writes_json_lines(engine, tmp_path):
    cfc("init")
    out = tmp_path / "audit.jsonl"
    r = cfc("audit", "export", "--output", str(out), "--format", "json")
    assert json.loads(r.stdout) == {"exported": 1, "file": str(out)}
    assert json.loads(out.read_text().splitlines()[0])["action"] == "org.create"


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    from cyberfusion.config import get_settings
    monkeypatch.setenv("CFC_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    r = cfc("org", "list", "--format", "json")
    assert r.exit_code == 2
    assert json.loads(r.stderr)["error"]["detail"].endswith("has no schema: run 'cfc db upgrade' first")
