"""Shared by the benchmark scripts: a seeded STIX bundle written as a stream, and a fresh world.

Not a test helper: nothing here asserts. The bundle is written one object at a
time so a million-object file never exists in memory.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum import iban as stdnum_iban

import base58

from cyberfusion.kit.observables import to_pattern
from cyberfusion.sharing.handling import HandlingSpec

SEED = 20261126
BENCH_NS = uuid.UUID("9a4c2f0e-1b7d-4e55-8c3a-6d2e0f1a7b90")
PARTNER = "Bench Partner Labs"
TLP_AMBER_V1 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
# The handling a partner states for the whole file: TLP amber, one country restriction, purposes.
SPEC = HandlingSpec(tlp="amber", purposes=("investigation", "network_defence", "threat_reporting"),
                    denied_countries=("RU",), category="malware")

# Share of each observable kind in the generated feed (sums to 1).
MIX: tuple[tuple[str, float], ...] = (
    ("ipv4-addr", 0.28), ("ipv6-addr", 0.05), ("domain-name", 0.20), ("url", 0.15), ("email-addr", 0.05),
    ("md5", 0.05), ("sha1", 0.05), ("sha256", 0.12), ("btc", 0.03), ("iban", 0.02),
)
_WORDS = ("secure", "login", "account", "verify", "update", "bank", "pay", "wallet", "support", "cloud",
          "mail", "delivery", "invoice", "office", "portal", "service", "track", "help", "alert", "id")
_TLDS = ("com", "net", "org", "info", "top", "xyz", "ru", "cn", "br", "ng", "de", "fr", "co.uk", "com.au", "in")
_IBAN_BANKS = (("GB", "NWBK"), ("DE", ""), ("FR", ""), ("NL", "ABNA"))


def _domain(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}{rng.randrange(1_000_000)}.{rng.choice(_TLDS)}"


def _iban(rng: random.Random) -> str:
    country, bank = rng.choice(_IBAN_BANKS)
    if country == "GB":
        bban = f"{bank}{rng.randrange(10**14):014d}"
    elif country == "DE":
        bban = f"{rng.randrange(10**18):018d}"
    elif country == "FR":
        bban = f"{rng.randrange(10**23):023d}"
    else:
        bban = f"{bank}{rng.randrange(10**10):010d}"
    return country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban


def observable(rng: random.Random) -> tuple[str, str]:
    r, acc = rng.random(), 0.0
    kind = MIX[-1][0]
    for k, share in MIX:
        acc += share
        if r < acc:
            kind = k
            break
    if kind == "ipv4-addr":
        a = rng.choice((5, 23, 31, 45, 62, 77, 91, 103, 141, 185, 193, 203, 212))
        return kind, f"{a}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind == "ipv6-addr":
        return kind, f"2a0{rng.randrange(16):x}:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(7))
    if kind == "domain-name":
        return kind, _domain(rng)
    if kind == "url":
        return kind, f"https://{_domain(rng)}/{rng.choice(_WORDS)}/{rng.randrange(100_000)}.php?id={rng.randrange(10**6)}"
    if kind == "email-addr":
        return kind, f"{rng.choice(_WORDS)}.{rng.randrange(10_000)}@{_domain(rng)}"
    if kind == "md5":
        return kind, f"{rng.getrandbits(128):032x}"
    if kind == "sha1":
        return kind, f"{rng.getrandbits(160):040x}"
    if kind == "sha256":
        return kind, f"{rng.getrandbits(256):064x}"
    if kind == "btc":
        return kind, base58.b58encode_check(rng.choice((b"\x00", b"\x05")) + rng.randbytes(20)).decode()
    return kind, _iban(rng)


def _ts(rng: random.Random) -> str:
    # Second resolution over ~60 days: realistic repetition, far more distinct values than any cache.
    s = rng.randrange(60 * 86400)
    day, rest = divmod(s, 86400)
    return f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}.000Z"


def identity_id(name: str = PARTNER) -> str:
    return f"identity--{uuid.uuid5(BENCH_NS, name)}"


def iter_objects(n: int, *, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """One identity, then ``n`` indicators with one observable each (simple STIX patterns)."""
    ident = identity_id()
    created = "2026-09-01T00:00:00.000Z"
    yield {"type": "identity", "spec_version": "2.1", "id": ident, "created": created, "modified": created,
           "name": PARTNER, "identity_class": "organization"}
    for _kind, _value, obj in iter_indicators(n, seed=seed):
        yield obj


def iter_indicators(n: int, *, seed: int = SEED) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The ``n`` indicators of ``iter_objects`` (same seed, same objects), each with its (kind, value)."""
    rng = random.Random(seed)
    ident = identity_id()
    for i in range(n):
        kind, value = observable(rng)
        ts = _ts(rng)
        yield kind, value, {
            "type": "indicator", "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "created": ts, "modified": ts, "name": f"{kind} {value}"[:200],
            "indicator_types": ["malicious-activity"], "pattern": to_pattern(kind, value),
            "pattern_type": "stix", "valid_from": ts, "confidence": rng.choice((30, 50, 70, 85, 95)),
            "labels": ["malware"], "created_by_ref": ident, "object_marking_refs": [TLP_AMBER_V1]}


