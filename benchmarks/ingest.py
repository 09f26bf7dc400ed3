"""Ingest throughput: our STIX import against stix2.parse and a raw-insert floor, in one process.

    cd /work/main && PYTHONPATH=src python benchmarks/ingest.py [--n 100000] [--database-url URL]

Prints rates and the ratios the targets are stated in (see benchmarks/README.md).
Absolute rates are printed for reference only; nothing here passes or fails on them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

STIX2_TARGET = 5.0  # ours / stix2.parse
ABSOLUTE_REFERENCE = 20_000  # objects/s, SQLite, two cores


# ---------------------------------------------------------------- a. our import


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(world: _common.World, bundle: Path, *, profile: cProfile.Profile | None = None,
               worker: bool = True) -> tuple[float, float, float, Any]:
    """import_file + commit in one transaction; (wall s, cpu s of this process, cpu s of the ingest
    worker process it started, if any: its CPU counts, the import ends only after waiting for it)."""
    from cyberfusion.config import get_settings
    from cyberfusion.db import transaction
    from cyberfusion.ingest.pipeline import import_file

    settings = get_settings()
    saved = getattr(settings, "ingest_worker", None)
    if saved is not None:
        settings.ingest_worker = worker
    _common.clear_value_caches()
    gc.collect()
    children = _children_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    with transaction(world.factory) as session:
        result = import_file(session, viewer=world.viewer, path=bundle, fmt="stix", spec=_common.SPEC,
                             file_name=bundle.name)
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if saved is not None:
        settings.ingest_worker = saved
    return wall, cpu, _children_cpu() - children, result


def run_search_index_job(world: _common.World) -> tuple[float, float]:
    """The search.index job's work left by the import (SQLite; nothing on PostgreSQL), run to the
    end right after it, step by step as the worker would; (wall s, cpu s). Not part of the
    import's figures, printed beside them: the work moved out of the import, it did not vanish."""
    from cyberfusion.db import transaction
    try:
        from cyberfusion.intel import search_index
    except ImportError:  # an older src/ (a before/after comparison): it indexed inside the import
        return 0.0, 0.0

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    done = False
    while not done:
        with transaction(world.factory) as session:
            done = search_index.index_step(session)["done"]
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- b. stix2.parse


def run_stix2(objects: list[dict[str, Any]]) -> tuple[float, float]:
    import stix2

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    for obj in objects:
        stix2.parse(obj, allow_custom=True)
    return time.perf_counter() - wall, time.process_time() - cpu


# ---------------------------------------------------------------- c. the floor

_SQLITE_DDL = """
CREATE TABLE stix_objects (
    pk INTEGER PRIMARY KEY, stix_id VARCHAR(100) NOT NULL, type VARCHAR(64) NOT NULL,
    spec_version VARCHAR(8) NOT NULL, created DATETIME, modified DATETIME NOT NULL,
    created_by_ref VARCHAR(100), revoked BOOLEAN NOT NULL, valid_from DATETIME, valid_until DATETIME,
    confidence INTEGER, labels JSON, name TEXT, source_ref VARCHAR(100), target_ref VARCHAR(100),
    search_text TEXT, data TEXT NOT NULL, contribution_id VARCHAR(36) NOT NULL,
    organisation_id INTEGER NOT NULL, handling_id INTEGER NOT NULL, date_added DATETIME NOT NULL,
    CONSTRAINT uq_stix_version_owner UNIQUE (stix_id, modified, organisation_id));
CREATE INDEX ix_stix_objects_added ON stix_objects (date_added, pk);
CREATE INDEX ix_stix_objects_contribution_id ON stix_objects (contribution_id);
CREATE INDEX ix_stix_objects_source_ref ON stix_objects (source_ref) WHERE source_ref IS NOT NULL;
CREATE INDEX ix_stix_objects_target_ref ON stix_objects (target_ref) WHERE target_ref IS NOT NULL;
CREATE INDEX ix_stix_objects_type_modified ON stix_objects (type, modified);
CREATE TABLE observables (
    pk INTEGER PRIMARY KEY, kind VARCHAR(16) NOT NULL, value VARCHAR(2048) NOT NULL,
    range_start VARCHAR(32), range_end VARCHAR(32), stix_id VARCHAR(100) NOT NULL,
    object_type VARCHAR(64) NOT NULL, contribution_id VARCHAR(36) NOT NULL, organisation_id INTEGER NOT NULL,
    handling_id INTEGER NOT NULL, seen_at DATETIME, extra JSON);
CREATE INDEX ix_observables_contribution_id ON observables (contribution_id);
CREATE INDEX ix_observables_range ON observables (range_start, range_end) WHERE range_start IS NOT NULL;
CREATE INDEX ix_observables_stix_id ON observables (stix_id);
CREATE INDEX ix_observables_value ON observables (value, kind);
"""
_PG_DDL = (_SQLITE_DDL.replace("pk INTEGER PRIMARY KEY", "pk BIGSERIAL PRIMARY KEY")
           .replace("DATETIME", "TIMESTAMPTZ"))
