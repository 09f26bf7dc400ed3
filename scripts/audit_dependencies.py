"""Known vulnerabilities in the installed dependencies (issue #11), for `.ci/run`.

    python scripts/audit_dependencies.py [--format text|json] [--service pypi|osv]

Runs ``pip-audit`` (the PyPA's auditor; ``pip install -e '.[audit]'``) over what this interpreter
has installed (``pip freeze``, the project's own editable install left out) and reads its JSON:

* exit 1 when any audited package has a known vulnerability (each listed with its advisory ids and
  the versions that fix it);
* exit 0 when none has;
* exit 0 with ``SKIPPED: ...`` when no package could be audited: the advisory database (PyPI's JSON
  API, or OSV with ``--service osv``) cannot be reached from this machine. A check that audited
  nothing is reported as skipped, never as passed.

Packages the service does not know (local builds such as torch's ``+cpu`` wheel) are counted as
skipped and named.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Outcome:
    audited: int = 0
    vulnerable: list[dict[str, Any]] = field(default_factory=list)  # {name, version, id, aliases, fix_versions}
    skipped: list[str] = field(default_factory=list)  # "name (reason)"
    failure: str | None = None  # pip-audit could not run or reach its service at all

    @property
    def status(self) -> str:
        if self.vulnerable:
            return "vulnerable"
        if self.failure is not None or self.audited == 0:
            return "skipped"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "audited": self.audited, "vulnerable": self.vulnerable,
                "skipped": self.skipped, "failure": self.failure}


def read_report(report: dict[str, Any]) -> Outcome:
    """The outcome of one ``pip-audit --format json`` report."""
    out = Outcome()
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            out.skipped.append(f"{dep.get('name')} ({dep['skip_reason']})")
            continue
        out.audited += 1
        for vuln in dep.get("vulns", []):
            out.vulnerable.append({"name": dep["name"], "version": dep.get("version"), "id": vuln.get("id"),
                                   "aliases": vuln.get("aliases", []), "fix_versions": vuln.get("fix_versions", [])})
    return out


def run_pip_audit(service: str) -> Outcome:
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "installed.txt"
        requirements.write_text(frozen)
        done = subprocess.run([sys.executable, "-m", "pip_audit", "-r", str(requirements), "--no-deps",
                               "--disable-pip", "--progress-spinner", "off", "--format", "json",
                               "--vulnerability-service", service], capture_output=True, text=True)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return Outcome(failure=f"pip-audit gave no report: {last[:300]}")
    return read_report(report)


def render(outcome: Outcome) -> str:
    if outcome.status == "vulnerable":
        lines = [f"{len(outcome.vulnerable)} known vulnerabilities in {outcome.audited} audited packages:"]
        for v in outcome.vulnerable:
            fixes = ", ".join(v["fix_versions"]) or "no fixed release yet"
            lines.append(f"  {v['name']} {v['version']}: {v['id']} ({', '.join(v['aliases']) or 'no aliases'});"
                         f" fixed in {fixes}")
        return "\n".join(lines)
    if outcome.status == "skipped":
        why = outcome.failure or (f"none of the {len(outcome.skipped)} packages could be audited, e.g. "
                                  f"{outcome.skipped[0] if outcome.skipped else 'no packages'}")
        return f"SKIPPED: dependency audit: the advisory database could not be used here ({why})"
    local = f"; not audited (unknown to the service): {', '.join(s.split(' (')[0] for s in outcome.skipped)}" \
        if outcome.skipped else ""
    return f"dependency audit: {outcome.audited} packages audited, no known vulnerabilities{local}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.add_argument("--service", choices=("pypi", "osv"), default="pypi",
                    help="pip-audit's vulnerability service (default PyPI's JSON API)")
    args = ap.parse_args(argv)
    outcome = run_pip_audit(args.service)
    print(json.dumps(outcome.as_dict(), indent=2) if args.format == "json" else render(outcome))
    return 1 if outcome.status == "vulnerable" else 0


if __name__ == "__main__":
    sys.exit(main())
