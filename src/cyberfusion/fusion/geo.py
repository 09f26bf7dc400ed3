"""Which country a value points to, for "my country" watch items.

IP addresses by the offline GeoLite2-derived geoip2fast data (2024-06-18; loaded once per
process, lazily, only when a country watch exists); names by their country-code top-level
domain; IBANs by their country prefix; phone numbers by their region.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from cyberfusion.fusion.terms import url_host
from cyberfusion.kit import geoip
from cyberfusion.kit.observables import public_suffix

GEOIP_DATE = "2024-06-18"
# ccTLDs whose ISO 3166 code differs.
_CCTLD = {"uk": "GB", "ac": "SH", "su": None, "eu": None}


def _lookup_ip(address: str) -> str | None:
    result = geoip.reader().lookup(address)
    code = getattr(result, "country_code", "") or ""
    return code.upper() if len(code) == 2 and code.isalpha() else None


@lru_cache(maxsize=1 << 14)
def _tld_country(host: str) -> str | None:
    suffix = public_suffix(host)
    if not suffix:
        return None
    tld = suffix.rsplit(".", 1)[-1]
    if tld.startswith("xn--") or len(tld) != 2:
        return None
    return _CCTLD.get(tld, tld.upper())


def country_of(kind: str, value: str) -> str | None:
    if kind in ("ipv4-addr", "ipv6-addr"):
        return None if "/" in value else _lookup_ip(value)
    if kind == "domain-name":
        return _tld_country(value)
    if kind == "url":
        host = url_host(value)
        return None if host.startswith("[") or host.replace(".", "").isdigit() else _tld_country(host)
    if kind == "email-addr":
        domain = value.rpartition("@")[2]
        return None if domain.startswith("[") else _tld_country(domain)
    if kind == "iban":
        return value[:2].upper()
    if kind == "phone":
        try:
            return phonenumbers.region_code_for_number(phonenumbers.parse(value)) or None
        except phonenumbers.NumberParseException:
            return None
    return None