def write_bundle(path: Path, n: int, *, seed: int = SEED) -> int:
    """Stream a bundle of 1 + n objects to ``path``; returns its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        f.write('{"type": "bundle", "id": "bundle--%s", "objects": [\n' % uuid.UUID(int=rng.getrandbits(128), version=4))
        for i, obj in enumerate(iter_objects(n, seed=seed)):
            if i:
                f.write(",\n")
            f.write(json.dumps(obj))
        f.write("\n]}\n")
    clear_value_caches()  # to_pattern warmed the normalisation caches the import would use
    return path.stat().st_size


def clear_value_caches() -> None:
    """Empty the bounded memo caches of the observable vocabulary and timestamp parser.

    Generating the bundle (to_pattern) fills them with exactly the values the import
    will see; a real import starts cold. Unbounded @cache singletons (the suffix-list
    extractor) are one-time set-up and stay.
    """
    from cyberfusion.kit import observables, timeutil
    for module in (observables, timeutil):
        for obj in vars(module).values():
            info = getattr(obj, "cache_info", None)
            if info is not None and info().maxsize is not None:
                obj.cache_clear()


# ---------------------------------------------------------------- rows written directly


def bench_contribution(session: Any, world: World, *, objects: int, now: Any) -> Any:
    """One active contribution of the bench partner (the caller writes its rows directly)."""
    import uuid as uuid_
    from datetime import timedelta

    from cyberfusion.intel.models import Contribution
    from cyberfusion.sharing.handling import handling_row

    handling = handling_row(session, SPEC.validated())
    c = Contribution(id=str(uuid_.uuid4()), organisation_id=world.viewer.org_id, member_id=world.viewer.member_id,
                     created_at=now, source_format="bench", file_name="bench", digest=uuid_.uuid4().hex,
                     object_count=objects, handling_id=handling.id, category="malware",
                     review_at=now + timedelta(days=3650))
    session.add(c)
    session.flush()
    return c


# ---------------------------------------------------------------- a fresh world


@dataclass
class World:
    engine: Any
    factory: Any
    viewer: Any
    cleanup: Any  # () -> None


def settle_client_heap() -> None:
    """Before a timed HTTP client phase: collect, then freeze what this process holds.

    The benchmark's client runs in the process that seeded the store (the world, the seeded
    values, the ORM and library modules), and decoding responses allocates enough containers to
    set off full collections, each walking all of that: the client then spent ~15 ms of CPU per
    1,000-object TAXII page where a client without the seeding harness needs 5-8 ms (2026-11-27).
    Frozen objects are skipped by the collector; both servers of a comparison get the same client.
    """
    gc.collect()
    gc.freeze()


def fresh_world(database_url: str | None, work_dir: Path, tag: str) -> World:
    """Migrated empty database with a host centre and one vetted partner under an agreement.

    SQLite: a new file in ``work_dir``. PostgreSQL: a new schema (dropped by ``cleanup``)
    in the given database, so nothing else in it is touched.
    """
    from sqlalchemy import text

    from cyberfusion.db import make_engine, make_sessionmaker, transaction, upgrade
    from cyberfusion.partners import service as partners
    from cyberfusion.partners.models import CATEGORIES
    from cyberfusion.sharing.markings import PURPOSES

    if database_url is None or database_url.startswith("sqlite"):
        db = work_dir / f"{tag}.db"
        engine = make_engine(f"sqlite:///{db}")

        def cleanup() -> None:
            engine.dispose()
            for suffix in ("", "-wal", "-shm", "-writer", "-writer-gate", "-writer-urgent"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
    else:
        schema = f"bench_{tag}_{os.getpid()}"
        admin = make_engine(database_url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(database_url, connect_args={"options": f"-csearch_path={schema}"})

        def cleanup() -> None:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    upgrade(engine)
    factory = make_sessionmaker(engine)
    today = date.today()
    with transaction(factory) as s:
        partners.create_organisation(s, name="Bench Fusion Centre", kind="host_centre", country="SG")
        org = partners.create_organisation(s, name=PARTNER, kind="private", sector="internet_security",
                                           country="FI")
        partners.vet_organisation(s, org=org, decision="approved", reviewer="bench@host.example",
                                  today=today - timedelta(days=30))
        partners.add_agreement(s, org=org, reference="DSA-BENCH", valid_from=today - timedelta(days=30),
                               valid_until=today + timedelta(days=365), tlp_ceiling="amber",
                               contribute=list(CATEGORIES), receive=list(CATEGORIES), purposes=list(PURPOSES))
        member = partners.add_member(s, email="contributor@bench.example", name="Bench Contributor", org=org,
                                     roles=["contributor", "reader"])
        viewer = partners.resolve_viewer(s, member, today=today)
    return World(engine, factory, viewer, cleanup)


def pct_ms(xs: list[float], p: float) -> float:
    """The p-th percentile of durations in seconds, in milliseconds (nearest rank; NaN when empty)."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def environment() -> list[tuple[str, str]]:
    return [("python", f"{platform.python_version()} ({platform.python_implementation()})"),
            ("sqlite", sqlite3.sqlite_version), ("cpus", str(os.cpu_count())),
            ("platform", platform.platform())]


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def table(rows: list[tuple[str, ...]], out: Any = sys.stdout) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))), file=out)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=out)


