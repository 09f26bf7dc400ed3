"""Free-text search over a large store: the trigram index path against the plain substring walk,
both in the same run on the same data.

    cd /work/main && PYTHONPATH=src python benchmarks/search.py [--n 1000000] [--database-url URL] [--quick]

The store: --n indicators (the ingest benchmark's observable mix; search text as the importer
builds it: "kind value pattern") in one contribution of one partner, written with executemany
through intel.repository.insert_objects, so the index triggers run as in production. The reader
is a second organisation under an agreement, so the policy filter does its full work.

Queries: rare (one stored value), absent (matches nothing: the plain walk reads every row),
a mid-frequency word pair, a frequent word (thousands of matches: the index hands over to the
ordered walk), and a 2-character term (below the index's 3-character minimum: the same path
either way). Each runs as the intel search (repository.search_objects, one page of 50) and as
the web search (web.repository.matching + a page + the facet table), first the plain way
(the index switched off) and then indexed; results must be identical.

On PostgreSQL "plain" runs with the trigram index dropped inside the measuring transaction (rolled
back afterwards), since the planner would otherwise use it for the plain LIKE as well.

Measured: CPU ms per query — this process (time.process_time) plus, on PostgreSQL, the server
backend's CPU from /proc (utime + stime of pg_backend_pid()). Printed as old/new ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from lookup import asker  # noqa: E402

BATCH = 20_000
PG_INDEX = "ix_stix_objects_search_trgm"  # migration 0900


def populate(world: _common.World, n: int, seed: int) -> list[str]:
    """n indicators in one contribution of the bench partner; returns their values."""
    from cyberfusion.db import transaction, utcnow
    from cyberfusion.intel import repository, search_index

    rng = random.Random(seed)
    values: list[str] = []
    now = utcnow()
    with transaction(world.factory) as s:
        c = _common.bench_contribution(s, world, objects=n, now=now)
        batch: list[dict[str, Any]] = []
        for i in range(n):
            kind, value = _common.observable(rng)
            values.append(value)
            name = f"{kind} {value}"
            pattern = f"[{kind}:value = '{value}']"
            when = now - timedelta(seconds=n - i)
            batch.append({"stix_id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                          "type": "indicator", "spec_version": "2.1", "created": when, "modified": when,
                          "revoked": False, "name": name, "search_text": f"{name} {pattern}".lower(),
                          "data": "{}", "contribution_id": c.id, "organisation_id": c.organisation_id,
                          "handling_id": c.handling_id, "date_added": when})
            if len(batch) == BATCH:
                repository.insert_objects(s, batch)
                batch.clear()
        repository.insert_objects(s, batch)
    with transaction(world.factory) as s:  # SQLite: what the search.index job does after an import
        search_index.catch_up(s)
    return values


class CpuClock:
    """CPU seconds of this process plus, on PostgreSQL, of the session's server backend."""

    def __init__(self, session: Any) -> None:
        from sqlalchemy import text
        self.stat: Path | None = None
        if session.get_bind().dialect.name == "postgresql":
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            stat = Path(f"/proc/{pid}/stat")
            self.stat = stat if stat.exists() else None
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        own = time.process_time()
        if self.stat is None:
            return own
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return own + (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime


def queries(values: list[str], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed + 7)
    rare = next(v for v in (rng.choice(values) for _ in range(10_000))
                if len(v) >= 32 and all(ch in "0123456789abcdef" for ch in v))  # a hash: unique
    return [("rare (1 value)", rare[5:21]), ("absent", "no-such-text-anywhere"),
            ("mid (word pair)", "wallet-invoice"), ("frequent word", "login"), ("short (2 chars)", "zq")]


def run(world: _common.World, viewer: Any, name_query: list[tuple[str, str]], repeat: int) -> list[tuple[str, ...]]:
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from cyberfusion.intel import repository as intel_repo
    from cyberfusion.web import repository as web_repo

    def intel(s: Any, q: str) -> Any:
        return [r.pk for r in intel_repo.search_objects(s, viewer=viewer, purpose="investigation", text=q, limit=50)]

    def web(s: Any, q: str) -> Any:
        f = web_repo.SearchFilter(text=q)
        conds = web_repo.matching(s, viewer, "investigation", f)
        page = [o.pk for o, _c, _t in web_repo.search_objects(s, conds=conds, f=f, after=None, limit=26)]
        return page, web_repo.facet_table(s, conds=conds)

    def timed(s: Any, clock: CpuClock, fn: Any, q: str, indexed: bool) -> tuple[float, Any]:
        saved = intel_repo.INDEXED_MIN_CHARS
        intel_repo.INDEXED_MIN_CHARS = saved if indexed else 10**9
        if not indexed and s.get_bind().dialect.name == "postgresql":
            # PostgreSQL's planner uses the GIN index for the plain LIKE too: "plain" is the store
            # as it was before migration 0900, so the index is dropped in this transaction only.
            s.execute(text(f"DROP INDEX {PG_INDEX}"))
        try:
            fn(s, q)  # warm: statement caches, pages
            best = float("inf")
            for _ in range(repeat):
                t = clock()
                out = fn(s, q)
                best = min(best, clock() - t)
                s.expunge_all()
            return best, out
        finally:
            intel_repo.INDEXED_MIN_CHARS = saved
            s.rollback()  # brings a dropped index back

    rows = [("query", "term", "path", "matches on page", "plain CPU ms", "indexed CPU ms", "plain/indexed",
             "same")]
    # One connection throughout, so the backend whose CPU the clock reads stays the same.
    with world.engine.connect() as conn, Session(bind=conn) as s:
        clock = CpuClock(s)
        for label, q in name_query:
            for path, fn in (("intel", intel), ("web+facets", web)):
                old, out_old = timed(s, clock, fn, q, indexed=False)
                new, out_new = timed(s, clock, fn, q, indexed=True)
                shown = len(out_new[0] if path != "intel" else out_new)
                rows.append((label, repr(q), path, str(shown), f"{old * 1000:.1f}", f"{new * 1000:.1f}",
                             f"{old / new:.1f}x" if new > 0 else "-", "yes" if out_old == out_new else "NO"))
                print(" ".join(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="stored indicators (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="a small store (20,000) for a smoke run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per query and path; the best is reported")
    ap.add_argument("--seed", type=int, default=_common.SEED)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (a scratch schema is used); else SQLite")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else args.n

    for k, v in _common.environment():
        print(f"{k}: {v}")
    with tempfile.TemporaryDirectory(prefix="cfc-search-") as tmp:
        world = _common.fresh_world(args.database_url, Path(tmp), "search")
        try:
            t, cpu = time.perf_counter(), time.process_time()
            values = populate(world, n, args.seed)
            print(f"stored {n:,} indicators in {time.perf_counter() - t:.0f} s wall, "
                  f"{time.process_time() - cpu:.0f} s CPU (this process)", flush=True)
            if world.engine.dialect.name == "postgresql":
                with world.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            viewer, _token = asker(world)
            rows = run(world, viewer, queries(values, args.seed), args.repeat)
        finally:
            world.cleanup()
    print()
    _common.table(rows)
    same = all(r[-1] == "yes" for r in rows[1:])
    print(f"\nidentical results, plain and indexed: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
