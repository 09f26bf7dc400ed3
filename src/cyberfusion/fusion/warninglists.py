"""MISP warninglists: import the JSON files, and match values against the enabled lists.

A value on a list is marked with the list's name; it is still stored and searchable, but
it is not correlated (no cluster edge goes through it) and never raises an alert or an
owner notification.

Matching follows MISP (app/Model/Warninglist.php) with our canonical values:
  * cidr      — an address (or a range) inside any listed network; IP kinds only.
  * string    — the whole value equals an entry (compared case-insensitively, since our
                canonical domains and hashes are lower-case and lists are not always).
  * substring — an entry occurs anywhere in the value (case-insensitively).
  * hostname  — the host (a domain's name, a URL's host, an e-mail's domain) or any parent
                of it is listed: "www.example.com" hits the entry "example.com".
  * regex     — the PCRE entry "/.../flags" finds a match in the value.
A list applies only to the kinds its ``matching_attributes`` name (MISP attribute types);
a list without them applies to every kind.

Matching runs in memory on a compiled matcher (hash sets, sorted ranges, compiled regexes)
that is rebuilt only when the stored lists change.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.fusion import repository
from cyberfusion.fusion.models import Warninglist
from cyberfusion.kit.observables import KINDS, detect
from cyberfusion.kit.refang import refang

log = logging.getLogger("cyberfusion.fusion")

TYPES = ("cidr", "hostname", "string", "substring", "regex")
_IP = ("ipv4-addr", "ipv6-addr")
_DOMAIN = ("domain-name",)
_URL = ("url",)
_EMAIL = ("email-addr",)
# MISP attribute type -> our observable kinds.
MISP_TYPES: dict[str, tuple[str, ...]] = {
    "ip-src": _IP, "ip-dst": _IP, "ip-src|port": _IP, "ip-dst|port": _IP, "ip": _IP,
    "domain|ip": _IP + _DOMAIN, "domain": _DOMAIN, "hostname": _DOMAIN, "hostname|port": _DOMAIN,
    "url": _URL, "uri": _URL, "link": _URL,
    "email": _EMAIL, "email-src": _EMAIL, "email-dst": _EMAIL, "target-email": _EMAIL,
    "email-reply-to": _EMAIL, "whois-registrant-email": _EMAIL,
    "md5": ("md5",), "filename|md5": ("md5",), "malware-sample": ("md5",),
    "sha1": ("sha1",), "filename|sha1": ("sha1",),
    "sha256": ("sha256",), "filename|sha256": ("sha256",),
    "sha512": ("sha512",), "filename|sha512": ("sha512",),
    "phone-number": ("phone",), "whois-registrant-phone": ("phone",),
    "btc": ("btc",), "xmr": ("xmr",), "iban": ("iban",), "AS": ("asn",), "vulnerability": ("cve",),
}
_V4_MAPPED = 0xFFFF << 32
_PHP_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
# PCRE flags with no Python meaning for a single search ("g" is not even PCRE, but lists use it).
_IGNORED_FLAGS = frozenset("guD")


# --- reading the files ------------------------------------------------------------------------

@dataclass(frozen=True)
class ListFile:
    slug: str
    name: str
    description: str
    type: str
    version: int
    matching_attributes: tuple[str, ...]
    entries: tuple[str, ...]

    @property
    def digest(self) -> str:
        body = json.dumps([self.name, self.description, self.type, self.version,
                           list(self.matching_attributes), list(self.entries)], separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _list_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
    elif (path / "list.json").is_file():
        yield path / "list.json"
    elif path.is_dir():
        yield from sorted(path.glob("*/list.json"))
    else:
        raise InvalidInput(f"no such file or directory: {path}", field="path")


def read_list(path: Path) -> ListFile:
    """Parse and check one warninglist file (the misp-warninglists schema's required fields)."""
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"not a readable JSON file: {exc}", file=where) from None
    if not isinstance(data, dict):
        raise InvalidInput("a warninglist is a JSON object", file=where)
    for key, kind in (("name", str), ("description", str), ("type", str), ("version", int), ("list", list)):
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise InvalidInput(f"missing or not a {kind.__name__}", file=where, field=key)
    if data["type"] not in TYPES:
        raise InvalidInput(f"{data['type']!r} is not one of: {', '.join(TYPES)}", file=where, field="type")
    entries = data["list"]
    if any(not isinstance(e, str) for e in entries):
        raise InvalidInput("every entry must be a string", file=where, field="list")
    attrs = data.get("matching_attributes") or []
    if not isinstance(attrs, list) or any(not isinstance(a, str) for a in attrs):
        raise InvalidInput("must be a list of MISP attribute types", file=where, field="matching_attributes")
    slug = path.parent.name if path.name == "list.json" else path.stem
    return ListFile(slug=slug, name=data["name"].strip(), description=data["description"], type=data["type"],
                    version=data["version"], matching_attributes=tuple(attrs),
                    entries=tuple(e for e in entries if e.strip()))


