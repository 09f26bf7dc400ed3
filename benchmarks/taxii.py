"""TAXII 2.1 server speed over HTTP, against the OASIS reference server (medallion) in the same run.

    cd /work/main && PYTHONPATH=src python benchmarks/taxii.py [--n 100000] [--medallion-n 2000]
        [--limit 1000] [--lookups 1000] [--post 10000] [--database-url URL]

Both servers run as separate processes on 127.0.0.1 and are read by the same client code
(requests, keep-alive, JSON parsed per page). Prints objects/s paging a whole collection,
match[id] latency percentiles and POST throughput, with ratios ours / medallion.

The store is filled by inserting rows directly (the ingest pipeline has its own benchmark):
one contribution's handling, date_added shared by blocks of 10,000 rows as after real imports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TAXII = "application/taxii+json;version=2.1"
PAGING_TARGET = 50_000  # objects/s over HTTP on SQLite
RATIO_TARGET = 100.0
P99_TARGET_MS = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, *, ok: bool = False,
            in_a_row: int = 1) -> None:
    """Until `url` answers (with ``ok``: answers 200, e.g. /readyz once the warm-up is done) `in_a_row`
    times running, each request on a new connection."""
    import requests
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            answered = requests.get(url, timeout=5).status_code == 200 or not ok
        except requests.RequestException:
            answered = False
        streak = streak + 1 if answered else 0
        if streak >= in_a_row:
            return
        if not answered:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# ---------------------------------------------------------------- our store


def seed(world: _common.World, n: int, *, block: int = 10_000) -> list[str]:
    """n indicators of the benchmark partner, stored as the pipeline stores them; returns their ids."""
    from sqlalchemy import insert

    from cyberfusion.db import transaction
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.intel.models import StixObject
    from cyberfusion.kit.timeutil import parse_ts

    work = Path(tempfile.mkdtemp())
    try:
        first = work / "first.json"
        _common.write_bundle(first, 1)
        with transaction(world.factory) as s:
            result = import_file(s, viewer=world.viewer, path=first, fmt="stix", spec=_common.SPEC)
            row = s.query(StixObject).filter(StixObject.contribution_id == result.contribution_id).first()
            contribution_id, handling_id, org_id = row.contribution_id, row.handling_id, row.organisation_id
            start = row.date_added
    finally:
        shutil.rmtree(work)
    ids: list[str] = []
    rows: list[dict[str, Any]] = []
    objects = _common.iter_objects(n, seed=_common.SEED + 1)
    next(objects)  # the identity is already stored
    for i, obj in enumerate(objects):
        ids.append(obj["id"])
        modified = parse_ts(obj["modified"])
        rows.append({"stix_id": obj["id"], "type": obj["type"], "spec_version": "2.1", "created": modified,
                     "modified": modified, "created_by_ref": obj["created_by_ref"], "revoked": False,
                     "valid_from": modified, "valid_until": None, "confidence": obj["confidence"],
                     "labels": obj["labels"], "name": obj["name"], "source_ref": None, "target_ref": None,
                     "search_text": obj["name"].lower(),
                     "data": json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                     "contribution_id": contribution_id, "organisation_id": org_id, "handling_id": handling_id,
                     "date_added": start + timedelta(seconds=1 + i // block)})
        if len(rows) == 20_000:
            with transaction(world.factory) as s:
                s.execute(insert(StixObject), rows)
            rows.clear()
    if rows:
        with transaction(world.factory) as s:
            s.execute(insert(StixObject), rows)
    if world.engine.dialect.name == "postgresql":
        with world.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return ids


def start_ours(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "CFC_DATABASE_URL": database_url, "CFC_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(ROOT / "src"), "CFC_LOG_LEVEL": "warning",
           # The read path alone: no background jobs (the seed's import queued a 100k-row country
           # indexing job) in the server process while it is timed.
           "CFC_INPROCESS_WORKER": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "cyberfusion.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--no-access-log"], env=env)
    wait_up(f"http://127.0.0.1:{port}/readyz", proc, ok=True)  # its warm-up (ops/warmup.py) done
    return proc, f"http://127.0.0.1:{port}/taxii2/cfc/"


# ---------------------------------------------------------------- medallion


def medallion_data(n: int) -> tuple[dict[str, Any], list[str]]:
    objects, manifest, ids = [], [], []
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i, obj in enumerate(_common.iter_objects(n - 1, seed=_common.SEED + 2)):
        objects.append(obj)
        ids.append(obj["id"])
        manifest.append({"id": obj["id"], "date_added": (base + timedelta(milliseconds=i)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"), "version": obj["modified"], "media_type": "application/stix+json;version=2.1"})
    collection = {"id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116", "title": "bench", "can_read": True,
                  "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                  "objects": objects, "manifest": manifest}
    data = {"/discovery": {"title": "bench", "default": "http://127.0.0.1/bench/", "api_roots": ["bench"]},
            "bench": {"information": {"title": "bench", "versions": [TAXII], "max_content_length": 100_000_000},
                      "status": [], "collections": [collection]}}
    return data, ids


def start_medallion(work: Path, n: int, page: int) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    data, ids = medallion_data(n)
    (work / "medallion-data.json").write_text(json.dumps(data))
    config = {"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                          "filename": str(work / "medallion-data.json")},
              "users": {"bench": "bench-password"}, "taxii": {"max_page_size": page}}
    (work / "medallion.json").write_text(json.dumps(config))
    port = free_port()
    exe = shutil.which("medallion")
    if exe is None:
        raise SystemExit("medallion is not installed: pip install medallion (a test dependency)")
    proc = subprocess.Popen([exe, "--host", "127.0.0.1", "--port", str(port), "--log-level", "ERROR",
                             str(work / "medallion.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/taxii2/", proc)
    return proc, f"http://127.0.0.1:{port}/bench/", ids


# ---------------------------------------------------------------- the client side (same for both)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def page_all(session: Any, collection_url: str, limit: int) -> tuple[int, float, int]:
    """(objects, seconds, pages) reading the whole collection with limit/next; every page is
    decoded whole (json.loads), as a client that uses the objects must."""
    count, pages, nxt = 0, 0, None
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": limit}
        if nxt:
            params["next"] = nxt
        r = session.get(collection_url + "objects/", params=params, headers={"Accept": TAXII})
        r.raise_for_status()
        env = json.loads(r.content)
        count += len(env.get("objects", ()))
        pages += 1
        if not env.get("more"):
            break
        nxt = env["next"]
    return count, time.perf_counter() - started, pages


def lookups(session: Any, collection_url: str, ids: list[str], k: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for stix_id in (rng.choice(ids) for _ in range(k)):
        t = time.perf_counter()
        r = session.get(collection_url + "objects/", params={"match[id]": stix_id}, headers={"Accept": TAXII})
        r.raise_for_status()
        assert json.loads(r.content)["objects"][0]["id"] == stix_id
        times.append((time.perf_counter() - t) * 1000)
    return times


def post_all(session: Any, collection_url: str, n: int, envelope: int, seed: int) -> tuple[int, float]:
    objects = list(_common.iter_objects(n, seed=seed))[1:]
    started = time.perf_counter()
    done = 0
    for i in range(0, len(objects), envelope):
        body = json.dumps({"objects": objects[i:i + envelope]})
        r = session.post(collection_url + "objects/", data=body,
                         headers={"Accept": TAXII, "Content-Type": TAXII})
        r.raise_for_status()
        status = r.json()
        assert status["failure_count"] == 0, status
        done += status["success_count"]
    return done, time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    import requests

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="objects in our collection (default 100,000)")
    ap.add_argument("--medallion-n", type=int, default=2_000, help="objects in medallion's (default 2,000)")
    ap.add_argument("--limit", type=int, default=1000, help="page size (default 1000)")
    ap.add_argument("--lookups", type=int, default=1000, help="match[id] requests timed (default 1000)")
    ap.add_argument("--post", type=int, default=10_000, help="objects POSTed (default 10,000)")
    ap.add_argument("--envelope", type=int, default=1000, help="objects per POST (default 1000)")
    ap.add_argument("--database-url", default=None,
                    help="default: a temporary SQLite file; postgresql+psycopg://... runs in a scratch schema")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cfc-bench-taxii-"))
    procs: list[subprocess.Popen[bytes]] = []
    world = _common.fresh_world(args.database_url, work, "taxii")
    try:
        from cyberfusion.auth import tokens
        from cyberfusion.db import transaction
        from cyberfusion.partners import repository
        with transaction(world.factory) as s:
            token = tokens.issue(s, member=repository.member_by_id(s, world.viewer.member_id)).token
        t = time.perf_counter()
        ids = seed(world, args.n)
        seeded = time.perf_counter() - t
        url = world.engine.url.render_as_string(hide_password=False)
        if world.engine.dialect.name == "postgresql":
            schema = f"bench_taxii_{os.getpid()}"
            url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
        ours, ours_url = start_ours(url, work / "data")
        procs.append(ours)
        med, med_url, med_ids = start_medallion(work, args.medallion_n, args.limit)
        procs.append(med)

        s_ours = requests.Session()
        s_ours.auth = ("contributor@bench.example", token)
        s_med = requests.Session()
        s_med.auth = ("bench", "bench-password")
        coll = "collections/all/"
        med_coll = "collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"

        page_all(s_ours, ours_url + coll, args.limit)  # warm caches and connections once
        _common.settle_client_heap()
        # CPU time of each side: wall-clock on a shared two-core machine says little, and the client's
        # own decoding (json.loads of every page) competes with the server for the same cores.
        srv0, cli0 = cpu_seconds(ours.pid), time.process_time()
        n_ours, t_ours, p_ours = page_all(s_ours, ours_url + coll, args.limit)
        srv_ours, cli_ours = cpu_seconds(ours.pid) - srv0, time.process_time() - cli0
        srv0, cli0 = cpu_seconds(med.pid), time.process_time()
        n_med, t_med, p_med = page_all(s_med, med_url + med_coll, args.limit)
        srv_med, cli_med = cpu_seconds(med.pid) - srv0, time.process_time() - cli0
        rate_ours, rate_med = n_ours / t_ours, n_med / t_med
        lat_ours = lookups(s_ours, ours_url + coll, ids, args.lookups)
        lat_med = lookups(s_med, med_url + med_coll, med_ids, min(args.lookups, 200))
        posted, t_post = post_all(s_ours, ours_url + "collections/inbox/", args.post, args.envelope, _common.SEED + 3)
        m_posted, t_m_post = post_all(s_med, med_url + med_coll, min(args.post, args.medallion_n),
                                      args.envelope, _common.SEED + 4)

        print(f"TAXII 2.1 over HTTP on 127.0.0.1 — {world.engine.dialect.name}, limit={args.limit}")
        for k, v in _common.environment():
            print(f"  {k}: {v}")
        print(f"  seeded {args.n:,} objects in {seeded:.1f}s (direct inserts)\n")
        _common.table([
            ("measurement", "cyberfusion", "medallion (memory)", "ratio"),
            ("collection size", f"{n_ours:,}", f"{n_med:,}", ""),
            ("paging objects/s", _common.fmt_rate(rate_ours), _common.fmt_rate(rate_med), f"{rate_ours / rate_med:,.0f}x"),
            ("pages", f"{p_ours}", f"{p_med}", ""),
            ("server CPU ms per page", f"{srv_ours / p_ours * 1000:.1f}", f"{srv_med / p_med * 1000:.1f}",
             f"{(srv_med / p_med) / (srv_ours / p_ours) * (n_ours / p_ours) / (n_med / p_med):,.0f}x per object"),
            ("client CPU ms per page (requests + json.loads)", f"{cli_ours / p_ours * 1000:.1f}",
             f"{cli_med / p_med * 1000:.1f}", ""),
            ("objects per server CPU second", _common.fmt_rate(n_ours / srv_ours), _common.fmt_rate(n_med / srv_med),
             f"{(n_ours / srv_ours) / (n_med / srv_med):,.0f}x"),
            ("match[id] p50 ms", f"{pct(lat_ours, 50):.2f}", f"{pct(lat_med, 50):.2f}",
             f"{pct(lat_med, 50) / pct(lat_ours, 50):,.1f}x"),
            ("match[id] p99 ms", f"{pct(lat_ours, 99):.2f}", f"{pct(lat_med, 99):.2f}",
             f"{pct(lat_med, 99) / pct(lat_ours, 99):,.1f}x"),
            (f"POST objects/s (envelopes of {args.envelope})", _common.fmt_rate(posted / t_post),
             _common.fmt_rate(m_posted / t_m_post), f"{(posted / t_post) / (m_posted / t_m_post):,.1f}x"),
        ])
        print()
        print(f"paging target ≥ {PAGING_TARGET:,} objects/s: {'met' if rate_ours >= PAGING_TARGET else 'NOT met'}; "
              f"ratio target ≥ {RATIO_TARGET:.0f}x: {'met' if rate_ours / rate_med >= RATIO_TARGET else 'NOT met'}; "
              f"match[id] p99 < {P99_TARGET_MS:.0f} ms at {n_ours:,}: "
              f"{'met' if pct(lat_ours, 99) < P99_TARGET_MS else 'NOT met'}")
        print(f"One client process pages and decodes every page: its own CPU ({cli_ours / p_ours * 1000:.1f} ms a "
              f"page) and the server's ({srv_ours / p_ours * 1000:.1f} ms) share two cores, so objects/s over HTTP "
              f"is bounded by both; 'objects per server CPU second' is what the server alone sustains per core.")
        print(f"(match[id] mean {statistics.mean(lat_ours):.2f} ms over {len(lat_ours)} requests; "
              f"POSTed {posted:,} objects through the ingest pipeline in {t_post:.1f}s)")
        return 0
    finally:
        for p in procs:
            stop(p)
        world.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
