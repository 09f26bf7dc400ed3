"""Bounded load test: mixed traffic from concurrent clients against a real server with N observables.

    cd /work/main && PYTHONPATH=src python benchmarks/load.py [--n 1000000] [--duration 60] [--workers 1]
        [--lookup-rate 200] [--search-rate 5] [--taxii-rate 10] [--upload-rate 1] [--database-url URL]
    PYTHONPATH=src python benchmarks/load.py --quick          # 10,000 observables, 10 s
    ... [--keep-store DIR] [--trace-lock] [--trace-gc] [--server-src DIR]  # reuse a seeded store; who holds
                                                   # the write lock; the server's garbage-collector pauses

The store: --n indicators of the ingest benchmark's mix (benchmarks/_common.py) in one partner's
contribution, written with direct inserts (the STIX object row and its observable row, as the
pipeline stores them), then indexed for correlation by the ingest hook (fusion.correlate.after_import)
and located for the country index (what the import's queued reports.index job does).
The server is ``uvicorn cyberfusion.app:create_app --factory`` in a child process on 127.0.0.1
(``--workers N`` passed through). A second organisation (a national bureau) asks lookups and searches;
the partner pages TAXII and uploads contributions.

The traffic is open-loop: each request kind arrives as a Poisson process at its own rate for
--duration seconds, whether or not earlier requests have finished. One scheduler thread hands each
request at its time to --connections client threads (one keep-alive http.client connection each,
``_common.Http``: the cheapest client in CPU, which the server would otherwise lose; see
benchmarks/README.md, "The HTTP client"). A request's latency runs from its
scheduled arrival to the end of its response, so time spent queueing (for a free client thread, in
the server's accept queue or thread pool, on the database's write lock) is counted: no coordinated
omission. ``send-lag`` is the part spent waiting for a client thread.

  lookup hit / no-hit  POST /api/v1/lookup, one value each (--hit-share of them stored); the answer
                       is checked (hit for a stored value, no_hit otherwise)
  search               GET /api/v1/search?q=<a stored value>; at least one item expected
  taxii page           GET /taxii2/cfc/collections/all/objects/?limit=--taxii-limit, pollers
                       following ``next`` through the collection
  upload               POST /api/v1/contributions (JSON, a STIX bundle of --upload-size new
                       indicators); the import result checked
  healthz (floor)      GET /healthz: the baseline in the same run, the cheapest request under the
                       same load (HTTP, framework and thread pool, no database): what queueing and
                       the machine alone cost

Printed: requests sent per second and p50/p99/max latency per kind; errors (unexpected status,
transport error, wrong answer, and "not sent": a request that waited more than --max-wait seconds
for a client thread is dropped, which keeps the run bounded when the server falls behind); the
CPU seconds of the client and of the server's process tree over the run, and the server's CPU
per request; the load average; and whether the target of issue 11 is met: 0 errors and lookup
p99 < 100 ms at 200 lookups/s on two cores, with 1,000,000 observables. The client shares the
machine with the server; its CPU share is printed so readers can judge.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
import lookup as lookup_bench
import taxii as taxii_bench

ROOT = Path(__file__).resolve().parents[1]
TAXII = "application/taxii+json;version=2.1"
P99_TARGET_MS = 100.0
RATE_TARGET = 200.0
KINDS = ("lookup hit", "lookup no-hit", "search", "taxii page", "upload", "healthz (floor)")


# ---------------------------------------------------------------- the store


def seed(world: _common.World, n: int, *, seed: int, block: int = 10_000) -> list[str]:
    """n indicators with their observables in one contribution of the partner; returns the values."""
    from sqlalchemy import insert

    from cyberfusion.db import transaction, utcnow
    from cyberfusion.fusion import correlate
    from cyberfusion.intel import search_index
    from cyberfusion.intel.models import Contribution, Observable, StixObject
    from cyberfusion.kit.observables import ip_range
    from cyberfusion.kit.timeutil import parse_ts
    from cyberfusion.products import country_index

    now = utcnow()
    with transaction(world.factory) as s:
        c = _common.bench_contribution(s, world, objects=n, now=now)
        contribution_id, handling_id, org_id = c.id, c.handling_id, c.organisation_id

    values: list[str] = []
    objects: list[dict[str, Any]] = []
    observables: list[dict[str, Any]] = []

    def flush() -> None:
        with transaction(world.factory) as s:
            s.execute(insert(StixObject), objects)
            s.execute(insert(Observable), observables)
        objects.clear()
        observables.clear()

    for i, (kind, value, obj) in enumerate(_common.iter_indicators(n, seed=seed)):
        values.append(value)
        modified = parse_ts(obj["modified"])
        objects.append({"stix_id": obj["id"], "type": "indicator", "spec_version": "2.1", "created": modified,
                        "modified": modified, "created_by_ref": obj["created_by_ref"], "revoked": False,
                        "valid_from": modified, "valid_until": None, "confidence": obj["confidence"],
                        "labels": obj["labels"], "name": obj["name"], "source_ref": None, "target_ref": None,
                        "search_text": obj["name"].lower(),
                        "data": json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                        "contribution_id": contribution_id, "organisation_id": org_id, "handling_id": handling_id,
                        "date_added": now + timedelta(seconds=i // block)})
        start, end = ip_range(value) if kind in ("ipv4-addr", "ipv6-addr") else (None, None)
        observables.append({"kind": kind, "value": value, "range_start": start, "range_end": end,
                            "stix_id": obj["id"], "object_type": "indicator", "contribution_id": contribution_id,
                            "organisation_id": org_id, "handling_id": handling_id, "seen_at": modified,
                            "extra": None})
        if len(objects) == 20_000:
            flush()
    if objects:
        flush()
    with transaction(world.factory) as s:
        correlate.after_import(s, contribution=s.get(Contribution, contribution_id), viewer=world.viewer)
    # The country index as the import's queued job leaves it: without this the first upload's job
    # would locate the whole seeded store inside the timed run (steady state is what is measured).
    with transaction(world.factory) as s:
        country_index.index_contribution(s, contribution_id)
    # Likewise the search index (SQLite: rows written here wait for the search.index job).
    with transaction(world.factory) as s:
        search_index.catch_up(s)
    if world.engine.dialect.name == "postgresql":
        with world.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    _common.clear_value_caches()
    return values


def kept_store(args: argparse.Namespace, n: int, work: Path) -> tuple[_common.World, list[str], float] | None:
    """--keep-store: the seeded store of an earlier run with the same --n, --seed and schema, copied
    into this run's work directory (the copy is what the run writes to; the kept file stays as
    seeded). None when there is none yet: the caller seeds and keeps it."""
    from cyberfusion.db import make_engine, make_sessionmaker, migration_state, transaction
    from cyberfusion.partners import repository
    from cyberfusion.partners import service as partners

    kept = Path(args.keep_store) / f"load-{n}-{args.seed}.db"
    meta = kept.with_suffix(".json")
    if not (kept.exists() and meta.exists()):
        return None
    info = json.loads(meta.read_text())
    db = work / "load.db"
    t = time.perf_counter()
    shutil.copyfile(kept, db)
    # On disk before the run, not 2 GB (at 1M) of dirty pages that the kernel writes back while it
    # runs and that the server's first checkpoint's fsync of the database file waits for.
    with open(db, "rb+") as f:
        os.fsync(f.fileno())
    engine = make_engine(f"sqlite:///{db}")
    current, head = migration_state(engine)
    if current != head or info.get("schema") != head:
        engine.dispose()
        db.unlink()
        print(f"kept store {kept} is at schema {current}, code needs {head}: seeding anew", file=sys.stderr)
        return None
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        member = repository.member_by_email(s, "contributor@bench.example")
        assert member is not None
        viewer = partners.resolve_viewer(s, member)

    def cleanup() -> None:
        engine.dispose()
        for suffix in ("", "-wal", "-shm", "-writer", "-writer-gate", "-writer-urgent"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    print(f"kept store {kept} copied in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return _common.World(engine, factory, viewer, cleanup), info["values"], float(info["seeded"])


def keep_store(args: argparse.Namespace, n: int, world: _common.World, values: list[str], seeded: float) -> None:
    """Copy the freshly seeded store (checkpointed: one file) to --keep-store for later runs."""
    from cyberfusion.db import migration_state

    kept_dir = Path(args.keep_store)
    kept_dir.mkdir(parents=True, exist_ok=True)
    kept = kept_dir / f"load-{n}-{args.seed}.db"
    with world.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        src = conn.exec_driver_sql("PRAGMA database_list").fetchall()[0][2]
    shutil.copyfile(src, kept)
    _current, head = migration_state(world.engine)
    kept.with_suffix(".json").write_text(json.dumps({"n": n, "seed": args.seed, "schema": head, "seeded": seeded,
                                                     "values": values}))


def partner_token(world: _common.World) -> str:
    from cyberfusion.auth import tokens
    from cyberfusion.db import transaction
    from cyberfusion.partners import repository

    with transaction(world.factory) as s:
        return tokens.issue(s, member=repository.member_by_id(s, world.viewer.member_id), expires_days=2).token


# ---------------------------------------------------------------- the server


def server_url(world: _common.World) -> str:
    url = world.engine.url.render_as_string(hide_password=False)
    if world.engine.dialect.name == "postgresql":  # the scratch schema of fresh_world
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3Dbench_load_{os.getpid()}"
    return url


def start_server(database_url: str, data_dir: Path, workers: int, trace: Path | None = None,
                 src: Path = ROOT / "src", gc_trace: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = taxii_bench.free_port()
    # One secret for every worker process: sessions and TAXII cursors must verify in any of them.
    env = {**os.environ, **({"CFC_WRITELOCK_TRACE": str(trace)} if trace else {}),
           **({"CFC_GC_TRACE": str(gc_trace)} if gc_trace else {}),
           "CFC_DATABASE_URL": database_url, "CFC_DATA_DIR": str(data_dir),
           "CFC_SECRET_KEY": secrets.token_urlsafe(48), "CFC_LOG_LEVEL": "warning",
           "PYTHONPATH": os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)}
    cmd = [sys.executable, "-m", "uvicorn", "cyberfusion.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    taxii_bench.wait_up(base + "/healthz", proc)
    # Each server process answers /readyz with 503 while it warms up (ops/warmup.py), and with
    # --workers N the kernel hands each new connection to any of them: 12 answers of 200 in a row
    # all but rule out a process still cold (a server without the warm-up, an older --server-src,
    # is ready at once).
    taxii_bench.wait_up(base + "/readyz", proc, 120.0, ok=True, in_a_row=12)
    return proc, base


def _proc_stats() -> dict[int, tuple[int, int]] | None:
    """pid -> (ppid, utime + stime in ticks) of every process, from /proc; None off Linux."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    stats = {}
    for entry in entries:
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


