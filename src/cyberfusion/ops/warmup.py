"""What a server process's first requests would otherwise load on the spot, loaded at start.

Python loads modules and data sets on first use. In a server that first use is a request, which
then pays for it, and so does everything else in that process meanwhile (the loading holds the
GIL, and a full collection walks what it loaded): the first upload of each process imported
STIX validation (stix2-validator, the pattern grammar: ~1.25 s of CPU on the 2026-11-29 VM), its
first domain built the public-suffix trie (~0.13 s), its first import's ``reports.index`` job
loaded the geolocation tables (~0.25 s, 190 MB); in a load test run (benchmarks/load.py at 1M,
2 workers) 139 of the 189 lookups over 100 ms came in its first 2.7 s, while the second process
warmed up on live traffic.

A thread of the server loads them right after start (``CFC_SERVER_WARM_UP``, on by default),
then sets what it loaded aside from the collector's full passes (kit/gcutil.py). ``/readyz``
answers 503 ``starting`` until it is done, so a load balancer or orchestrator sends traffic
only to a warm process; ``/healthz`` (alive) answers at once. A step that fails is logged and
skipped: the request that needs it loads it, and reports the failure, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from cyberfusion.kit import gcutil

log = logging.getLogger("cyberfusion.server")


def _suffixes() -> None:
    from cyberfusion.kit.observables import public_suffix
    public_suffix("www.example.co.uk")


def _ingest() -> None:
    import stix2patterns.pattern  # noqa: F401
    import stix2patterns.validator  # noqa: F401
    import stix2validator  # noqa: F401

    from cyberfusion.ingest import formats, misp, stix, tabular, text  # noqa: F401


def _jobs() -> None:
    from cyberfusion.jobs import handlers  # noqa: F401


def _geolocation() -> None:
    from cyberfusion.products import geo
    geo._fast()  # the reader (kit/geoip.py), then the flat tables locate_ip bisects


def steps(*, jobs: bool) -> list[tuple[str, Callable[[], None]]]:
    """What to load: what requests use; with jobs in this process, what they use too (every
    import's ``reports.index`` job locates its IP addresses)."""
    out: list[tuple[str, Callable[[], None]]] = [("public suffix list", _suffixes),
                                                 ("ingest and STIX validation", _ingest)]
    if jobs:
        out += [("job handlers", _jobs), ("geolocation tables", _geolocation)]
    return out


class WarmUp:
    """Runs ``steps`` in a daemon thread; ``done`` once every step has run (or failed)."""

    def __init__(self, steps: list[tuple[str, Callable[[], None]]]) -> None:
        self._steps = steps
        self._done = threading.Event()
        self.timings: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="cfc-warm-up", daemon=True)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _run(self) -> None:
        try:
            for name, step in self._steps:
                started = time.perf_counter()
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - the request that needs it reports it
                    self.failed[name] = f"{type(exc).__name__}: {exc}"
                    log.warning("warm-up: %s failed (%s); loaded on first use instead", name, exc)
                self.timings[name] = time.perf_counter() - started
            gcutil.set_aside_loaded()
            log.info("warm-up done in %.2f s: %s", sum(self.timings.values()),
                     ", ".join(f"{k} {v:.2f} s" for k, v in self.timings.items()))
        finally:
            self._done.set()