_OBJ_COLS = ("stix_id, type, spec_version, created, modified, created_by_ref, revoked, valid_from, valid_until, "
             "confidence, labels, name, source_ref, target_ref, search_text, data, contribution_id, "
             "organisation_id, handling_id, date_added")
_OBS_COLS = ("kind, value, range_start, range_end, stix_id, object_type, contribution_id, organisation_id, "
             "handling_id, seen_at, extra")


def floor_rows(objects: list[dict[str, Any]], *, sqlite: bool) -> tuple[list[tuple], list[tuple]]:
    """The rows our import stores for these objects, prepared outside the timed part."""
    from cyberfusion.ingest.observables import observables_of
    from cyberfusion.kit.observables import ip_range
    from cyberfusion.kit.timeutil import parse_ts

    def ts(v: Any) -> Any:
        if not isinstance(v, str):
            return None
        d = parse_ts(v)
        # SQLAlchemy's SQLite DateTime storage format (naive UTC).
        return d.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else d

    now = datetime.now(UTC)
    now_v = now.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else now
    contribution = "00000000-0000-4000-8000-000000000000"
    objs, obs = [], []
    for o in objects:
        search = " ".join(x for x in (o.get("name") or "", o.get("description") or "", o.get("value") or "",
                                      o.get("pattern") or "") if x).lower()[:4000] or None
        modified = ts(o.get("modified")) or ts(o.get("created"))
        objs.append((o["id"], o["type"], o.get("spec_version", "2.1"), ts(o.get("created")), modified,
                     o.get("created_by_ref"), False, ts(o.get("valid_from")), ts(o.get("valid_until")),
                     o.get("confidence"), json.dumps(o["labels"]) if "labels" in o else None, o.get("name"),
                     None, None, search, json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                     contribution, 2, 1, now_v))
        seen = ts(o.get("valid_from")) or ts(o.get("created")) or modified
        for kind, value in observables_of(o):
            start, end = ip_range(value) if kind in ("ipv4-addr", "ipv6-addr") else (None, None)
            obs.append((kind, value, start, end, o["id"], o["type"], contribution, 2, 1, seen, None))
    return objs, obs