def process_tree(pid: int, stats: dict[int, tuple[int, int]]) -> set[int]:
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _t) in stats.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process and its descendants; None off Linux."""
    stats = _proc_stats()
    if stats is None:
        return None
    return sum(stats[p][1] for p in process_tree(pid, stats) if p in stats) / os.sysconf("SC_CLK_TCK")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL for the server and its worker processes: a hung worker must not outlive the run."""
    stats = _proc_stats() or {}
    tree = process_tree(proc.pid, stats) - {proc.pid}
    taxii_bench.stop(proc)
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def lock_report(trace: Path, t0: float, t1: float) -> None:
    """--trace-lock: the server's write turns released within the timed run, per holder: how many,
    how long held (from taken to given back), how long waited for (from asked to taken), and the
    share of the run the lock was held by each."""
    turns = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    turns = [t for t in turns if t0 <= t["released"] <= t1]
    by: dict[str, list[dict[str, Any]]] = {}
    for t in turns:
        by.setdefault(t["holder"], []).append(t)
    rows = [("write turns by holder", "turns", "held p50 ms", "p99", "max", "held s", "% of run",
             "waited p50 ms", "p99", "max")]
    span = t1 - t0
    for label, ts in sorted(by.items(), key=lambda kv: -sum(t["released"] - t["taken"] for t in kv[1])):
        held = [t["released"] - t["taken"] for t in ts]
        waited = [t["taken"] - t["asked"] for t in ts]
        rows.append((label[:90], f"{len(ts):,}", f"{_common.pct_ms(held, 50):.1f}", f"{_common.pct_ms(held, 99):.1f}",
                     f"{max(held) * 1000:.1f}", f"{sum(held):.2f}", f"{sum(held) / span:.1%}",
                     f"{_common.pct_ms(waited, 50):.1f}", f"{_common.pct_ms(waited, 99):.1f}",
                     f"{max(waited) * 1000:.1f}"))
    print()
    _common.table(rows)
    held_all = sum(t["released"] - t["taken"] for t in turns)
    print(f"lock held {held_all:.1f} s of {span:.1f} s ({held_all / span:.0%}), {len(turns):,} turns")