# --- the compiled matcher -----------------------------------------------------------------------

def _kinds_of(attributes: Iterable[str]) -> frozenset[str]:
    attributes = list(attributes)
    if not attributes:
        return frozenset(KINDS)
    return frozenset(k for a in attributes for k in MISP_TYPES.get(a, ()))


def _int_range(text: str) -> tuple[int, int] | None:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        first, last = first | _V4_MAPPED, last | _V4_MAPPED
    return first, last


def _merged(ranges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in sorted(ranges):
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


def php_regex(entry: str) -> re.Pattern[str] | None:
    """A MISP/PCRE entry "/pattern/flags" as a Python pattern, or None if it cannot be used."""
    entry = entry.strip()
    if len(entry) < 2 or entry[0].isalnum() or entry[0] == "\\":
        return None
    delimiter = {"(": ")", "{": "}", "[": "]", "<": ">"}.get(entry[0], entry[0])
    end = entry.rfind(delimiter)
    if end <= 0:
        return None
    flags = 0
    for flag in entry[end + 1:]:
        if flag in _PHP_FLAGS:
            flags |= _PHP_FLAGS[flag]
        elif flag not in _IGNORED_FLAGS:
            return None
    try:
        return re.compile(entry[1:end], flags)
    except re.error:
        return None


def host_of(kind: str, value: str) -> str:
    """The host name a hostname list is matched against."""
    if kind == "url":
        rest = value.split("://", 1)[-1]
        hostport = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
        return hostport.rsplit(":", 1)[0] if not hostport.startswith("[") else hostport
    if kind == "email-addr":
        return value.rpartition("@")[2]
    return value


@dataclass
class _Compiled:
    name: str
    type: str
    kinds: frozenset[str]
    strings: set[str] = field(default_factory=set)
    cidr: tuple[list[int], list[int]] = ([], [])
    substring: re.Pattern[str] | None = None
    regexes: list[re.Pattern[str]] = field(default_factory=list)
    unusable: int = 0


def _compile(name: str, type_: str, attributes: Iterable[str], entries: Iterable[str]) -> _Compiled:
    c = _Compiled(name=name, type=type_, kinds=_kinds_of(attributes))
    if type_ == "cidr":
        ranges = []
        for e in entries:
            r = _int_range(e)
            if r is None:
                c.unusable += 1
            else:
                ranges.append(r)
        c.cidr = _merged(ranges)
    elif type_ == "hostname":
        c.strings = {e.strip().lower().strip(".") for e in entries} - {""}
    elif type_ == "string":
        c.strings = {e.strip().casefold() for e in entries}
    elif type_ == "substring":
        parts = sorted({e.strip().casefold() for e in entries} - {""}, key=len, reverse=True)
        c.substring = re.compile("|".join(map(re.escape, parts))) if parts else None
    elif type_ == "regex":
        for e in entries:
            pattern = php_regex(e)
            if pattern is None:
                c.unusable += 1
            else:
                c.regexes.append(pattern)
    return c


class Matcher:
    """All enabled lists, compiled; ``match(kind, value)`` gives the names of the lists hit."""

    def __init__(self, lists: list[_Compiled]) -> None:
        self.lists = lists
        self._by_kind: dict[str, list[_Compiled]] = {}
        for c in sorted(lists, key=lambda c: c.name):
            for kind in c.kinds:
                self._by_kind.setdefault(kind, []).append(c)

    def __bool__(self) -> bool:
        return bool(self.lists)

    def match(self, kind: str, value: str) -> list[str]:
        checks = self._by_kind.get(kind)
        if not checks:
            return []
        hits = []
        folded = None
        ip = None
        for c in checks:
            if c.type == "cidr":
                if kind not in _IP:
                    continue
                if ip is None:
                    ip = _int_range(value) or (-1, -1)
                starts, ends = c.cidr
                i = bisect.bisect_right(starts, ip[0]) - 1
                if i >= 0 and ip[0] >= 0 and ends[i] >= ip[1]:
                    hits.append(c.name)
            elif c.type == "hostname":
                labels = host_of(kind, value).lower().rstrip(".").split(".")
                if any(".".join(labels[i:]) in c.strings for i in range(len(labels))):
                    hits.append(c.name)
            elif c.type == "string":
                folded = folded if folded is not None else value.casefold()
                if folded in c.strings:
                    hits.append(c.name)
            elif c.type == "substring":
                folded = folded if folded is not None else value.casefold()
                if c.substring is not None and c.substring.search(folded):
                    hits.append(c.name)
            elif any(p.search(value) for p in c.regexes):
                hits.append(c.name)
        return hits


_CACHE: dict[tuple[Any, ...], Matcher] = {}
_CACHE_LOCK = threading.Lock()


def matcher(session: Session) -> Matcher:
    """The compiled matcher for the enabled lists in this database (rebuilt when they change)."""
    signature = tuple(repository.warninglist_signature(session))
    found = _CACHE.get(signature)
    if found is not None:
        return found
    lists = []
    for wl_id, name, type_, attributes in repository.enabled_warninglists(session):
        lists.append(_compile(name, type_, attributes, repository.warninglist_entries(session, wl_id)))
    built = Matcher(lists)
    with _CACHE_LOCK:
        if len(_CACHE) > 8:  # a few databases per process at most (tests); drop old versions
            _CACHE.clear()
        _CACHE[signature] = built
    return built


# --- services ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportOutcome:
    name: str
    slug: str
    type: str
    entries: int
    unusable: int
    status: str  # created | updated | unchanged

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "slug": self.slug, "type": self.type, "entries": self.entries,
                "unusable": self.unusable, "status": self.status}


