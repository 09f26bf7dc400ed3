"""Which country an observable points at, offline: IP geolocation, ccTLD, IBAN and phone codes.

IP addresses are located with the GeoLite2 data that ships inside ``geoip2fast`` (the
IPv4+IPv6+ASN file). The data is loaded lazily, once per process (it lives in the
package's module globals and takes ~190 MB), and its date is printed in every report.
"""

from __future__ import annotations

import gzip
import ipaddress
import pickletools
import socket
import threading
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import phonenumbers
from stdnum import numdb

from cyberfusion.kit import gcutil, geoip
from cyberfusion.kit.regions import country_code

GEO_DATA_FILE = geoip.DATA_FILE
# Two-letter TLDs that are sold and used worldwide as generic names: a domain under them
# says nothing about a country, so they are not mapped (documented in docs/products.md).
GENERIC_CCTLDS = frozenset({"ai", "cc", "co", "fm", "io", "me", "nu", "to", "tv", "ws"})
# ccTLDs whose letters differ from the ISO 3166-1 code of their country.
CCTLD_EXCEPTIONS = {"uk": "GB", "ac": "SH"}

_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Located:
    country: str
    basis: str          # ip_geolocation, cctld, iban, phone, declared
    detail: str = ""    # e.g. the network and AS name, ".fr"


def _reader() -> Any:
    return geoip.reader()


def _source_line() -> str:
    """The data file's own source line, read from the head of the file shipped in the package.

    The file is a pickled (version, {"info": source line, ...}, ...) tuple: its first opcodes give the
    line without unpickling the 190 MB of tables (0.7 s, and every later garbage-collector pass walks
    them), so a report run whose country index is complete never loads the data. Anything unexpected
    falls back to the loaded data's ``source_info`` (what ``get_database_info()`` returns; that method
    also decompresses the file again and counts every network, ~1 s)."""
    import geoip2fast

    path = Path(geoip2fast.__file__).with_name(GEO_DATA_FILE)
    try:
        with gzip.open(path, "rb") as f:
            after_key = False
            for _op, arg, _pos in islice(pickletools.genops(f), 40):
                if isinstance(arg, str):
                    if after_key:
                        return arg
                    after_key = arg == "info"
    except (OSError, ValueError, EOFError):
        pass
    return str(getattr(_reader(), "source_info", "") or "")


@lru_cache(maxsize=1)
def database_info() -> dict[str, str]:
    """What the geolocation data is, as the package reports it (e.g. GeoLite2 ... 20240618)."""
    source = _source_line()
    stamp = source.rsplit("-", 1)[-1]
    date = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if len(stamp) == 8 and stamp.isdigit() else "unknown"
    return {"source": source, "date": date, "file": GEO_DATA_FILE}


def _valid_country(code: str) -> str | None:
    try:
        return country_code(code)
    except Exception:  # noqa: BLE001 - '--', 'EU', 'AP' and the like are not countries
        return None