def gc_report(trace: Path, t0: float, t1: float) -> None:
    """--trace-gc: the cyclic garbage collector's passes in each server process within the timed
    run, per generation: how many, p50 and longest pause, and their sum. A pass stops every thread
    of its process, the write turn's holder included (docs/operations.md: the collector's full
    passes)."""
    passes = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    passes = [p for p in passes if t0 <= p["start"] <= t1]
    rows = [("collector passes", "generation", "passes", "p50 ms", "max ms", "sum ms")]
    for pid in sorted({p["pid"] for p in passes}):
        for gen in (0, 1, 2):
            ps = [p["seconds"] for p in passes if p["pid"] == pid and p["generation"] == gen]
            if ps:
                rows.append((f"server process {pid}", str(gen), f"{len(ps):,}", f"{_common.pct_ms(ps, 50):.2f}",
                             f"{max(ps) * 1000:.1f}", f"{sum(ps) * 1000:.0f}"))
    print()
    _common.table(rows)


def jobs_settled(world: _common.World, timeout: float = 60.0) -> None:
    """After the warm-up: until the background jobs it queued are done (each of its uploads queues
    a country-index and a search-index job), so that the timed run starts from the steady state
    instead of with a burst of 2 x --warmup jobs that the traffic's own uploads (--upload-rate)
    never make."""
    from sqlalchemy import select

    from cyberfusion.db import utcnow
    from cyberfusion.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with world.engine.connect() as conn:
            due = conn.execute(select(Job.run_after).where(Job.status.in_(("queued", "running")))).scalars().all()
        now = utcnow()
        if not any(at <= now for at in due):
            return
        time.sleep(0.1)
    print(f"warning: background jobs still due after {timeout:.0f} s; the run starts anyway", file=sys.stderr)


