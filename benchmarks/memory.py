"""Peak memory of importing a large STIX bundle, measured on a child process.

    cd /work/main && PYTHONPATH=src python benchmarks/memory.py [--n 1000000] [--database-url URL]

A first child streams the bundle to a temporary file (never holding it in memory);
a second child runs the import (fresh database, import_file, commit). The parent
reads the peak RSS from getrusage(RUSAGE_CHILDREN) after each. The parent itself
imports only the standard library: Linux carries the RSS of the process that
spawns a child into the child's ru_maxrss (at exec), so a large parent would
inflate the figure. The importing child also reports its own high-water mark
(VmHWM) just before importing (interpreter, libraries, migrations, world set-up),
so the import's share can be told apart from the fixed cost. Temporary files are
deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Deliberately no cyberfusion (nor _common) import at module level: see the docstring.
HERE = Path(__file__).resolve().parent
SEED = 20261126
TARGET_BYTES = 1 << 30  # < 1 GB peak RSS for the importing process


def _maxrss_bytes(who: int) -> int:
    kb = resource.getrusage(who).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024  # Linux reports KiB, macOS bytes


def _own_peak_bytes() -> int:
    """This process image's RSS high-water mark (VmHWM; ru_maxrss would include the spawner's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _maxrss_bytes(resource.RUSAGE_SELF)


def write_child(bundle: Path, n: int, seed: int) -> None:
    sys.path.insert(0, str(HERE))
    import _common

    t = time.perf_counter()
    size = _common.write_bundle(bundle, n, seed=seed)
    print(json.dumps({"size": size, "seconds": time.perf_counter() - t}))


def import_child(bundle: Path, work: Path, database_url: str | None) -> None:
    sys.path.insert(0, str(HERE))
    import _common
    from cyberfusion.db import transaction
    from cyberfusion.ingest.pipeline import import_file

    world = _common.fresh_world(database_url, work, "memory")
    try:
        before = _own_peak_bytes()
        t, cpu = time.perf_counter(), time.process_time()
        with transaction(world.factory) as session:
            result = import_file(session, viewer=world.viewer, path=bundle, fmt="stix", spec=_common.SPEC,
                                 file_name=bundle.name)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        peak = _own_peak_bytes()
    finally:
        world.cleanup()
    print(json.dumps({"objects": result.objects, "observables": result.observables, "seconds": seconds,
                      "cpu_seconds": cpu, "rss_before_import": before, "own_peak": peak}))


def _run(args: list[str]) -> dict | None:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                          env=os.environ.copy())
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        print(f"child {args[0]} failed with exit code {proc.returncode}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(rows: list[tuple[str, str]]) -> None:
    w0, w1 = (max(len(r[i]) for r in rows) for i in (0, 1))
    for j, (a, b) in enumerate(rows):
        print(f"{a.ljust(w0)}  {b.rjust(w1)}")
        if j == 0:
            print(f"{'-' * w0}  {'-' * w1}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="indicators in the bundle (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--database-url", default=None,
                    help="default: a temporary SQLite file; postgresql+psycopg://... runs in a scratch schema")
    ap.add_argument("--write-child", nargs=1, metavar="BUNDLE", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=2, metavar=("BUNDLE", "WORK_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write_child:
        write_child(Path(args.write_child[0]), args.n, args.seed)
        return 0
    if args.child:
        import_child(Path(args.child[0]), Path(args.child[1]), args.database_url)
        return 0

    with tempfile.TemporaryDirectory(prefix="cfc-bench-mem-") as tmp:
        work = Path(tmp)
        bundle = work / "bundle.json"
        written = _run(["--write-child", str(bundle), "--n", str(args.n), "--seed", str(args.seed)])
        if written is None:
            return 1
        size = written["size"]
        writer_peak = _maxrss_bytes(resource.RUSAGE_CHILDREN)

        pg = bool(args.database_url) and args.database_url.startswith("postgresql")
        print("cyberfusion import memory benchmark")
        print(f"  {'python':9} {platform.python_version()} ({platform.python_implementation()})")
        print(f"  {'sqlite':9} {sqlite3.sqlite_version}")
        print(f"  {'cpus':9} {os.cpu_count()}")
        print(f"  {'platform':9} {platform.platform()}")
        print(f"  {'database':9} {'postgresql (scratch schema)' if pg else 'sqlite (temporary file)'}")
        print(f"  {'bundle':9} {args.n:,} indicators + 1 identity, {size / 1e6:,.1f} MB on disk, "
              f"streamed in {written['seconds']:.1f} s by a child (its peak RSS {writer_peak / 2**20:,.0f} MiB)")

        cmd = ["--child", str(bundle), str(work)]
        if args.database_url:
            cmd += ["--database-url", args.database_url]
        t = time.perf_counter()
        report = _run(cmd)
        wall = time.perf_counter() - t
        if report is None:
            return 1
        # The maximum over both children; the importer's own VmHWM tells which one it is.
        peak = _maxrss_bytes(resource.RUSAGE_CHILDREN)
        before = report["rss_before_import"]

        print()
        _table([
            ("child process", "value"),
            ("objects stored", f"{report['objects']:,}"),
            ("observables stored", f"{report['observables']:,}"),
            ("import_file + commit, wall", f"{report['seconds']:,.1f} s ({report['objects'] / report['seconds']:,.0f} obj/s)"),
            ("import_file + commit, cpu", f"{report['cpu_seconds']:,.1f} s"),
            ("child wall incl. start-up and set-up", f"{wall:,.1f} s"),
            ("peak RSS before import (fixed cost)", f"{before / 2**20:,.0f} MiB"),
            ("peak RSS (RUSAGE_CHILDREN, max of both children)", f"{peak / 2**20:,.0f} MiB"),
            ("importer's own peak (VmHWM)", f"{report['own_peak'] / 2**20:,.0f} MiB"),
            ("import's share of the peak", f"{(report['own_peak'] - before) / 2**20:,.0f} MiB"),
            ("peak RSS / bundle size", f"{peak / size:.2f}"),
        ])
        verdict = "met" if peak < TARGET_BYTES else "NOT met"
        print()
        print(f"target: peak RSS < 1 GiB ({TARGET_BYTES / 2**20:,.0f} MiB) for a {args.n:,}-object import: {verdict}"
              + ("" if args.n >= 1_000_000 else "  (scaled-down run: see README on extrapolating)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