class Http:
    """One keep-alive HTTP/1.1 connection to a local server: the benchmarks' client.

    The client shares the machine with the server it measures, and its cost lands in every latency
    (in a closed loop, in the figure itself; in an open loop, as CPU the server cannot have). Hence
    the standard library's http.client and nothing over it: a GET /healthz costs the client ~0.11 ms
    of CPU here, against ~0.40 ms with httpx and ~0.60 ms with requests (2,000 requests each to the
    same uvicorn server, 2026-11-27; benchmarks/README.md, "The HTTP client"). A connection
    the server has closed while idle (uvicorn's keep-alive timeout) is noticed before the next request
    and opened again, as urllib3 does; any other failure is raised to the caller.
    """

    def __init__(self, base: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        from urllib.parse import urlsplit

        url = urlsplit(base)
        self.host, self.port, self.timeout = url.hostname or "127.0.0.1", url.port or 80, timeout
        self.headers = dict(headers or {})
        self.conn: Any = None

    def _connection(self) -> Any:
        import http.client
        import select

        conn = self.conn
        if conn is not None and conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
            conn.close()  # readable while idle: the server closed it (or sent what nobody asked for)
            conn = None
        if conn is None:
            conn = self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; params are URL-encoded, json_body sent as application/json."""
        from urllib.parse import urlencode

        if params:
            path = f"{path}?{urlencode(params)}"
        sent = {**self.headers, **(headers or {})}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
        except Exception:
            conn.close()
            self.conn = None
            raise
        if response.will_close:
            conn.close()
            self.conn = None
        return response.status, data

    def get(self, path: str, **kw: Any) -> tuple[int, bytes]:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> tuple[int, bytes]:
        return self.request("POST", path, **kw)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic (what TAXII clients send)."""
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")}