# ---------------------------------------------------------------- the client


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds from scheduled arrival to response end
    lags: list[float] = field(default_factory=list)  # seconds from scheduled arrival to a client thread taking it
    sent: int = 0  # requests sent (the rest waited too long for a client thread)
    events: list[tuple[float, float, float]] = field(default_factory=list)  # --timeline: (arrival, lag, latency)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def error(self, key: str, example: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1
        if len(self.examples) < 3:
            self.examples.append(example[:300])


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the start
    kind: str
    value: str = ""  # the looked-up or searched value
    number: int = 0  # uploads: which bundle


def schedule(rates: dict[str, float], duration: float, stored: list[str], seed: int) -> list[Arrival]:
    """Every request of the run, each kind a Poisson process at its rate, merged in time order."""
    pick, fresh = random.Random(seed + 10), random.Random(seed + 11)
    held = set(stored)

    def absent() -> str:
        # The generator's IPv4 space is ~2e8 addresses: with a million stored, about one asked
        # value in 600 would be stored after all and answered (rightly) "hit".
        while (value := _common.observable(fresh)[1]) in held:
            pass
        return value

    out: list[Arrival] = []
    for i, (kind, rate) in enumerate(rates.items()):
        if rate <= 0:
            continue
        clock, t = random.Random(seed + i), 0.0
        while (t := t + clock.expovariate(rate)) < duration:
            if kind == "lookup no-hit":
                out.append(Arrival(t, kind, absent()))
            elif kind in ("lookup hit", "search"):
                out.append(Arrival(t, kind, pick.choice(stored)))
            else:
                out.append(Arrival(t, kind, number=len(out)))
    return sorted(out, key=lambda a: a.at)