def run_floor_sqlite(work_dir: Path, objs: list[tuple], obs: list[tuple]) -> tuple[float, float]:
    import sqlite3

    path = work_dir / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The same pragmas as cyberfusion.db (WAL, synchronous=NORMAL).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SQLITE_DDL)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO stix_objects ({_OBJ_COLS}) VALUES ({', '.join('?' * 20)})", objs)
        conn.executemany(f"INSERT INTO observables ({_OBS_COLS}) VALUES ({', '.join('?' * 11)})", obs)
        conn.execute("COMMIT")
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_floor_pg(database_url: str, objs: list[tuple], obs: list[tuple]) -> tuple[float, float]:
    import os

    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_floor_{os.getpid()}"
    with psycopg.connect(conninfo) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for stmt in filter(str.strip, _PG_DDL.split(";")):
            conn.execute(stmt)
        conn.commit()
        try:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO stix_objects ({_OBJ_COLS}) VALUES ({', '.join(['%s'] * 20)})", objs)
                cur.executemany(f"INSERT INTO observables ({_OBS_COLS}) VALUES ({', '.join(['%s'] * 11)})", obs)
            conn.commit()
            return time.perf_counter() - wall, time.process_time() - cpu
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.commit()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="indicators in the bundle (default 100,000)")
    ap.add_argument("--seed", type=int, default=_common.SEED)
    ap.add_argument("--database-url", default=None,
                    help="default: a temporary SQLite file; postgresql+psycopg://... runs in a scratch schema")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the best is reported")
    ap.add_argument("--compare-in-process", action="store_true",
                    help="also import with the ingest worker off (CFC_INGEST_WORKER=false), interleaved, same data")
    ap.add_argument("--profile", action="store_true",
                    help="afterwards, import once more (fresh database) under cProfile and print the top functions")
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument("--profile-out", type=Path, help="also save the cProfile stats to this file")
    args = ap.parse_args(argv)
    pg = bool(args.database_url) and args.database_url.startswith("postgresql")

    with tempfile.TemporaryDirectory(prefix="cfc-bench-") as tmp:
        work = Path(tmp)
        bundle = work / "bundle.json"
        t = time.perf_counter()
        size = _common.write_bundle(bundle, args.n, seed=args.seed)
        gen_s = time.perf_counter() - t

        print("cyberfusion ingest benchmark")
        for k, v in _common.environment():
            print(f"  {k:9} {v}")
        backend = "postgresql (scratch schema)" if pg else "sqlite (temporary file)"
        print(f"  {'database':9} {backend}")
        if pg:
            from sqlalchemy import text

            from cyberfusion.db import make_engine
            probe = make_engine(args.database_url)
            with probe.connect() as conn:
                print(f"  {'server':9} PostgreSQL {conn.execute(text('SHOW server_version')).scalar()}")
            probe.dispose()
        print(f"  {'bundle':9} {args.n:,} indicators + 1 identity, {size / 1e6:.1f} MB, seed {args.seed} "
              f"(written in {gen_s:.1f} s)")
        print()

        def load_objects() -> list[dict[str, Any]]:
            with bundle.open("rb") as f:
                return json.load(f)["objects"]

        def keep_best(key: str, wall: float, cpu: float, worker_cpu: float = 0.0) -> None:
            if key not in best or wall < best[key][0]:
                best[key] = (wall, cpu, worker_cpu)

        best: dict[str, tuple[float, float, float]] = {}
        result = None
        for i in range(args.repeat):
            # The stix2 baseline brackets our import (first half before, second half after) so a
            # change in the machine's load during the run falls on both sides of the ratio. The
            # dicts are not held during our import, which would otherwise pay for the extra GC work.
            objects = load_objects()
            half = len(objects) // 2
            wall1, cpu1 = run_stix2(objects[:half])
            del objects
            gc.collect()

            world = _common.fresh_world(args.database_url, work, f"import{i}")
            try:
                # CPU of the import = this process + the ingest worker process, if it started one.
                wall, cpu, worker_cpu, result = run_import(world, bundle)
                keep_best("ours", wall, cpu + worker_cpu, worker_cpu)
                job_wall, job_cpu = run_search_index_job(world)
                keep_best("job", job_wall, job_cpu)
                keep_best("ours+job", wall + job_wall, cpu + worker_cpu + job_cpu)
            finally:
                world.cleanup()
            if args.compare_in_process:
                world = _common.fresh_world(args.database_url, work, f"inproc{i}")
                try:
                    wall, cpu, worker_cpu, _ = run_import(world, bundle, worker=False)
                    keep_best("inproc", wall, cpu + worker_cpu, worker_cpu)
                finally:
                    world.cleanup()

            objects = load_objects()
            wall2, cpu2 = run_stix2(objects[half:])
            keep_best("stix2", wall1 + wall2, cpu1 + cpu2)

            objs, obs = floor_rows(objects, sqlite=not pg)
            del objects
            wall, cpu = (run_floor_pg(args.database_url, objs, obs) if pg else run_floor_sqlite(work, objs, obs))
            keep_best("floor", wall, cpu)
            n_objs, n_obs = len(objs), len(obs)
            del objs, obs
            gc.collect()

        assert result is not None
        count = result.objects
        ours_rate = count / best["ours"][0]
        stix2_rate = count / best["stix2"][0]
        floor_rows_rate = (n_objs + n_obs) / best["floor"][0]
        floor_obj_rate = n_objs / best["floor"][0]
        floor_name = "psycopg executemany" if pg else "sqlite3 executemany"

        print(f"best of {args.repeat}; ours stored {count:,} objects and {result.observables:,} observables")
        _common.table([
            ("measurement", "items", "wall s", "cpu s", "rate/s"),
            ("a. ours: import_file (parse, validate, store, commit)", f"{count:,} obj",
             f"{best['ours'][0]:.2f}", f"{best['ours'][1]:.2f}", f"{ours_rate:,.0f} obj"),
            ("   of which the ingest worker process (second core)", "",
             "", f"{best['ours'][2]:.2f}", ""),
            *([("a'. ours, in-process (CFC_INGEST_WORKER=false)", f"{count:,} obj",
                f"{best['inproc'][0]:.2f}", f"{best['inproc'][1]:.2f}", f"{count / best['inproc'][0]:,.0f} obj")]
              if "inproc" in best else []),
            ("   then the search.index job (SQLite: search text indexed)", f"{count:,} obj",
             f"{best['job'][0]:.2f}", f"{best['job'][1]:.2f}", ""),
            ("   import and job together", f"{count:,} obj",
             f"{best['ours+job'][0]:.2f}", f"{best['ours+job'][1]:.2f}", f"{count / best['ours+job'][0]:,.0f} obj"),
            ("b. stix2.parse(obj, allow_custom=True) loop", f"{count:,} obj",
             f"{best['stix2'][0]:.2f}", f"{best['stix2'][1]:.2f}", f"{stix2_rate:,.0f} obj"),
            (f"c. floor: {floor_name}, one transaction", f"{n_objs + n_obs:,} rows",
             f"{best['floor'][0]:.2f}", f"{best['floor'][1]:.2f}", f"{floor_rows_rate:,.0f} rows"),
            ("   (floor as objects, each with its observable row)", f"{n_objs:,} obj", "", "",
             f"{floor_obj_rate:,.0f} obj"),
        ])
        print()
        # Wall-clock and CPU-time ratios side by side: on a shared machine another tenant's load
        # stretches wall time but hardly this process's CPU time. The verdict needs both.
        vs_stix2 = ours_rate / stix2_rate
        vs_floor = ours_rate / floor_obj_rate
        vs_stix2_cpu = best["stix2"][1] / best["ours"][1]
        vs_floor_cpu = best["floor"][1] / best["ours"][1]
        _common.table([
            ("ratio", "wall", "cpu", "target"),
            ("ours / stix2.parse", f"{vs_stix2:.2f}x", f"{vs_stix2_cpu:.2f}x",
             f">= {STIX2_TARGET:g}x on wall and cpu "
             f"({'met' if min(vs_stix2, vs_stix2_cpu) >= STIX2_TARGET else 'NOT met'})"),
            ("ours with the job / stix2.parse", f"{best['stix2'][0] / best['ours+job'][0]:.2f}x",
             f"{best['stix2'][1] / best['ours+job'][1]:.2f}x", "(the import and the index job it queued)"),
            ("ours / floor (objects/s)", f"{vs_floor:.3f}x", f"{vs_floor_cpu:.3f}x",
             "(1.0 = as fast as raw inserts)"),
            *([("in-process ours / stix2.parse", f"{best['stix2'][0] / best['inproc'][0]:.2f}x",
                f"{best['stix2'][1] / best['inproc'][1]:.2f}x", "(one core, no worker process)")]
              if "inproc" in best else []),
        ])
        if best["ours"][2]:
            print("The import used two processes (the ingest worker read the file on the second core); its cpu s "
                  "is both processes' CPU. stix2.parse is a one-core loop.")
        print()
        print(f"absolute: ours {ours_rate:,.0f} objects/s on {backend.split()[0]}, {_common.environment()[2][1]} cpus "
              f"(reference target >= {ABSOLUTE_REFERENCE:,}/s on SQLite, two cores; informational, not pass/fail)")

        if args.profile:
            print()
            world = _common.fresh_world(args.database_url, work, "profile")
            prof = cProfile.Profile()
            try:
                wall, _cpu, _worker_cpu, _ = run_import(world, bundle, profile=prof)
            finally:
                world.cleanup()
            print(f"profile: import_file of {count:,} objects under cProfile, {wall:.1f} s wall (profiler overhead "
                  "included)")
            if args.profile_out:
                prof.dump_stats(args.profile_out)
            for key in ("cumulative", "tottime"):
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.sort_stats(key).print_stats(args.profile_top)
                listing = out.getvalue()
                print(f"--- top {args.profile_top} by {key}")
                print(listing[listing.index("   ncalls"):].rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