class _Tables:
    """The loaded data as flat sorted lists, for bisection without building a result object.

    ``GeoIP2Fast.lookup`` formats timings, CIDR strings and detail objects on every call
    (~25 µs); reports locate hundreds of thousands of addresses, so this reads the same
    tables the package has loaded (its module globals) and bisects them directly. A test
    checks it against ``lookup`` on random IPv4 and IPv6 addresses.
    """

    def __init__(self) -> None:
        import geoip2fast.geoip2fast as m

        self.first = [ip for chunk in m.mainListFirstIP for ip in chunk]
        self.netlen = [n for chunk in m.mainListNetlength for n in chunk]
        self.country_id = [c for chunk in m.mainListIDCountryCodes for c in chunk]
        self.countries = [name.split(":", 1)[0] for name in m.mainListNamesCountry]
        self.asn_first = [ip for chunk in m.mainListFirstIPASN for ip in chunk]
        self.asn_netlen = [n for chunk in m.mainListNetlengthASN for n in chunk]
        self.asn_id = [a for chunk in m.mainListIDASN for a in chunk]
        self.asn_names = list(m.mainListNamesASN)

    def country(self, ip: int, v4: bool) -> str | None:
        i = bisect_right(self.first, ip) - 1
        if i < 0 or ip > self.first[i] + (1 << ((32 if v4 else 128) - self.netlen[i])) - 1:
            return None
        cid = self.country_id[i]
        return None if cid < 16 else self.countries[cid]  # the first 16 entries are private/reserved ranges

    def network(self, ip: int, v4: bool) -> str:
        i = bisect_right(self.asn_first, ip) - 1
        bits = 32 if v4 else 128
        if i < 0 or ip > self.asn_first[i] + (1 << (bits - self.asn_netlen[i])) - 1:
            return ""
        start = ipaddress.IPv4Address(self.asn_first[i]) if v4 else ipaddress.IPv6Address(self.asn_first[i])
        return f"{start}/{self.asn_netlen[i]} {self.asn_names[self.asn_id[i]]}".strip()


_tables: _Tables | None = None


def _fast() -> _Tables:
    global _tables
    if _tables is None:
        _reader()
        with _lock:
            if _tables is None:
                tables = _Tables()
                gcutil.set_aside_loaded()  # ~4 million more ints in lists (kit/geoip.py: why)
                _tables = tables
    return _tables


@lru_cache(maxsize=1 << 16)
def locate_ip(value: str) -> Located | None:
    """Country of an address (a CIDR is located by its network address); None if private/unknown."""
    address = value.split("/", 1)[0]
    try:
        if address.count(".") == 3 and ":" not in address:  # the bulk of every feed: skip ipaddress
            as_int, v4 = int.from_bytes(socket.inet_aton(address), "big"), True
        else:
            ip = ipaddress.ip_address(address)
            as_int, v4 = int(ip), ip.version == 4
    except (OSError, ValueError):
        return None
    tables = _fast()
    code = tables.country(as_int, v4)
    code = _valid_country(code) if code else None
    return Located(code, "ip_geolocation", tables.network(as_int, v4)) if code else None


@lru_cache(maxsize=1 << 16)
def locate_domain(host: str) -> Located | None:
    """Country of a domain by its country-code top-level domain."""
    tld = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if len(tld) != 2 or not tld.isalpha() or tld in GENERIC_CCTLDS:
        return None
    code = CCTLD_EXCEPTIONS.get(tld) or _valid_country(tld)
    return Located(code, "cctld", f".{tld}") if code else None


def locate_iban(value: str) -> Located | None:
    """Country of an IBAN from its country code, as python-stdnum's IBAN registry knows it."""
    compact = value.replace(" ", "").upper()
    info = numdb.get("iban").info(compact)
    if not info or not info[0][1]:
        return None
    code = _valid_country(info[0][0])
    return Located(code, "iban", info[0][1].get("country", "")) if code else None


def locate_phone(value: str) -> Located | None:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    code = _valid_country(region) if region and region != "001" else None
    return Located(code, "phone", f"+{number.country_code}") if code else None


def _host_of_url(url: str) -> str | None:
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _locate_host(host: str) -> Located | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return locate_domain(host)
    return locate_ip(host)


def locate(kind: str, value: str) -> Located | None:
    """The country an observable value points at, or None (hashes, generic TLDs, private IPs)."""
    if kind in ("ipv4-addr", "ipv6-addr"):
        return locate_ip(value)
    if kind == "domain-name":
        return locate_domain(value)
    if kind == "url":
        host = _host_of_url(value)
        return _locate_host(host) if host else None
    if kind == "email-addr":
        return locate_domain(value.rsplit("@", 1)[-1])
    if kind == "iban":
        return locate_iban(value)
    if kind == "phone":
        return locate_phone(value)
    return None


LOCATABLE_KINDS = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "iban", "phone")