class Client:
    """One keep-alive connection (``_common.Http`` per thread): builds each request, checks its answer."""

    def __init__(self, base: str, args: argparse.Namespace, asker_token: str, partner_token: str,
                 cursors: deque[str]) -> None:
        self.args, self.cursors = args, cursors
        self.http = _common.Http(base, timeout=60)
        self.asker = {"Authorization": f"Bearer {asker_token}"}
        self.partner = {"Authorization": f"Bearer {partner_token}"}
        self.taxii = {**_common.basic_auth("contributor@bench.example", partner_token), "Accept": TAXII}

    def __call__(self, a: Arrival, tally: Tally) -> None:
        if a.kind.startswith("lookup"):
            status, body = self.http.post("/api/v1/lookup", headers=self.asker,
                                          json_body={"purpose": "investigation", "values": [a.value]})
            if status != 200:
                return tally.error(f"HTTP {status}", body.decode(errors="replace"))
            answer = json.loads(body)["results"][0]["result"]
            if answer != ("hit" if a.kind == "lookup hit" else "no_hit"):
                tally.error("wrong answer", f"{a.value}: {answer}")
        elif a.kind == "search":
            status, body = self.http.get("/api/v1/search", headers=self.asker,
                                         params={"purpose": "investigation", "q": a.value, "limit": 50})
            if status != 200:
                return tally.error(f"HTTP {status}", body.decode(errors="replace"))
            if not json.loads(body)["items"]:
                tally.error("wrong answer", f"search {a.value}: no items")
        elif a.kind == "healthz (floor)":
            status, body = self.http.get("/healthz")
            if status != 200:
                return tally.error(f"HTTP {status}", body.decode(errors="replace"))
        elif a.kind == "taxii page":
            params: dict[str, Any] = {"limit": self.args.taxii_limit}
            try:
                params["next"] = self.cursors.popleft()  # continue a poller's walk, else start one
            except IndexError:
                pass
            status, body = self.http.get("/taxii2/cfc/collections/all/objects/", params=params, headers=self.taxii)
            if status != 200:
                return tally.error(f"HTTP {status}", body.decode(errors="replace"))
            env = json.loads(body)
            if not env.get("objects"):
                return tally.error("wrong answer", "TAXII page without objects")
            if env.get("more"):
                self.cursors.append(env["next"])
        else:
            objects = list(_common.iter_objects(self.args.upload_size, seed=self.args.seed + 1000 + a.number))
            payload = {"format": "stix", "file_name": f"load-{a.number}.json",
                       "content": {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects},
                       "handling": {"tlp": "amber", "purposes": list(_common.SPEC.purposes), "category": "malware"}}
            status, body = self.http.post("/api/v1/contributions", headers=self.partner, json_body=payload)
            if status != 201:
                return tally.error(f"HTTP {status}", body.decode(errors="replace"))
            got = json.loads(body)
            if not got["created"] or got["errors"] or got["objects"] + got["skipped_versions"] != len(objects):
                tally.error("wrong answer", f"upload: {json.dumps(got)[:200]}")


