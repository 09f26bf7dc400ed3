"""scripts/pg-backup-check.sh on a real PostgreSQL store: dump, restore into a scratch database,
same rows everywhere, audit chain verified — and a tampered copy is caught."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sharing.helpers import contribute, indicator

from cyberfusion.sharing.handling import HandlingSpec

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-backup-check.sh"


def test_dump_restore_and_verify(engine, world, tmp_path):
    if engine.dialect.name != "postgresql":
        pytest.skip("pg_dump/pg_restore are for the PostgreSQL store; SQLite uses cfc backup (test_backup.py)")
    for tool in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    contribute(world, tmp_path, "vendor", [indicator("domain-name", f"d{i}.backup.example") for i in range(20)],
               HandlingSpec(tlp="green"))
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    dump = tmp_path / "cfc.dump"
    r = subprocess.run([str(SCRIPT), url, str(dump)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"ok": true' in r.stdout and "restored and verified" in r.stdout
    assert dump.stat().st_size > 10_000
    # never overwrites an existing backup
    r = subprocess.run([str(SCRIPT), url, str(dump)], env=env, capture_output=True, text=True, timeout=60)
    assert (r.returncode, "never overwritten" in r.stderr) == (2, True)
