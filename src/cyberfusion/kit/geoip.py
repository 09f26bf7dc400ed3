"""The offline IP geolocation data that ships inside ``geoip2fast`` (GeoLite2-derived, IPv4 +
IPv6 + AS names), loaded once per process for everything that locates addresses: country watch
items (fusion.geo), reports' country index (products.geo) and the geoip analyzer.

Loading takes ~1 s and ~190 MB, on first use. The package keeps the tables in its module
globals as ~1.4 million Python ints in lists, and the cyclic garbage collector's full passes
walk every element of every list they can see: in an API server (whose heap is set aside at
start-up, app.py) a full pass took 82-113 ms once the tables were loaded, about once every ten
seconds in each process, stopping all its threads, the write turn's holder included
(benchmarks/load.py at 1M, 2026-11-29, docs/operations.md). So the loaded tables are set aside
too (``gcutil.set_aside_loaded``).
"""

from __future__ import annotations

import threading
from typing import Any

from cyberfusion.kit import gcutil

DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"  # IPv4 + IPv6 + AS names; the bare constructor is IPv4-only
_lock = threading.Lock()
_reader: Any = None


def reader() -> Any:
    """The loaded ``GeoIP2Fast`` reader (its ``lookup(address)``), shared by the process."""
    global _reader
    if _reader is None:
        with _lock:
            if _reader is None:
                from geoip2fast import GeoIP2Fast
                loaded = GeoIP2Fast(geoip2fast_data_file=DATA_FILE, verbose=False)
                gcutil.set_aside_loaded()
                _reader = loaded
    return _reader
