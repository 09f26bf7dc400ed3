"""`cfc import`, `search`, `show`, `export`, `retention run` as a member of the world."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cyberfusion.cli import app
from sharing.helpers import bundle_file, indicator

runner = CliRunner()


def cfc(*args):
    return runner.invoke(app, list(args))


def test_import_search_show_export(world, tmp_path):
    ind = indicator("sha256", "a" * 64)
    path = bundle_file(tmp_path, [ind], "hashes.json")
    r = cfc("import", str(path), "--as", "vendor@example.org", "--tlp", "green", "--purpose", "network_defence",
            "--restrict-country", "FR", "--restrict-country", "GB", "--format", "json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert (result["created"], result["objects"], result["observables"]) == (True, 1, 1)
    again = json.loads(cfc("import", str(path), "--as", "vendor@example.org", "--format", "json").stdout)
    assert (again["created"], again["contribution_id"]) == (False, result["contribution_id"])

    found = json.loads(cfc("search", "A" * 64, "--as", "bank@example.org", "--purpose", "network_defence",
                           "--format", "json").stdout)
    assert [i["id"] for i in found["items"]] == [ind["id"]]
    hidden = json.loads(cfc("search", "a" * 64, "--as", "telco@example.org", "--purpose", "network_defence",
                            "--format", "json").stdout)
    assert hidden["items"] == []  # Germany is not among the allowed countries
    shown = json.loads(cfc("show", ind["id"], "--as", "bank@example.org", "--purpose", "network_defence",
                           "--format", "json").stdout)
    assert shown["handling"]["allowed_countries"] == ["FR", "GB"]
    out = tmp_path / "block.txt"
    r = cfc("export", "--as", "bank@example.org", "--purpose", "network_defence", "--to", "blocklist",
            "-o", str(out), "--format", "json")
    assert json.loads(r.stdout) == {"exported": 1, "file": str(out), "format": "blocklist"}
    assert out.read_text() == "a" * 64 + "\n"


def test_import_bad_file_exits_2_and_writes_nothing(world, tmp_path):
    path = bundle_file(tmp_path, [{**indicator("ipv4-addr", "192.0.2.1"), "confidence": 250}], "bad.json")
    r = cfc("import", str(path), "--as", "vendor@example.org", "--format", "json")
    assert r.exit_code == 2
    err = json.loads(r.stderr)["error"]
    assert err["errors"][0]["field"] == "confidence" and err["errors"][0]["file"] == "bad.json"
    r = cfc("search", "192.0.2.1", "--as", "vendor@example.org", "--purpose", "investigation", "--format", "json")
    assert json.loads(r.stdout)["items"] == []


def test_dry_run_reports_every_error(world, tmp_path):
    objs = [{**indicator("ipv4-addr", f"192.0.2.{i}"), "confidence": 250} for i in range(3)]
    path = bundle_file(tmp_path, objs + [indicator("ipv4-addr", "192.0.2.99")], "three-bad.json")
    r = cfc("import", str(path), "--as", "vendor@example.org", "--dry-run", "--format", "json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert (out["dry_run"], out["objects"], len(out["errors"])) == (True, 1, 3)
    assert [e["location"].split(" (")[0] for e in out["errors"]] == ["object 0", "object 1", "object 2"]


def test_retention_run_json(world):
    r = cfc("retention", "run", "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["hidden"] == 0
