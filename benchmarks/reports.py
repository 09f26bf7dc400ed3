"""Country reports for every country from N stored observables, against one full scan as the floor.

    cd /work/main && PYTHONPATH=src python benchmarks/reports.py [--n 1000000] [--countries 60] [--pdf]
        [--keep PATH | --store PATH]

Sets up a fresh SQLite database (or --database-url) with a national bureau per country,
five partners' contributions and N observables (with their indicator objects) written in
bulk, then times in the same process:
  floor   one full scan of the observables table (every column the reports read),
  reports ``products.service.generate(--all)``: compile + HTML + STIX + CSV, records, audit.
  index   building the per-observable country index for the bulk-written rows (what the
          import pipeline's hook does at ingest), reported apart.
Target (issue 7): all reports < 10 s on SQLite for 1M observables. Nothing passes or fails here.

CPU is this process's and, from 2026-11-27, its children's (a large run hands some countries to a
worker process, ``products.worker``). ``--keep PATH`` keeps the seeded (and indexed) SQLite store
at PATH before the reports are made; ``--store PATH`` skips the setup and runs on a copy of such
a store (the run writes its records into the copy; the store stays as seeded, so every run is
the same first run; the index step then finds nothing to do).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SEED = 20261010
NS = uuid.UUID("1f6c1c1e-8f5e-4f0a-9c55-6a2f6b0f3d11")
COUNTRIES = ["US", "CN", "DE", "GB", "FR", "JP", "KR", "BR", "IN", "RU", "NL", "CA", "AU", "IT", "ES", "PL", "SE", "CH", "TR", "MX", "AR", "ZA", "NG", "KE", "EG", "SA", "AE", "IL", "ID", "VN", "TH", "MY", "SG", "PH", "PK", "BD", "UA", "RO", "CZ", "AT", "BE", "DK", "FI", "NO", "PT", "GR", "HU", "IE", "NZ", "CL", "CO", "PE", "MA", "DZ", "TN", "GH", "KZ", "IR"]
TLDS = ["com", "net", "org", "xyz", "top", "ru", "cn", "br", "de", "fr", "uk", "jp", "in", "ng", "za", "au",
        "ke", "eg", "sa", "ar", "it", "es", "pl", "io"]


def setup(url: str, n: int, countries: list[str]) -> tuple[object, int]:
    from sqlalchemy import insert

    from cyberfusion.db import make_engine, make_sessionmaker, transaction, upgrade
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.intel.models import Observable, StixObject
    from cyberfusion.kit.observables import to_pattern
    from cyberfusion.partners import service as partners
    from cyberfusion.sharing.handling import HandlingSpec

    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    rng = random.Random(SEED)
    today = date.today()
    contributions = []
    with transaction(factory) as s:
        host = partners.create_organisation(s, name="Bench Centre", kind="host_centre", country="SG")
        analyst = partners.add_member(s, email="analyst@bench.example", name="a", org=host, roles=["analyst"])
        for cc in countries:
            org = partners.create_organisation(s, name=f"NCB {cc}", kind="national_bureau", country=cc)
            partners.vet_organisation(s, org=org, decision="approved", reviewer="bench")
            partners.add_agreement(s, org=org, reference=f"DSA-{cc}", valid_from=today - timedelta(days=10),
                                   valid_until=today + timedelta(days=300), tlp_ceiling="amber+strict",
                                   contribute=["malware", "phishing"],
                                   receive=["phishing", "malware", "ransomware", "bec", "fraud", "botnet"],
                                   purposes=["threat_reporting", "investigation"])
        specs = [HandlingSpec(tlp="green", category="malware"), HandlingSpec(tlp="amber", category="phishing"),
                 HandlingSpec(tlp="green", category="ransomware", attribution="sector"),
                 HandlingSpec(tlp="amber", category="fraud", denied_countries=("RU", "CN")),
                 HandlingSpec(tlp="green", category="botnet", no_further_dissemination=True)]
        for i, spec in enumerate(specs):
            org = partners.create_organisation(s, name=f"Partner {i}", kind="private", sector="internet_security",
                                               country="FI")
            partners.vet_organisation(s, org=org, decision="approved", reviewer="bench")
            partners.add_agreement(s, org=org, reference=f"DSA-P{i}", valid_from=today - timedelta(days=10),
                                   valid_until=today + timedelta(days=300), tlp_ceiling="amber",
                                   contribute=[spec.category], receive=[], purposes=["threat_reporting"])
            member = partners.add_member(s, email=f"p{i}@bench.example", name="p", org=org, roles=["contributor"])
            path = Path(tempfile.mkdtemp()) / "seed.json"
            path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
                {"type": "identity", "spec_version": "2.1", "id": f"identity--{uuid.uuid4()}", "name": f"P{i}",
                 "created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z"}]}))
            viewer = partners.resolve_viewer(s, member)
            result = import_file(s, viewer=viewer, path=path, fmt="stix", spec=spec)
            from cyberfusion.intel.models import Contribution
            c = s.get(Contribution, result.contribution_id)
            contributions.append((c.id, c.handling_id, org.id))
        analyst_id = analyst.id
    start = datetime(2026, 10, 1, tzinfo=UTC)
    batch_obs, batch_obj = [], []
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for i in range(n):
            cid, hid, org = contributions[i % len(contributions)]
            r = rng.random()
            if r < 0.35:
                kind, value = "ipv4-addr", f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
            elif r < 0.60:
                kind, value = "domain-name", f"host{rng.randrange(10**7)}.{rng.choice(TLDS)}"
            elif r < 0.75:
                kind, value = "url", f"http://site{rng.randrange(10**7)}.{rng.choice(TLDS)}/p/{i}"
            elif r < 0.80:
                kind, value = "email-addr", f"x{i}@mail{rng.randrange(10**5)}.{rng.choice(TLDS)}"
            else:
                kind, value = "sha256", f"{rng.getrandbits(256):064x}"
            sid = f"indicator--{uuid.uuid5(NS, str(i))}"
            seen = start + timedelta(seconds=rng.randrange(30 * 86400))
            batch_obs.append({"kind": kind, "value": value, "range_start": None, "range_end": None, "stix_id": sid,
                              "object_type": "indicator", "contribution_id": cid, "organisation_id": org,
                              "handling_id": hid, "seen_at": seen, "extra": None})
            batch_obj.append({"stix_id": sid, "type": "indicator", "spec_version": "2.1", "created": seen,
                              "modified": seen, "created_by_ref": None, "revoked": False, "valid_from": seen,
                              "valid_until": None, "confidence": rng.choice([40, 60, 80]), "labels": None,
                              "name": None, "source_ref": None, "target_ref": None, "search_text": None,
                              "data": json.dumps({"type": "indicator", "id": sid, "pattern": to_pattern(kind, value)}),
                              "contribution_id": cid, "organisation_id": org, "handling_id": hid,
                              "date_added": seen})
            if len(batch_obs) == 20_000:
                conn.execute(insert(Observable), batch_obs)
                conn.execute(insert(StixObject), batch_obj)
                batch_obs.clear()
                batch_obj.clear()
        if batch_obs:
            conn.execute(insert(Observable), batch_obs)
            conn.execute(insert(StixObject), batch_obj)
    print(f"setup: {n:,} observables written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return engine, analyst_id


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--countries", type=int, default=len(COUNTRIES))
    ap.add_argument("--database-url")
    ap.add_argument("--pdf", action="store_true", help="also time one PDF")
    ap.add_argument("--keep", help="SQLite file: keep the seeded, indexed store there (before the reports)")
    ap.add_argument("--store", help="SQLite file seeded by --keep: run on a copy of it, no setup")
    args = ap.parse_args()
    countries = COUNTRIES[:args.countries]
    if args.store:
        from sqlalchemy import text

        from cyberfusion.db import make_engine, upgrade
        copy = Path(tempfile.mkdtemp()) / "bench.db"
        shutil.copyfile(args.store, copy)
        engine = make_engine(f"sqlite:///{copy}")
        upgrade(engine)  # a store kept by an older revision
        with engine.connect() as conn:
            analyst_id = conn.execute(text("SELECT id FROM members WHERE email = 'analyst@bench.example'")).scalar()
            args.n = conn.execute(text("SELECT count(*) FROM observables")).scalar()
    else:
        url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        engine, analyst_id = setup(url, args.n, countries)

    from sqlalchemy import select

    from cyberfusion.db import make_sessionmaker, transaction
    from cyberfusion.intel.models import Observable
    from cyberfusion.partners import repository
    from cyberfusion.partners import service as partners
    from cyberfusion.products import country_index, geo, render, service

    geo.locate_ip("8.8.8.8")  # load the geolocation data outside the timings (once per process)
    factory = make_sessionmaker(engine)
    o = Observable
    t0, c0 = time.perf_counter(), time.process_time()
    with engine.connect() as conn:
        rows = sum(1 for _ in conn.execute(select(o.kind, o.value, o.stix_id, o.object_type, o.contribution_id,
                                                  o.handling_id, o.organisation_id, o.seen_at)
                                           .execution_options(yield_per=20_000)))
    floor, floor_cpu = time.perf_counter() - t0, time.process_time() - c0

    # The observables were written around the import pipeline, so its hook did not index them:
    # index them as ingest would (timed apart: an ingest-side cost, paid once per observable).
    t0 = time.perf_counter()
    with transaction(factory) as s:
        indexed = country_index.reindex(s)
    index_time = time.perf_counter() - t0
    if args.keep:
        engine.dispose()
        shutil.copyfile(engine.url.database, args.keep)

    def children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    t0, c0, w0 = time.perf_counter(), time.process_time(), children_cpu()
    with transaction(factory) as s:
        viewer = partners.resolve_viewer(s, repository.member_by_id(s, analyst_id))
        batch = service.generate(s, viewer=viewer, period="2026-10", all_countries=True, k=3,
                                 formats=("html", "stix", "csv"))
    total, own_cpu, worker_cpu = time.perf_counter() - t0, time.process_time() - c0, children_cpu() - w0
    total_cpu = own_cpu + worker_cpu
    reports = len(batch.reports)
    items = sum(g.report.size() for g in batch.reports)
    print(f"observables           {rows:>12,}")
    print(f"countries (reports)   {reports:>12}")
    print(f"items in reports      {items:>12,}")
    print(f"floor: full scan      {floor:>11.2f} s   ({floor_cpu:.2f} s CPU)")
    print(f"country index (ingest){index_time:>11.2f} s   ({indexed['linked']:,} observables linked, once)")
    print(f"all reports           {total:>11.2f} s   ({total / max(1, reports):.3f} s per report; "
          f"{total_cpu:.2f} s CPU, {total_cpu / max(1, reports):.3f} s per report)")
    print(f"  CPU of this process {own_cpu:>11.2f} s   (of a worker process: {worker_cpu:.2f} s)")
    print(f"ratio reports / scan  {total / floor:>11.1f} x   ({total_cpu / max(floor_cpu, 1e-9):.1f} x on CPU)")
    print(f"target                  < 10 s for 1M on SQLite: {'met' if total < 10 else 'not met'} (n={args.n:,})")
    if args.pdf:
        g = max(batch.reports, key=lambda g: g.report.size())
        t0 = time.perf_counter()
        pdf = render.pdf(g.files["html"].decode())
        print(f"one PDF ({g.report.country}, {g.report.size():,} items, {len(pdf):,} bytes) "
              f"{time.perf_counter() - t0:.2f} s")
    top = sorted(batch.summary_rows(), key=lambda r: -r["items"])[:3]
    print("largest:", ", ".join(f"{r['country']} {r['items']:,}" for r in top))


if __name__ == "__main__":
    main()