def drive(make_client: Any, arrivals: list[Arrival], connections: int, warmup: list[Arrival],
          max_wait: float, settle: Any = None) -> tuple[dict[str, Tally], float, tuple[float, float]]:
    """Send every arrival at its time from `connections` threads; (tallies, seconds from start to last
    answer, and that span in time.time()).

    An arrival that waited more than max_wait seconds for a free client thread is not sent but
    counted as an error (and its wait as its latency): the run stays bounded when the server falls
    behind."""
    import http.client

    scratch = Tally()
    first = make_client()
    for a in warmup:  # one at a time, not counted: imports, caches, connections
        first(a, scratch)
    if scratch.errors:
        raise SystemExit(f"warm-up failed: {scratch.errors} {scratch.examples}")
    first.cursors.clear()
    if settle is not None:
        settle()

    tallies = {kind: Tally() for kind in KINDS}
    todo: queue.SimpleQueue[Arrival | None] = queue.SimpleQueue()
    start = time.perf_counter() + 0.2
    wall_start = time.time() + (start - time.perf_counter())

    def work() -> None:
        client = make_client()
        while (a := todo.get()) is not None:
            tally = tallies[a.kind]
            lag = time.perf_counter() - start - a.at
            tally.lags.append(lag)
            if lag > max_wait:
                tally.error("not sent", f"{a.kind}: waited {lag:.1f} s for a client thread")
                tally.latencies.append(lag)
                continue
            tally.sent += 1
            try:
                client(a, tally)
            except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError) as exc:
                tally.error(type(exc).__name__, f"{a.kind}: {exc!r}")
            tally.latencies.append(time.perf_counter() - start - a.at)
            tally.events.append((a.at, lag, tally.latencies[-1]))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(connections)]
    for th in threads:
        th.start()
    for a in arrivals:  # the open loop: nothing here waits for an answer
        delay = start + a.at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        todo.put(a)
    for _ in threads:
        todo.put(None)
    for th in threads:
        th.join()
    return tallies, time.perf_counter() - start, (wall_start, time.time())


