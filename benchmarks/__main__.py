"""Run the benchmark suite: every script in its own process, one after the other.

    cd /work/main && python -m benchmarks all --quick      # a small version of each (minutes)
    python -m benchmarks all                               # the sizes the targets are stated at (hours)
    python -m benchmarks lookup taxii --quick              # some of them
    python -m benchmarks list                              # names and the exact commands

Each script stays runnable on its own (``PYTHONPATH=src python benchmarks/NAME.py ...``); this only
chooses the flags, runs ``NAME.py`` as a child process with ``src`` on its path, streams its output
and ends with a summary (seconds and exit status per benchmark, date, cores, load average).
``--database-url`` is passed to the scripts that accept one; the others run on SQLite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (flags for --quick, flags for the full size); the full flags restate the scripts' defaults
# where the target is stated at that size, so the command line says what ran.
SUITE: dict[str, tuple[list[str], list[str]]] = {
    "ingest": (["--n", "10000"], ["--n", "100000"]),
    "memory": (["--n", "20000"], ["--n", "1000000"]),
    "lookup": (["--n", "20000", "--batch", "5000", "--requests", "200"],
               ["--n", "1000000", "--batch", "100000", "--requests", "1000"]),
    "correlation": (["--n", "20000", "--files", "2", "--hot", "1000", "--compare"],
                    ["--n", "1000000", "--compare"]),
    "taxii": (["--n", "10000", "--medallion-n", "1000", "--lookups", "200", "--post", "1000"],
              ["--n", "100000"]),
    "reports": (["--n", "20000", "--countries", "10"], ["--n", "1000000"]),
    "extract": (["--repeat", "2"], ["--repeat", "20"]),
    "tasking": (["--rfis", "2000", "--activities", "2000", "--repeat", "5"],
                ["--rfis", "20000", "--activities", "20000"]),
    "load": (["--quick"], ["--n", "1000000", "--duration", "60"]),
    "search": (["--quick"], ["--n", "1000000"]),
    "writers": (["--quick"], []),
}
TAKES_DATABASE_URL = {"ingest", "memory", "taxii", "reports", "tasking", "load", "search"}


def command(name: str, *, quick: bool, database_url: str | None) -> list[str]:
    quick_flags, full_flags = SUITE[name]
    cmd = [sys.executable, str(HERE / f"{name}.py"), *(quick_flags if quick else full_flags)]
    if database_url and name in TAKES_DATABASE_URL:
        cmd += ["--database-url", database_url]
    return cmd


def shown(cmd: list[str]) -> str:
    return "PYTHONPATH=src python " + " ".join([str(Path(cmd[1]).relative_to(ROOT)), *cmd[2:]])


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average {load}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", metavar="NAME", help=f"all, list, or any of: {', '.join(SUITE)}")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run of the whole suite")
    ap.add_argument("--database-url", help="passed to the scripts that take one (else SQLite)")
    args = ap.parse_args(argv)

    if args.names == ["list"]:
        for name in SUITE:
            print(f"{name:12} quick: {shown(command(name, quick=True, database_url=args.database_url))}")
            print(f"{'':12} full:  {shown(command(name, quick=False, database_url=args.database_url))}")
        return 0
    names = list(SUITE) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; known: all, list, {', '.join(SUITE)}")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)}
    started = machine()
    t_all = time.perf_counter()
    done: list[tuple[str, float, int]] = []
    for name in names:
        cmd = command(name, quick=args.quick, database_url=args.database_url)
        print(f"\n=== {name}: {shown(cmd)}", flush=True)
        t = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        done.append((name, time.perf_counter() - t, rc))
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {done[-1][1]:.0f} s", flush=True)

    print(f"\n=== suite ({'quick' if args.quick else 'full'}): {time.perf_counter() - t_all:.0f} s in all")
    print(f"started  {started}\nfinished {machine()}")
    for name, seconds, rc in done:
        print(f"  {name:12} {seconds:6.0f} s  {'ok' if rc == 0 else f'FAILED (exit {rc})'}")
    return 0 if all(rc == 0 for _n, _s, rc in done) else 1


if __name__ == "__main__":
    raise SystemExit(main())
