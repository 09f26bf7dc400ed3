"""SQLite writers waiting for each other: the writer lock (writelock.py) beside SQLite's busy handler.

    cd /work/main && PYTHONPATH=src python benchmarks/writers.py [--duration 10] [--rounds 3]
        [--short-rate 200] [--long-rate 1] [--long-ms 100] [--threads 16]
    PYTHONPATH=src python benchmarks/writers.py --quick          # 3 s a round, 2 rounds

What the load test's lookups and uploads do to SQLite's one write lock, without HTTP: short
write transactions (one row, like a lookup's record) arrive open-loop as a Poisson process at
--short-rate per second, handed to --threads threads; long ones (--long-rate per second) hold the
lock --long-ms milliseconds after their first write (an upload's import; asleep, so the figure is
the waiting, not CPU contention). A short write's latency runs from its scheduled arrival to its
commit. The same schedule runs against the same database file twice per round, in alternation:

  busy handler   plain sqlite3 connections, busy_timeout 10 s: SQLite's sleeps (1, 2, 5, 10 ... 100 ms)
  writer lock    cyberfusion.db.make_engine's connections: first come first served, woken at release
  writer lock, long ones background
                 the same, the long writes inside writelock.background() as the job worker's are:
                 waiting short writes (requests) go before them, for at most 0.5 s

Printed per variant (all rounds together): p50/p99/max latency of the short writes, errors, and
the ratio of the busy handler's p99 to the writer lock's, with the CPU seconds of the process.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common


def _engine(path: Path, locked: bool) -> Any:
    from cyberfusion.db import make_engine

    # connect_args' factory replaces the writer-lock connection class with sqlite3's own.
    return make_engine(f"sqlite:///{path}", pool_size=64, **({} if locked else
                                                            {"connect_args": {"factory": sqlite3.Connection}}))


def run(path: Path, locked: bool, arrivals: list[tuple[float, float]], threads: int,
        long_background: bool = False) -> tuple[list[float], int]:
    """Latencies (seconds) of the short writes, and the number of failed transactions. With
    ``long_background`` the long ones are background work (writelock.background, as jobs are)."""
    from contextlib import nullcontext

    from sqlalchemy import text

    from cyberfusion import writelock

    engine = _engine(path, locked)
    latencies: list[float] = []
    errors = [0]
    todo: queue.SimpleQueue[tuple[float, float] | None] = queue.SimpleQueue()
    start = time.perf_counter() + 0.1

    def work() -> None:
        while (a := todo.get()) is not None:
            at, hold = a
            try:
                with (writelock.background() if hold and long_background else nullcontext()), \
                        engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (at, pad) VALUES (:at, :pad)"), {"at": at, "pad": "x" * 200})
                    if hold:
                        time.sleep(hold)
            except Exception:  # noqa: BLE001 - counted: "database is locked" after the busy timeout
                errors[0] += 1
                continue
            if not hold:
                latencies.append(time.perf_counter() - start - at)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for th in pool:
        th.start()
    for a in arrivals:
        delay = start + a[0] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        todo.put(a)
    for _ in pool:
        todo.put(None)
    for th in pool:
        th.join()
    engine.dispose()
    return latencies, errors[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=None, help="seconds per variant and round (default 10)")
    ap.add_argument("--rounds", type=int, default=None, help="alternations of the two variants (default 3)")
    ap.add_argument("--quick", action="store_true", help="3 s, 2 rounds")
    ap.add_argument("--short-rate", type=float, default=200.0, help="short write transactions/s (default 200)")
    ap.add_argument("--long-rate", type=float, default=1.0, help="long write transactions/s (default 1)")
    ap.add_argument("--long-ms", type=float, default=100.0, help="how long a long one holds the lock (default 100)")
    ap.add_argument("--threads", type=int, default=16, help="writer threads (default 16)")
    ap.add_argument("--seed", type=int, default=_common.SEED)
    args = ap.parse_args(argv)
    duration = args.duration or (3.0 if args.quick else 10.0)
    rounds = args.rounds or (2 if args.quick else 3)

    rng = random.Random(args.seed)
    arrivals: list[tuple[float, float]] = []
    for rate, hold in ((args.short_rate, 0.0), (args.long_rate, args.long_ms / 1000)):
        t = 0.0
        while rate > 0 and (t := t + rng.expovariate(rate)) < duration:
            arrivals.append((t, hold))
    arrivals.sort()

    work = Path(tempfile.mkdtemp(prefix="cfc-bench-writers-"))
    path = work / "writers.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at REAL, pad TEXT)")
    variants = (("busy handler", False, False), ("writer lock", True, False),
                ("writer lock, long ones background", True, True))
    results: dict[str, tuple[list[float], int, float]] = {name: ([], 0, 0.0) for name, _l, _b in variants}
    load_before = os.getloadavg()
    try:
        for _ in range(rounds):
            for name, locked, background in variants:
                cpu = time.process_time()
                lat, errors = run(path, locked, arrivals, args.threads, background)
                old = results[name]
                results[name] = (old[0] + lat, old[1] + errors, old[2] + time.process_time() - cpu)
    finally:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()

    print("cyberfusion SQLite writers — busy handler against the writer lock (long writes as requests, then as "
          "background work), same schedule, alternating")
    for k, v in _common.environment():
        print(f"  {k:9} {v}")
    print(f"  {'traffic':9} {args.short_rate:g} short writes/s and {args.long_rate:g}/s holding the lock "
          f"{args.long_ms:g} ms, {args.threads} threads, {duration:g} s x {rounds} rounds per variant")
    print(f"  {'loadavg':9} {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after (1, 5, 15 min)")
    print()
    pct_ms = _common.pct_ms
    rows = [("variant", "short writes", "errors", "p50 ms", "p99 ms", "max ms", "process CPU s")]
    for name, (lat, errors, cpu) in results.items():
        rows.append((name, f"{len(lat):,}", f"{errors:,}", f"{pct_ms(lat, 50):.1f}", f"{pct_ms(lat, 99):.1f}",
                     f"{max(lat, default=0) * 1000:.1f}", f"{cpu:.1f}"))
    _common.table(rows)
    busy, lock = results["busy handler"][0], results["writer lock"][0]
    bg = results["writer lock, long ones background"][0]
    print(f"\nshort-write p99: busy handler / writer lock = {pct_ms(busy, 99) / pct_ms(lock, 99):.1f}x; "
          f"p50 {pct_ms(busy, 50) / pct_ms(lock, 50):.1f}x; writer lock / long ones background = "
          f"{pct_ms(lock, 99) / pct_ms(bg, 99):.2f}x (p99), max {max(lock) / max(bg):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
