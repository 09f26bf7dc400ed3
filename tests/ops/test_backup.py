"""cfc backup / restore of the embedded database, while it is in use."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cyberfusion.cli import app

runner = CliRunner()


def cfc(*args):
    return runner.invoke(app, list(args))


def test_backup_and_restore_round_trip(engine, tmp_path):
    if engine.dialect.name != "sqlite":
        pytest.skip("backup/restore commands are for the embedded SQLite store; PostgreSQL uses pg_dump")
    cfc("init")
    cfc("org", "add", "Before Backup", "--kind", "academia", "--country", "NL")
    out = tmp_path / "b" / "cfc.backup"
    r = cfc("backup", str(out), "--format", "json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert (info["integrity"], info["tables"] > 10) == ("ok", True)
    cfc("org", "add", "After Backup", "--kind", "academia", "--country", "NL")
    assert cfc("backup", str(out), "--format", "json").exit_code == 2  # never overwrites
    r = cfc("restore", str(out), "--format", "json")
    assert (r.exit_code, json.loads(r.stderr)["error"]["field"]) == (2, "yes")
    r = cfc("restore", str(out), "--yes", "--format", "json")
    assert r.exit_code == 0, r.stderr
    names = [o["name"] for o in json.loads(cfc("org", "list", "--format", "json").stdout)]
    assert names == ["Before Backup", "Cyber Fusion Centre"]
    assert json.loads(cfc("audit", "verify", "--format", "json").stdout)["ok"] is True


def test_restore_rejects_a_damaged_file(engine, tmp_path):
    if engine.dialect.name != "sqlite":
        pytest.skip("backup/restore commands are for the embedded SQLite store")
    bad = tmp_path / "bad.backup"
    bad.write_bytes(b"this is not a database" * 100)
    r = cfc("restore", str(bad), "--yes", "--format", "json")
    assert r.exit_code == 2
    assert json.loads(r.stderr)["error"]["field"] == "file"