def import_paths(session: Session, paths: Iterable[Path], *, member_id: int | None = None) -> list[ImportOutcome]:
    """Import (or refresh) warninglist files: a list.json, its directory, or a directory of lists."""
    files = [f for p in paths for f in _list_files(Path(p))]
    if not files:
        raise InvalidInput("no warninglist files found (expected */list.json)", field="path")
    out = []
    now = utcnow()
    for f in files:
        parsed = read_list(f)
        compiled = _compile(parsed.name, parsed.type, parsed.matching_attributes, parsed.entries)
        row = repository.warninglist_by_name(session, parsed.name)
        if row is not None and row.digest == parsed.digest:
            status = "unchanged"
        else:
            status = "created" if row is None else "updated"
            fields = {"slug": parsed.slug, "description": parsed.description, "type": parsed.type,
                      "version": parsed.version, "matching_attributes": list(parsed.matching_attributes),
                      "entry_count": len(parsed.entries), "digest": parsed.digest, "imported_at": now}
            if row is None:
                row = Warninglist(name=parsed.name, enabled=True, **fields)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
            repository.add(session, row)
            repository.replace_warninglist_entries(session, row.id, parsed.entries)
        out.append(ImportOutcome(parsed.name, parsed.slug, parsed.type, len(parsed.entries),
                                 compiled.unusable, status))
    session.flush()
    audit.record(session, action="warninglist.import", member_id=member_id,
                 detail={"lists": [o.as_dict() for o in out]})
    return out


def set_enabled(session: Session, *, ref: str, enabled: bool, member_id: int | None = None) -> Warninglist:
    row = repository.warninglist_by_ref(session, ref)
    if row is None:
        raise NotFound(f"no warninglist {ref!r}")
    row.enabled = enabled
    session.flush()
    audit.record(session, action="warninglist.enable" if enabled else "warninglist.disable",
                 member_id=member_id, detail={"name": row.name})
    return row


def list_all(session: Session) -> list[dict[str, Any]]:
    return [{"id": w.id, "name": w.name, "slug": w.slug, "type": w.type, "version": w.version,
             "entries": w.entry_count, "enabled": w.enabled,
             "matching_attributes": w.matching_attributes, "imported_at": w.imported_at}
            for w in repository.warninglists(session)]


def check(session: Session, *, value: str, kind: str | None = None) -> dict[str, Any]:
    """Which enabled lists hold this value (refanged and normalised first)."""
    from cyberfusion.kit.observables import normalise
    text = refang(value.strip())
    if kind:
        found: tuple[str, str] | None = (kind, normalise(kind, text))
    else:
        found = detect(text)
    if found is None:
        raise InvalidInput(f"not a recognised observable: {value!r}", field="value")
    return {"value": value, "kind": found[0], "normalised": found[1],
            "warninglists": matcher(session).match(*found)}


__all__ = ["import_paths", "list_all", "check", "matcher", "Matcher", "read_list", "php_regex", "host_of",
           "set_enabled", "MISP_TYPES", "TYPES"]