def write_timeline(path: Path, tallies: dict[str, Tally], wall_start: float) -> None:
    """--timeline: one CSV row per request sent, in arrival order; times on the trace's clock."""
    import csv

    rows = sorted((wall_start + at, kind, lag, latency) for kind, t in tallies.items() for at, lag, latency in t.events)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["kind", "arrival", "end", "lag_ms", "latency_ms"])
        for at, kind, lag, latency in rows:
            out.writerow([kind, f"{at:.6f}", f"{at + latency:.6f}", f"{lag * 1000:.2f}", f"{latency * 1000:.2f}"])


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=None, help="observables stored (default 1,000,000; --quick 10,000)")
    ap.add_argument("--duration", type=float, default=None, help="seconds of traffic (default 60; --quick 10)")
    ap.add_argument("--quick", action="store_true", help="a small store and a short run (smoke test of the suite)")
    ap.add_argument("--workers", type=int, default=1,
                    help="uvicorn worker processes (default 1; with SQLite they take turns on its write "
                         "lock through the lock file beside it, writelock.py)")
    ap.add_argument("--lookup-rate", type=float, default=RATE_TARGET,
                    help="lookups/s, hit and no-hit together (default 200, the target's rate)")
    ap.add_argument("--hit-share", type=float, default=0.5, help="share of lookups asking a stored value")
    ap.add_argument("--search-rate", type=float, default=5.0, help="searches/s (default 5)")
    ap.add_argument("--taxii-rate", type=float, default=10.0, help="TAXII pages/s (default 10)")
    ap.add_argument("--taxii-limit", type=int, default=100, help="objects per TAXII page (default 100)")
    ap.add_argument("--upload-rate", type=float, default=1.0, help="contribution uploads/s (default 1)")
    ap.add_argument("--upload-size", type=int, default=100, help="indicators per upload (default 100)")
    ap.add_argument("--healthz-rate", type=float, default=5.0,
                    help="GET /healthz/s, the floor: the cheapest request under the same load (default 5)")
    ap.add_argument("--connections", type=int, default=32,
                    help="client threads, each with one keep-alive connection (default 32)")
    ap.add_argument("--max-wait", type=float, default=10.0,
                    help="requests that waited longer for a client thread are dropped as errors (default 10 s)")
    ap.add_argument("--warmup", type=int, default=5, help="uncounted requests of each kind first (default 5)")
    ap.add_argument("--seed", type=int, default=_common.SEED)
    ap.add_argument("--trace-lock", action="store_true",
                    help="SQLite: the server records every write turn (CFC_WRITELOCK_TRACE, writelock.py) "
                         "and the run ends with who held the write lock, how long, and how long each waited")
    ap.add_argument("--trace-gc", action="store_true",
                    help="the server records every garbage-collector pass (CFC_GC_TRACE, kit/gcutil.py) and the "
                         "run ends with the passes per process and generation: how many, p50, longest, sum")
    ap.add_argument("--server-src", default=str(ROOT / "src"), metavar="DIR",
                    help="the source tree the server runs (default this checkout's src): the same client, "
                         "schedule and store against another version, for before/after comparisons")
    ap.add_argument("--keep-store", default=None, metavar="DIR",
                    help="SQLite: keep the seeded store in DIR and, in later runs with the same --n, --seed "
                         "and schema, start from a copy of it instead of seeding again (the copy is written "
                         "to; the kept store stays as seeded)")
    ap.add_argument("--timeline", default=None, metavar="FILE",
                    help="also write every request as a CSV row (kind, arrival and end in time.time() seconds, "
                         "lag and latency in ms), to line the slow ones up with the --trace-lock turns")
    ap.add_argument("--database-url", default=None,
                    help="default: a temporary SQLite file; postgresql+psycopg://... runs in a scratch schema")
    args = ap.parse_args(argv)
    n = args.n if args.n is not None else (10_000 if args.quick else 1_000_000)
    duration = args.duration if args.duration is not None else (10.0 if args.quick else 60.0)
    rates = {"lookup hit": args.lookup_rate * args.hit_share, "lookup no-hit": args.lookup_rate * (1 - args.hit_share),
             "search": args.search_rate, "taxii page": args.taxii_rate, "upload": args.upload_rate,
             "healthz (floor)": args.healthz_rate}

    work = Path(tempfile.mkdtemp(prefix="cfc-bench-load-"))
    server: subprocess.Popen[bytes] | None = None
    if args.keep_store and args.database_url and not args.database_url.startswith("sqlite"):
        raise SystemExit("--keep-store is for the SQLite store only")
    reused = kept_store(args, n, work) if args.keep_store else None
    if reused is not None:
        world, stored, seeded = reused
    else:
        world = _common.fresh_world(args.database_url, work, "load")
    try:
        if reused is None:
            t = time.perf_counter()
            stored = seed(world, n, seed=args.seed)
            seeded = time.perf_counter() - t
            if args.keep_store:
                keep_store(args, n, world, stored, seeded)
        _viewer, asker_token = lookup_bench.asker(world)
        partner = partner_token(world)
        arrivals = schedule(rates, duration, stored, args.seed)
        rng = random.Random(args.seed + 20)
        warmup = [Arrival(0.0, kind, _common.observable(rng)[1] if kind == "lookup no-hit" else rng.choice(stored),
                          number=10**9 + i)
                  for kind in KINDS if rates[kind] > 0 for i in range(args.warmup)]
        print(f"seeded {n:,} in {seeded:.1f} s; {len(arrivals):,} requests over {duration:.0f} s", file=sys.stderr)
        trace = work / "writelock.trace" if args.trace_lock else None
        gc_trace = work / "gc.trace" if args.trace_gc else None
        server, base = start_server(server_url(world), work / "data", args.workers, trace,
                                    Path(args.server_src), gc_trace)
        cursors: deque[str] = deque()

        _common.settle_client_heap()
        load_before = os.getloadavg()
        server_cpu0 = process_tree_cpu(server.pid)
        client_cpu0, wall0 = time.process_time(), time.perf_counter()
        tallies, elapsed, timed = drive(lambda: Client(base, args, asker_token, partner, cursors), arrivals,
                                        args.connections, warmup, args.max_wait, lambda: jobs_settled(world))
        client_cpu = time.process_time() - client_cpu0
        wall = time.perf_counter() - wall0
        server_cpu1 = process_tree_cpu(server.pid)
        load_after = os.getloadavg()
        if trace is not None:
            time.sleep(0.5)  # turns given back just before the end are written
            trace_copy = trace.read_bytes() if trace.exists() else b""
        gc_copy = gc_trace.read_bytes() if gc_trace is not None and gc_trace.exists() else b""
    finally:
        if server is not None:
            stop_server(server)
        world.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(f"cyberfusion load test — {world.engine.dialect.name}, uvicorn workers={args.workers}, 127.0.0.1")
    for k, v in _common.environment():
        print(f"  {k:9} {v}")
    print(f"  {'store':9} {n:,} indicators with their observables, seeded in {seeded:.1f} s (direct inserts "
          f"+ correlation index)")
    print(f"  {'traffic':9} open loop, Poisson arrivals for {duration:.0f} s, {args.connections} client threads; "
          f"latency from scheduled arrival to response end")
    print(f"  {'loadavg':9} {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after (1, 5, 15 min)")
    print()
    rows = [("request", "target/s", "sent/s", "requests", "errors", "not sent", "p50 ms", "p99 ms", "max ms",
             "send-lag p99 ms")]

    def row(name: str, rate: float, group: list[Tally], lag: bool = True) -> tuple[str, ...]:
        lat = [x for tl in group for x in tl.latencies]
        return (name, f"{rate:g}", f"{sum(tl.sent for tl in group) / elapsed:,.1f}", f"{len(lat):,}",
                f"{sum(sum(tl.errors.values()) for tl in group):,}",
                f"{sum(tl.errors.get('not sent', 0) for tl in group):,}", f"{_common.pct_ms(lat, 50):.1f}",
                f"{_common.pct_ms(lat, 99):.1f}", f"{max(lat, default=0) * 1000:.1f}",
                f"{_common.pct_ms([x for tl in group for x in tl.lags], 99):.1f}" if lag else "")

    active = [kind for kind in KINDS if rates[kind] > 0]
    rows += [row(kind, rates[kind], [tallies[kind]]) for kind in active]
    rows.append(row("lookups (hit + no-hit)", args.lookup_rate, [tallies["lookup hit"], tallies["lookup no-hit"]]))
    rows.append(row("all requests", sum(rates.values()), [tallies[k] for k in active]))
    _common.table(rows)
    lookups = tallies["lookup hit"].latencies + tallies["lookup no-hit"].latencies
    errors = sum(sum(tl.errors.values()) for tl in tallies.values())
    sent = sum(tl.sent for tl in tallies.values())
    for kind in KINDS:
        tl = tallies[kind]
        if tl.errors:
            print(f"  {kind} errors: {tl.errors}; e.g. {tl.examples}")
    print()
    cores = os.cpu_count() or 1
    server_cpu = (server_cpu1 - server_cpu0) if server_cpu0 is not None and server_cpu1 is not None else None
    print(f"CPU over {wall:.1f} s on {cores} cores: client {client_cpu:.1f} s ({client_cpu / wall / cores:.0%} of the "
          f"machine)" + (f", server {server_cpu:.1f} s ({server_cpu / wall / cores:.0%} of the machine)"
                         if server_cpu is not None else "") + "; the rest went to other tenants or idle")
    if server_cpu is not None and sent:
        print(f"server CPU per request sent: {server_cpu / sent * 1000:.1f} ms on average over this mix "
              f"(so at most ~{sent / server_cpu:,.0f} requests/s per busy core)")
    if args.trace_lock:
        kept = Path(tempfile.mkstemp(prefix="cfc-load-trace-")[1])
        kept.write_bytes(trace_copy)
        lock_report(kept, *timed)
        print(f"(trace kept in {kept})")
    if args.trace_gc:
        kept = Path(tempfile.mkstemp(prefix="cfc-load-gc-")[1])
        kept.write_bytes(gc_copy)
        gc_report(kept, *timed)
        print(f"(collector trace kept in {kept}; CFC_GC_TRACE, kit/gcutil.py)")
    if args.timeline:
        write_timeline(Path(args.timeline), tallies, timed[0])
        print(f"(timeline of every request in {args.timeline})")
    p99 = _common.pct_ms(lookups, 99)
    met = errors == 0 and p99 < P99_TARGET_MS and args.lookup_rate >= RATE_TARGET
    print(f"target (issue 11): 0 errors and lookup p99 < {P99_TARGET_MS:.0f} ms at >= {RATE_TARGET:.0f} lookups/s "
          f"on two cores: {errors} errors, lookup p99 {p99:.1f} ms at {args.lookup_rate:g}/s on {cores} cores, "
          f"{n:,} observables -> {'met' if met else 'NOT met'}"
          + ("" if n >= 1_000_000 else " (at a smaller store than the target's 1,000,000)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
