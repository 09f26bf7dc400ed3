"""What a value correlates through: its own value, its host, its registered domain, its
address range. Pure functions over canonical values (kit.observables), no I/O.

Stored side (one row per URL, e-mail address and domain name in ``fusion_terms``): the host
name with its labels reversed ("www.example.co.uk" -> "uk.co.example.www"), or the IP
literal of a URL or e-mail address. Reversed, every name under a registered domain is one
index range ("uk.co.example" and everything from "uk.co.example." to "uk.co.example/"), so
ingest never needs the public suffix list; only reads do, for the few values they start from.

How two objects are linked, strongest first:
  value              the same observable
  host               a URL's or e-mail's host equals a domain name or another host
  cidr               an address inside a stored range
  hash               hashes of one file carried together by some object
  registered_domain  names under the same registered domain (public suffix list, ICANN part)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyberfusion.kit.observables import ip_range, registered_domain

IP_KINDS = frozenset({"ipv4-addr", "ipv6-addr"})
HASH_KINDS = frozenset({"md5", "sha1", "sha256", "sha512"})
TERM_SOURCE_KINDS = ("url", "email-addr", "domain-name")
HOST = "host"  # term kind: a host name, labels reversed
REGDOM = "registered-domain"  # how a registered-domain link is shown
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}\Z")
_HOST_END = re.compile(r"[/?#]")

VIA_ORDER = ("value", "host", "cidr", "hash", "registered_domain")


def reverse_host(host: str) -> str:
    return ".".join(reversed(host.split(".")))


def url_host(url: str) -> str:
    """Host of a canonical URL: a lower-case name, a dotted quad, or "[v6]"."""
    rest = url.split("://", 1)[-1]
    hostport = _HOST_END.split(rest, maxsplit=1)[0].rpartition("@")[2]
    if hostport.startswith("["):
        return hostport[: hostport.find("]") + 1]
    return hostport.partition(":")[0]


def _host_term(host: str) -> tuple[str, str] | None:
    if not host:
        return None
    if host.startswith("[") and host.endswith("]"):
        literal = host[1:-1]
        if literal[:5].lower() == "ipv6:":
            literal = literal[5:]
        return ("ipv6-addr" if ":" in literal else "ipv4-addr", literal)
    if _IPV4.match(host):
        return ("ipv4-addr", host)
    return (HOST, reverse_host(host))


def derived_term(kind: str, value: str) -> tuple[str, str] | None:
    """The term stored for one observable, if any."""
    if kind == "url":
        return _host_term(url_host(value))
    if kind == "email-addr":
        return _host_term(value.rpartition("@")[2])
    if kind == "domain-name":
        return (HOST, reverse_host(value))
    return None


def term_range(kind: str, value: str) -> tuple[str | None, str | None]:
    return ip_range(value) if kind in IP_KINDS else (None, None)


def shown(kind: str, value: str) -> tuple[str, str]:
    """A stored term as people read it (a host term as a domain name)."""
    return ("domain-name", reverse_host(value)) if kind == HOST else (kind, value)


@dataclass(frozen=True, slots=True)
class Key:
    """One (kind, value) to look up in the index, and how a match through it is labelled.

    ``subtree``: the value is a reversed registered domain; the key matches it and every
    host below it."""

    kind: str
    value: str
    via: str
    subtree: bool = False


def query_keys(kind: str, value: str, *, derived: bool = False) -> list[Key]:
    """Keys that find everything correlating with one stored value or term of an object."""
    if kind in ("domain-name", HOST):
        host = value if kind == "domain-name" else reverse_host(value)
        exact = "host" if derived or kind == HOST else "value"
        keys = [Key("domain-name", host, exact), Key(HOST, reverse_host(host), "host")]
        rd = registered_domain(host)
        if rd:
            keys.append(Key(HOST, reverse_host(rd), "registered_domain", subtree=True))
        return keys
    return [Key(kind, value, "host" if derived else "value")]


def link_via(key: Key, table: str) -> str:
    """How a match through ``key`` in ``table`` (observables | terms) links two objects."""
    if key.via == "value" and table == "terms":
        return "host"
    return key.via


def stronger(a: str, b: str) -> str:
    return a if VIA_ORDER.index(a) <= VIA_ORDER.index(b) else b


def prefix_of(range_start: str, range_end: str) -> int | None:
    """Prefix length (0-128, IPv4-mapped space) of a stored CIDR range; None for one address."""
    if range_start == range_end:
        return None
    size = int(range_end, 16) - int(range_start, 16) + 1
    return 128 - (size.bit_length() - 1)


def covering_starts(value_hex: str, prefixes: list[int]) -> list[str]:
    """Network starts, one per stored prefix length, of the networks that would contain this address."""
    x = int(value_hex, 16)
    out = []
    for p in prefixes:
        mask = (1 << (128 - p)) - 1
        out.append(f"{x & ~mask:032x}")
    return out
