"""IP address → country and AS name, offline, from the GeoLite2 data shipped with geoip2fast."""

from __future__ import annotations

from typing import Any

from cyberfusion.analyzers.base import (
    Analyzer,
    AnalyzerResult,
    Observable,
    country_location,
    relationship,
)
from cyberfusion.kit import geoip

DATA_FILE = geoip.DATA_FILE
DATASET = "GeoLite2 2024-06-18"


def database() -> Any:
    """The loaded data set: once per process (~1 s, ~190 MB), on first use (kit/geoip.py)."""
    return geoip.reader()


class GeoIP(Analyzer):
    name = "geoip"
    version = "1.0"
    description = f"IP → country and AS name ({DATASET}, offline)"
    accepts = frozenset({"ipv4-addr", "ipv6-addr"})
    timeout = 30.0  # the first call loads the data set

    def run(self, observable: Observable) -> AnalyzerResult:
        address = observable.value.split("/")[0]  # a range is placed by its first address
        r = database().lookup(address)
        data = {"country_code": None, "country_name": None, "as_name": r.asn_name or None,
                "as_cidr": r.asn_cidr or None, "private": bool(r.is_private), "dataset": DATASET}
        if r.is_private or not r.country_code or r.country_code == "--":
            data["as_name"] = None
            data["as_cidr"] = None
            return AnalyzerResult(summary=f"{observable.value}: {r.country_name or 'unknown'} "
                                          f"(no public geolocation; {DATASET})",
                                  confidence=90 if r.is_private else 30, data=data)
        data.update(country_code=r.country_code, country_name=r.country_name)
        location = country_location(r.country_code, r.country_name)
        as_part = f", AS {r.asn_name} ({r.asn_cidr})" if r.asn_name else ""
        return AnalyzerResult(
            summary=f"{observable.value}: {r.country_code} ({r.country_name}){as_part}; {DATASET}",
            confidence=75, data=data,
            objects=[location, relationship(observable.ref, "located-at", location["id"])])
