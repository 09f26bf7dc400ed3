"""Correlation storage grows with observables, not with pairs: rows written by ingest, printed.

    cd /work/main && PYTHONPATH=src python benchmarks/correlation.py [--n 1000000] [--compare]

Five sources each import --files bundles (STIX, through the real pipeline and its fusion
hook). Of the --n observables, 10% recur across all five sources, one value recurs --hot
(10,000) times spread over every file, the rest are unique. Printed: the rows written to
each table per observable, beside the rows a pairwise correlation table would need for the
same data (sum over values of k*(k-1)/2 for a value seen k times). With --compare the same
files are imported again with the fusion hook switched off, for the ingest cost ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

HOT_VALUE = ("ipv4-addr", "203.0.113.66")


def plan(n: int, sources: int, files: int, recur: float, hot: int, seed: int) -> list[list[list[tuple[str, str]]]]:
    """values[source][file] = the (kind, value) of each indicator in that file."""
    rng = random.Random(seed)
    per_source = n // sources
    recurring = [_common.observable(rng) for _ in range(int(recur * per_source))]
    hot_per_file = hot // (sources * files)
    out = []
    for s in range(sources):
        fresh = random.Random(seed * 31 + s)
        unique = per_source - len(recurring) - hot_per_file * files
        own = [_common.observable(fresh) for _ in range(max(unique, 0))]
        chunks: list[list[tuple[str, str]]] = [[] for _ in range(files)]
        for i, v in enumerate(recurring + own):
            chunks[i % files].append(v)
        for chunk in chunks:
            chunk.extend([HOT_VALUE] * hot_per_file)
        out.append(chunks)
    return out


def write_file(path: Path, values: list[tuple[str, str]], source: int, seed: int) -> None:
    from cyberfusion.kit.observables import to_pattern

    rng = random.Random(seed)
    created = "2026-10-01T00:00:00.000Z"
    with path.open("w", encoding="utf-8") as f:
        f.write('{"type": "bundle", "id": "bundle--%s", "objects": [\n' % uuid.UUID(int=rng.getrandbits(128), version=4))
        for i, (kind, value) in enumerate(values):
            if i:
                f.write(",\n")
            f.write(json.dumps({
                "type": "indicator", "spec_version": "2.1",
                "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}", "created": created,
                "modified": created, "name": f"source {source}: {kind}", "pattern": to_pattern(kind, value),
                "pattern_type": "stix", "valid_from": created}))
        f.write("\n]}\n")


def sources_world(world: _common.World, count: int) -> list[Any]:
    """The bench partner plus count-1 more vetted partners under agreements; their viewers."""
    from cyberfusion.db import transaction
    from cyberfusion.partners import service as partners
    from cyberfusion.partners.models import CATEGORIES
    from cyberfusion.sharing.markings import PURPOSES

    viewers = [world.viewer]
    today = date.today()
    with transaction(world.factory) as s:
        for i in range(1, count):
            org = partners.create_organisation(s, name=f"Bench Source {i}", kind="private", sector="telecom",
                                               country="DE")
            partners.vet_organisation(s, org=org, decision="approved", reviewer="bench@host.example",
                                      today=today - timedelta(days=30))
            partners.add_agreement(s, org=org, reference=f"DSA-SRC-{i}", valid_from=today - timedelta(days=30),
                                   valid_until=today + timedelta(days=365), tlp_ceiling="amber",
                                   contribute=list(CATEGORIES), receive=list(CATEGORIES), purposes=list(PURPOSES))
            member = partners.add_member(s, email=f"src{i}@bench.example", name=f"Source {i}", org=org,
                                         roles=["contributor"])
            viewers.append(partners.resolve_viewer(s, member, today=today))
    return viewers


def ingest(world: _common.World, viewers: list[Any], files: list[list[Path]]) -> tuple[float, float, int]:
    from cyberfusion.db import transaction
    from cyberfusion.ingest.pipeline import import_file

    _common.clear_value_caches()
    objects = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for viewer, paths in zip(viewers, files):
        for path in paths:
            with transaction(world.factory) as s:
                objects += import_file(s, viewer=viewer, path=path, fmt="stix", spec=_common.SPEC).objects
    return time.perf_counter() - wall, time.process_time() - cpu, objects


def counts(world: _common.World) -> dict[str, int]:
    from sqlalchemy import text

    with world.engine.connect() as conn:
        out = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
               for t in ("observables", "fusion_terms", "fusion_values", "fusion_ip_prefixes")}
        out["pairs"] = conn.execute(text(
            "SELECT coalesce(sum(k * (k - 1) / 2), 0) FROM (SELECT count(*) AS k FROM observables "
            "GROUP BY value, kind) AS g")).scalar_one()
        out["distinct"] = conn.execute(text(
            "SELECT count(*) FROM (SELECT DISTINCT value, kind FROM observables) AS d")).scalar_one()
        out["hot_contributions"] = conn.execute(text(
            "SELECT contributions FROM fusion_values WHERE value = :v AND kind = :k"),
            {"v": HOT_VALUE[1], "k": HOT_VALUE[0]}).scalar_one()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="observables in all (default 1,000,000)")
    ap.add_argument("--sources", type=int, default=5)
    ap.add_argument("--files", type=int, default=10, help="bundles (contributions) per source")
    ap.add_argument("--recur", type=float, default=0.10, help="share of observables recurring across all sources")
    ap.add_argument("--hot", type=int, default=10_000, help="times one value recurs")
    ap.add_argument("--seed", type=int, default=_common.SEED)
    ap.add_argument("--compare", action="store_true", help="also import with the fusion hook off (cost ratio)")
    args = ap.parse_args(argv)

    from cyberfusion.config import get_settings
    from cyberfusion.fusion import correlate

    with tempfile.TemporaryDirectory(prefix="cfc-bench-corr-") as tmp:
        work = Path(tmp)
        layout = plan(args.n, args.sources, args.files, args.recur, args.hot, args.seed)
        files = []
        for s, chunks in enumerate(layout):
            paths = []
            for f, values in enumerate(chunks):
                path = work / f"source{s}-{f}.json"
                write_file(path, values, s, args.seed + 1000 * s + f)
                paths.append(path)
            files.append(paths)
        _common.clear_value_caches()
        print("cyberfusion correlation storage benchmark")
        for k, v in _common.environment():
            print(f"  {k:9} {v}")
        print(f"  {'data':9} {sum(len(c) for ch in layout for c in ch):,} indicators, one observable each; "
              f"{args.sources} sources x {args.files} files; {args.recur:.0%} recur across all sources; "
              f"{HOT_VALUE[1]} recurs {args.hot:,} times")
        print()

        world = _common.fresh_world(None, work, "corr")
        try:
            viewers = sources_world(world, args.sources)
            wall, cpu, objects = ingest(world, viewers, files)
            rows = counts(world)
        finally:
            world.cleanup()
        off = None
        if args.compare:
            real = correlate.after_import
            correlate.after_import = lambda *a, **k: None  # type: ignore[assignment]
            world = _common.fresh_world(None, work, "corr-off")
            try:
                off = ingest(world, sources_world(world, args.sources), files)
            finally:
                correlate.after_import = real  # type: ignore[assignment]
                world.cleanup()

    n = rows["observables"]
    written = rows["fusion_terms"] + rows["fusion_values"] + rows["fusion_ip_prefixes"]
    print(f"ingest with correlation: {objects:,} objects in {wall:.1f} s wall, {cpu:.1f} s cpu "
          f"({objects / wall:,.0f} objects/s wall)")
    _common.table([
        ("table", "rows", "rows per observable"),
        ("observables (the index, written by ingest anyway)", f"{n:,}", "1.000"),
        ("fusion_terms (hosts of URLs, e-mails, domains; URL IPs)", f"{rows['fusion_terms']:,}",
         f"{rows['fusion_terms'] / n:.3f}"),
        ("fusion_values (per-value aggregates)", f"{rows['fusion_values']:,}", f"{rows['fusion_values'] / n:.3f}"),
        ("fusion_ip_prefixes", f"{rows['fusion_ip_prefixes']:,}", f"{rows['fusion_ip_prefixes'] / n:.6f}"),
        ("all correlation rows written", f"{written:,}", f"{written / n:.3f}"),
        ("a pairwise table for the same data (sum k(k-1)/2)", f"{rows['pairs']:,}", f"{rows['pairs'] / n:.1f}"),
    ])
    print(f"   correlation rows / pairwise rows = {written / max(rows['pairs'], 1):.4f}; "
          f"{rows['distinct']:,} distinct values; the hot value is in {rows['hot_contributions']} contributions "
          f"(common above {get_settings().common_threshold}: "
          f"{'yes' if rows['hot_contributions'] > get_settings().common_threshold else 'no'})")
    if off is not None:
        print(f"   ingest without the fusion hook: {off[2]:,} objects in {off[0]:.1f} s wall, {off[1]:.1f} s cpu; "
              f"with / without = {objects / wall / (off[2] / off[0]):.3f}x wall, {off[1] / cpu:.3f}x cpu rate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
