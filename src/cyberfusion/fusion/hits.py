"""Hit/no-hit deconfliction: "do you hold anything on these values?".

For each value the asker gets one of:
  * ``hit`` with details — it may read matching intelligence whose handling allows hit reveal;
  * ``hit`` with references only — it may read the intelligence but the source set
    "hit reveal: no": a reference number and the owner's contact route, nothing else;
  * ``no_hit`` — nothing matches, or nothing it may read matches. In the second case the
    owner is still notified (who asked, which value, for what purpose, the reference) and
    may decide to answer; the asker learns of the hit only if the owner chooses to.
Owners are notified of every hit on their data (their own organisation's lookups and
warninglisted values excepted). Values asked are kept only as keyed hashes (HMAC-SHA256,
key derived from the settings secret), except values that hit.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import re
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.config import Settings, get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.fusion import matching, repository, valuefilter, warninglists
from cyberfusion.fusion.models import HitNotification
from cyberfusion.fusion.terms import shown
from cyberfusion.groupcommit import GroupCommit
from cyberfusion.intel import repository as intel_repo
from cyberfusion.kit.observables import detect, normalise
from cyberfusion.kit.refang import refang
from cyberfusion.partners import repository as partners_repo
from cyberfusion.sharing import policy
from cyberfusion.sharing.markings import PURPOSES, TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer

DIGEST_BYTES = 16
_SHA256_BLOCK = hashlib.sha256().block_size
MAX_OBJECTS_PER_VALUE = 20
DECISIONS = ("share", "contact", "decline")
INBOX_ROLES = ("analyst", "contributor", "org_admin")
CONTACT_ROUTE = ("The owner has been notified through the fusion centre and may answer under this "
                 "reference; answers appear in GET /api/v1/hits/sent. You may also contact the host "
                 "centre quoting the reference.")
# What only defanged text carries; anything else skips the (slower) refang pass.
_DEFANG_HINT = re.compile(r"[\[({\\ ]|h(?:xx|tx|xt)p|fxp", re.IGNORECASE)


# --- parsing and hashing ----------------------------------------------------------------------

# An ASCII name whose last label is alphabetic (or an A-label): a domain by its syntax alone.
_DOMAIN_SHAPE = re.compile(r"(?:[A-Za-z0-9_-]+\.)+(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]+)\.?\Z")
# Values already in canonical form that detection would classify the same way: a dotted quad
# without leading zeros, and hex of a hash length that is not all digits (detection reads
# those as numbers). Half of a typical batch; each skips detection's chain of guesses.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CANONICAL = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}\Z")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


def _by_syntax(text: str) -> str | None:
    """The kind of a URL, e-mail address or ASCII domain name, by its shape only.

    Detection in free text also requires a real public suffix (so "setup.exe" is not a
    domain); a value someone asks about is an indicator already, and a name under no public
    suffix can only be a no_hit, so lookups skip that (costly) check for these three kinds.
    """
    if "://" in text:
        return "url"
    if "@" in text and "/" not in text:
        return "email-addr"
    if _DOMAIN_SHAPE.match(text):
        return "domain-name"
    return None


# Values already in the canonical form the full parser below would give them, decided by one
# match: the bulk of a batch (plain addresses, lower-case names, URLs and e-mail addresses on
# them, hex hashes). The full parser costs 3-10 us a value (refang check, kind guesses, memo
# misses, ipaddress); the match under 1 us. Equality with the full parser, value for value, is
# what tests/fusion/test_fusion_parse.py checks (conformance data, the benchmark's generator,
# random inputs). Why each shape is its own canonical form:
#   * no blank, "[", "(", "{" or backslash, and at most the scheme's "://": strip() and refang
#     leave the text as it is (refang only rewrites bracketed markers, spelled-out dots between
#     blanks and defanged schemes right before "://");
#   * names: lower-case ASCII labels (no leading or trailing hyphen, at most 63 characters) under
#     an alphabetic top label, no trailing dot, no A-label ("xn--", checked by the caller, as is
#     the length of at most 253): kit.observables keeps such a name as it is;
#   * a URL: "http" or "https", no user, no port, such a host, then only printable ASCII;
#   * an e-mail address: dot-separated atoms of letters, digits, "_", "+", "-" (at most 64), "@",
#     such a name;
#   * IPv6: eight groups of lower-case hex without leading zeros and no two zero groups in a row
#     (ipaddress would compress those to "::");
#   * base58 of a Bitcoin address's shape, and an upper-case IBAN: not canonical by shape alone,
#     but the full parser gets to them only through detection's chain of guesses, none of which
#     can take such a text before its base58/IBAN guess (not hex: the hex shape comes first and
#     wins; no dot, colon, "@", blank or "://"; an IBAN starting "BC1"/"TB1" could be a segwit
#     address: left to the full parser), and that guess validates with the same normaliser
#     called here. A text the normaliser rejects, or that refang might touch, goes to the full
#     parser. Detection's chain cost ~6 us of the 11 us of a BTC value and ~8 of the 24 us of an
#     IBAN (2026-11-27; 5 % of the benchmark's batch).
# The shapes are disjoint (hex and base58/IBAN aside, hex first), so their order only matters
# for speed: most frequent and quickest to reject first, e-mail last (its local part scans a
# whole name before failing on the missing "@").
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_NAME = rf"(?:{_LABEL}\.)+[a-z]{{2,63}}"
_HEXTET = r"(?:0|[1-9a-f][0-9a-f]{0,3})"
_CANONICAL = re.compile(
    rf"(?:(?P<url>https?://(?P<host>{_NAME})(?:[/?#][!-')-Z\]-z|}}~]*)?)"
    r"|(?P<hex>[0-9a-fA-F]+)"
    rf"|(?P<ipv4>(?:{_OCTET}\.){{3}}{_OCTET})"
    rf"|(?P<name>{_NAME})"
    rf"|(?P<ipv6>{_HEXTET}(?::{_HEXTET}){{7}})"
    r"|(?P<btc>[123mn][1-9A-HJ-NP-Za-km-z]{25,34})"
    r"|(?P<iban>[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30})"
    rf"|(?P<email>[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?P<domain>{_NAME})))\Z")


def _canonical(text: str) -> tuple[str, str] | None:
    """(kind, value) of a text the full parser would keep as it is (hashes: lower-cased); else None."""
    m = _CANONICAL.match(text)
    if m is None:
        return None
    shape = m.lastgroup
    if shape == "ipv4":
        return "ipv4-addr", text
    if shape == "hex":
        kind = _HASH_BY_LENGTH.get(len(text))
        return (kind, text.lower()) if kind is not None and not text.isdigit() else None
    if shape == "name":
        return ("domain-name", text) if len(text) <= 253 and "xn--" not in text else None
    if shape == "url":
        host = m["host"]
        ok = len(host) <= 253 and "xn--" not in host and text.count("://") == 1
        return ("url", text) if ok else None
    if shape == "email":
        domain = m["domain"]
        ok = len(domain) <= 253 and "xn--" not in domain and len(text) - len(domain) <= 65
        return ("email-addr", text) if ok else None
    if shape == "ipv6":
        return ("ipv6-addr", text) if ":0:0:" not in f":{text}:" else None
    if shape == "btc" or shape == "iban":
        if _DEFANG_HINT.search(text) or text.startswith(("BC1", "TB1")):
            return None
        try:
            return shape, normalise(shape, text)
        except InvalidInput:
            return None
    return None


def parse_value(raw: Any, kind: str | None = None) -> tuple[str, str] | None:
    """(kind, canonical value) of one asked value, refanged; None when it is not an observable."""
    if isinstance(raw, str) and (found := _canonical(raw)) is not None and (kind is None or kind == found[0]):
        return found
    return _parse(raw, kind)


def _parse(raw: Any, kind: str | None = None) -> tuple[str, str] | None:
    """parse_value by the full parser (what ``_canonical`` must agree with)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if _DEFANG_HINT.search(text):
        text = refang(text).strip()
    if kind is None:
        hash_kind = _HASH_BY_LENGTH.get(len(text))
        if hash_kind is not None and _HEX.match(text) and not text.isdigit():
            return hash_kind, text.lower()
        if _IPV4_CANONICAL.match(text):
            return "ipv4-addr", text
    kind = kind or _by_syntax(text)
    if kind:
        try:
            return kind, normalise(kind, text)
        except InvalidInput:
            return None if kind not in ("url", "email-addr", "domain-name") else detect(text)
    return detect(text)


@lru_cache(maxsize=8)
def _derived_key(secret: str, label: bytes) -> bytes:
    return hmac.digest(secret.encode(), label, "sha256")


def lookup_key(settings: Settings) -> bytes:
    """The HMAC key for stored lookup values, derived from (never equal to) the settings secret."""
    return _derived_key(settings.effective_secret_key(), b"cyberfusion lookup values v1")


def value_digest(key: bytes, kind: str | None, value: str) -> bytes:
    message = f"{kind}:{value}" if kind else f"?:{value}"
    return hmac.digest(key, message.encode("utf-8", "surrogatepass"), "sha256")[:DIGEST_BYTES]


@lru_cache(maxsize=8)
def _keyed_states(key: bytes) -> tuple[Any, Any]:
    """SHA-256 after the inner and the outer padded key (RFC 2104); only ever copied, never updated."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def value_digests(key: bytes, parsed: list[tuple[str, str] | None], values: list[Any]) -> bytes:
    """``value_digest`` of every asked value, packed in order (its kind and canonical value, or
    "?" and the input when it is not an observable).

    HMAC as RFC 2104 defines it, from the two SHA-256 states keyed once and copied per value
    (what ``hmac.HMAC`` does inside): ``hmac.digest`` keys OpenSSL again for every message and
    ``hmac.HMAC.copy`` wraps every copy in a Python object, 0.16 s and 0.10 s of CPU for a
    100,000-value batch against 0.065 s. The tests compare it with ``value_digest``."""
    inner, outer = _keyed_states(key)
    out = []
    append = out.append
    for p, raw in zip(parsed, values):
        h = inner.copy()
        h.update((f"{p[0]}:{p[1]}" if p is not None else f"?:{raw}").encode("utf-8", "surrogatepass"))
        o = outer.copy()
        o.update(h.digest())
        append(o.digest()[:DIGEST_BYTES])
    return b"".join(out)


def _native() -> Any:
    """The C extension for canonical shapes and their digests, or None when it is not built."""
    try:
        from cyberfusion.fusion import _fastlookup
    except ImportError:
        return None
    return _fastlookup


def parse_and_digest(values: list[Any], kind: str | None, key: bytes, *, native: bool = True
                     ) -> tuple[list[tuple[str, str] | None], bytes]:
    """``parse_value`` of every value and their ``value_digests``.

    With the C extension (``_fastlookup.c``; ``native`` false or the extension not built: the
    Python path), the values in a canonical shape are parsed and hashed in one C call, and only
    the others (the extension's ``pending``: other shapes, non-ASCII text, IBAN values) by the
    Python functions. Why native code, and what it saves: the C file's header and
    docs/fusion.md. tests/fusion/test_fusion_native.py checks both paths give the same."""
    fast = _native() if native else None
    if fast is None:
        parsed = [parse_value(v, kind) for v in values]
        return parsed, value_digests(key, parsed, values)
    parsed, digests, pending = fast.parse_digest(values, kind, key)
    if pending:
        rest = [values[i] for i in pending]
        rest_parsed = [parse_value(v, kind) for v in rest]
        rest_digests = value_digests(key, rest_parsed, rest)
        for n, (i, p) in enumerate(zip(pending, rest_parsed)):
            parsed[i] = p
            digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES] = rest_digests[n * DIGEST_BYTES:(n + 1) * DIGEST_BYTES]
    return parsed, bytes(digests)


def custodian(org_id: int) -> Viewer:
    """The owner organisation reading its own data: it sees what is still active, for any purpose.

    Used to ask the policy gate whether an owner should hear of a hit at all (data hidden by
    retention or past its expiry raises no notification)."""
    return Viewer(member_id=0, email="", roles=frozenset(), org_id=org_id, org_name="", org_kind="private",
                  org_sector=None, org_country="", org_region="", may_receive=True,
                  tlp_ceiling=len(TLP_LEVELS) - 1, receive_categories=None,
                  agreement_purposes=frozenset(PURPOSES))


# --- the lookup ----------------------------------------------------------------------------------

@dataclass
class LookupResult:
    lookup_id: int
    purpose: str
    results: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"lookup_id": self.lookup_id, "purpose": self.purpose, "counts": self.counts,
                "results": self.results}


def _new_references(n: int) -> list[str]:
    """n fresh hit references (one read of the system's random source for all of them)."""
    pool = secrets.token_hex(5 * n).upper()
    return ["H-" + pool[i:i + 10] for i in range(0, 10 * n, 10)]


# Above this many values the cyclic garbage collector is paused for the lookup: a batch
# allocates a dozen containers per value and no reference cycles, and the collector's repeated
# passes over them were a third of a 100,000-value lookup's CPU time (benchmarks/lookup.py).
_GC_PAUSE_VALUES = 1000


@contextmanager
def _collector_paused(paused: bool) -> Iterator[None]:
    was_enabled = paused and gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def lookup(session: Session, *, viewer: Viewer, purpose: str, values: list[Any], kind: str | None = None,
           settings: Settings | None = None, now: datetime | None = None,
           writer: GroupCommit | None = None) -> LookupResult:
    """Answer hit/no-hit for each value, notify owners, keep the asked values hashed, audit.

    The rows (lookup, notifications, hit rows, audit entry) are written in the caller's session
    and transaction; with a ``writer`` (the API on SQLite, lookups of at most GROUP_MAX_VALUES
    values), by the process's group writer in a transaction shared with the other lookups
    waiting, committed before this returns (``groupcommit.py``). The matching and deciding run
    here either way, in the caller's session, outside the write lock."""
    with _collector_paused(isinstance(values, list) and len(values) > _GC_PAUSE_VALUES):
        prepared = _prepare(session, viewer=viewer, purpose=purpose, values=values, kind=kind, settings=settings,
                            now=now)
        if writer is not None and len(values) <= GROUP_MAX_VALUES:
            written = writer.submit(prepared)
        else:
            written = prepared(session)
        return prepared.finish(written)


# Lookups of more values than this write in the caller's transaction even with a group writer:
# their rows are a long write of their own, which a batch would make every lookup in it wait for.
GROUP_MAX_VALUES = 100


# What a lookup's write gives back: its id and each answer's references.
_Written = tuple[int, dict[matching.Key, list[dict[str, str]]]]


@dataclass
class _Prepared:
    """A lookup decided and not yet written: what its write needs, and the answer to complete."""
    viewer: Viewer
    purpose: str
    now: datetime
    lookup_row: dict[str, Any]
    answers: dict[matching.Key, dict[str, Any]]
    wanted: dict[tuple[int, str, str], tuple[str, str]]
    owner_objects: dict[tuple[int, str, str], list[str]]
    results: list[dict[str, Any]]
    counts: dict[str, int]
    disclosed: set[str]

    def __call__(self, session: Session) -> _Written:
        """Write the lookup's rows in `session`: its id and each answer's references. Changes
        nothing but the session (a group writer may run it twice: in a batch, then alone)."""
        return _Prepared.write_together(session, [self])[0]

    @staticmethod
    def write_together(session: Session, batch: list[_Prepared]) -> list[_Written]:
        """Write the rows of several lookups in `session`, as each would alone and in the same
        order, with one statement per kind of row (the lookups, their hit rows, their audit
        entries) instead of one per lookup: the group writer's batch (groupcommit.py), whose
        write turn holds SQLite's one write lock. Notifications are raised lookup by lookup
        (only lookups with hits have any; one statement each)."""
        ids = repository.add_lookups(session, [p.lookup_row for p in batch])
        written: list[_Written] = []
        hit_rows: list[tuple[int, str, str, str, str]] = []
        no_refs: list[dict[str, str]] = []
        for p, lookup_id in zip(batch, ids, strict=True):
            references = _notify(session, viewer=p.viewer, purpose=p.purpose, lookup_id=lookup_id,
                                 wanted=p.wanted, owner_objects=p.owner_objects, now=p.now)
            hit_rows.extend((lookup_id, k[0], k[1], a["told"],
                             _json_strings([r["reference"] for r in references.get(k, no_refs)]))
                            for k, a in p.answers.items())
            written.append((lookup_id, references))
        repository.add_lookup_hits(session, hit_rows)
        audit.record_many(session, [
            audit.Entry(action="fusion.lookup", viewer=p.viewer, purpose=p.purpose, object_ids=sorted(p.disclosed),
                        detail={"lookup_id": lookup_id, **p.counts, "notified": len(p.wanted)})
            for p, lookup_id in zip(batch, ids)])
        return written

    def finish(self, written: _Written) -> LookupResult:
        # A hit's "references" list in the results is the answer's own list object: filled here.
        lookup_id, references = written
        for key, refs in references.items():
            self.answers[key]["references"].extend(refs)
        return LookupResult(lookup_id, self.purpose, self.results, self.counts)


def _prepare(session: Session, *, viewer: Viewer, purpose: str, values: list[Any], kind: str | None,
             settings: Settings | None, now: datetime | None) -> _Prepared:
    settings = settings or get_settings()
    policy.require_purpose(viewer, purpose)
    if not isinstance(values, list) or not values:
        raise InvalidInput("give at least one value", field="values")
    if len(values) > settings.lookup_max_values:
        raise InvalidInput(f"at most {settings.lookup_max_values:,} values per lookup, got {len(values):,}",
                           field="values")
    if kind is not None:
        _known_kind(kind)
    now = now or utcnow()

    parsed, digests = parse_and_digest(values, kind, lookup_key(settings), native=settings.native)
    keys = set(parsed)
    keys.discard(None)
    found = matching.find(session, viewer=viewer, purpose=purpose, keys=keys, objects=True,
                          stored=_stored_values(session, settings, len(keys)))
    found = {k: g for k, g in found.items() if g}

    answers = _decide(session, viewer=viewer, purpose=purpose, found=found, settings=settings, now=now)
    # The answers per value, in the order asked. A hit's "references" list is the answer's own
    # list object, which _Prepared.finish fills once the rows are written.
    results, counts, disclosed = _results(values, parsed, answers)
    wanted = _to_notify(viewer, answers)
    lookup_row = {
        "member_id": viewer.member_id, "organisation_id": viewer.org_id, "secondment_id": viewer.secondment_id,
        "purpose": purpose, "created_at": now, "value_count": len(values), "hit_count": counts["hit"],
        "notified_count": len(wanted), "digests": digests}
    return _Prepared(viewer=viewer, purpose=purpose, now=now, lookup_row=lookup_row, answers=answers,
                     wanted=wanted, owner_objects=_owner_objects(answers, wanted) if wanted else {},
                     results=results, counts=counts, disclosed=disclosed)


def _stored_values(session: Session, settings: Settings, n: int) -> valuefilter.Hashes | None:
    """The hashes of the stored values when the in-memory filter is worth its query and ready."""
    if n < valuefilter.MIN_VALUES:
        return None
    f = valuefilter.for_session(session, max_values=settings.lookup_filter_max_values, native=settings.native)
    return f.current(session) if f is not None else None


def _results(values: list[Any], parsed: list[tuple[str, str] | None], answers: dict[matching.Key, dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], dict[str, int], set[str]]:
    """Per value asked: invalid, no_hit or hit (with what the answer holds); the counts; the ids
    of the objects disclosed."""
    results: list[dict[str, Any]] = []
    append = results.append
    get = answers.get
    invalid = no_hit = 0
    disclosed: set[str] = set()
    for raw, p in zip(values, parsed):
        if p is None:
            invalid += 1
            append({"value": raw, "result": "invalid", "reason": "not a recognised observable"})
            continue
        a = get(p)
        if a is None or a["result"] == "no_hit":
            no_hit += 1
            append({"value": raw, "kind": p[0], "normalised": p[1], "result": "no_hit"})
            continue
        out = {"value": raw, "kind": p[0], "normalised": p[1], "result": "hit",
               "references": a["references"], "warninglists": a["warninglists"]}
        if a.get("details"):
            out["details"] = a["details"]
            disclosed.update(o["id"] for o in a["details"]["objects"])
        append(out)
    counts = {"values": len(values), "hit": len(values) - invalid - no_hit, "no_hit": no_hit, "invalid": invalid}
    return results, counts, disclosed


def _known_kind(kind: str) -> None:
    from cyberfusion.kit.observables import KINDS
    if kind not in KINDS:
        raise InvalidInput(f"unknown observable kind: {kind!r}", field="kind")


# A matched group's effect on the answer (``_decide``): the asker may read it and is told the
# details, may read it but only gets a reference (hit reveal: no), may not read it but its
# owner still sees it (notified, the asker told no_hit), or neither (nothing at all).
_REVEAL, _REFER, _HIDDEN, _SILENT = 0, 1, 2, 3
_TOLD = ("details", "reference", "no_hit", "no_hit")


def _decide(session: Session, *, viewer: Viewer, purpose: str, found: dict[matching.Key, list[matching.Group]],
            settings: Settings, now: datetime) -> dict[matching.Key, dict[str, Any]]:
    """Per matched key: what the asker is told and which owners hear of it."""
    if not found:
        return {}
    groups = [g for gs in found.values() for g in gs]
    owners = {c.id: (c, org, h) for c, org, h in
              intel_repo.contributions_with_owner(session, {g.contribution_id for g in groups})}
    # Objects mostly keep their contribution's handling: read only the overriding ones.
    handlings = {h.id: h for _c, _org, h in owners.values()}
    missing = {g.handling_id for g in groups} - handlings.keys()
    if missing:
        handlings.update(intel_repo.handlings(session, missing))
    wl = warninglists.matcher(session)
    host_names: list[str] = []

    def host_name() -> str:
        """The host centre's name, read only when an anonymous source must be shown as it."""
        if not host_names:
            host = partners_repo.host_centre(session)
            host_names.append(host.name if host else "host centre")
        return host_names[0]

    active_for_owner: dict[str, bool] = {}

    def owner_sees(g: matching.Group) -> bool:
        if g.contribution_id not in active_for_owner:
            c, _org, _h = owners[g.contribution_id]
            facts = policy.HandlingFacts(organisation_id=c.organisation_id, status=c.status, review_at=c.review_at,
                                         expires_at=c.expires_at, category=c.category,
                                         handling=handlings[g.handling_id])
            active_for_owner[g.contribution_id] = policy.visible(custodian(c.organisation_id), purpose, facts,
                                                                 now=now)
        return active_for_owner[g.contribution_id]

    orgs = {org.id: org for _c, org, _h in owners.values()}
    labels: dict[tuple[int, int], str] = {}

    def label(org_id: int, handling_id: int) -> str:
        """The owner as this asker may name it (attribution mode of the matching handling)."""
        if (org_id, handling_id) not in labels:
            org = orgs[org_id]
            attribution = handlings[handling_id].attribution
            shown_as_host = org.id != viewer.org_id and attribution not in ("named", "sector")
            labels[(org_id, handling_id)] = policy.source_label(
                viewer, owner_id=org.id, owner_name=org.name, owner_kind=org.kind, owner_sector=org.sector,
                owner_region=org.region, attribution=attribution,
                host_centre_name=host_name() if shown_as_host else "")
        return labels[(org_id, handling_id)]

    # What a group makes of the answer depends only on (readable, handling, owner, contribution):
    # decided once per distinct one, not per group (a batch's ~10,000 hits come from a few).
    classes: dict[tuple[bool, int, int, str], int] = {}
    own_org = viewer.org_id

    def classify(g: matching.Group) -> int:
        sig = (g.readable, g.handling_id, g.organisation_id, g.contribution_id)
        c = classes.get(sig)
        if c is None:
            if g.readable:
                # "Hit reveal: no" withholds details from others, never from the owner itself.
                c = _REVEAL if handlings[g.handling_id].hit_reveal or g.organisation_id == own_org else _REFER
            else:
                c = _HIDDEN if owner_sees(g) else _SILENT
            classes[sig] = c
        return c

    answers: dict[matching.Key, dict[str, Any]] = {}
    reveal_groups: list[matching.Group] = []
    for key, gs in found.items():
        listed = wl.match(*key)
        if len(gs) == 1:
            # Nine matched values in ten have one group: the general path below, specialised
            # (same dicts, same key order; ~2x less CPU per value, 2026-11-27).
            g = gs[0]
            c = classify(g)
            if c == _SILENT:
                answers[key] = {"result": "no_hit", "told": "no_hit", "warninglists": listed, "owners": {},
                                "labels": {}, "groups": gs, "references": []}
                continue
            org, told = g.organisation_id, _TOLD[c]
            owner_label = label(org, g.handling_id)
            answer = {"result": "no_hit" if c == _HIDDEN else "hit", "told": told, "warninglists": listed,
                      "owners": {org: told}, "labels": {org: owner_label}, "groups": gs, "references": []}
            if c == _REVEAL:
                answer["details"] = {
                    "matched": [(*shown(g.kind, g.value), g.via)], "corroboration": 1,
                    "first_seen": g.first_seen or None, "last_seen": g.last_seen or None,
                    "sources": [owner_label], "common": False, "warninglists": listed, "objects": [],
                    "sightings": 0}
                reveal_groups.append(g)
            answers[key] = answer
            continue
        reveal: list[matching.Group] = []
        refer: list[matching.Group] = []
        hidden: list[matching.Group] = []
        first_handling: dict[int, int] = {}  # per owner, the handling of its first group (its label)
        for g in gs:
            first_handling.setdefault(g.organisation_id, g.handling_id)
            c = classify(g)
            if c == _REVEAL:
                reveal.append(g)
            elif c == _REFER:
                refer.append(g)
            elif c == _HIDDEN:
                hidden.append(g)
        told_by_owner: dict[int, str] = {}
        for g in hidden:
            told_by_owner.setdefault(g.organisation_id, "no_hit")
        for g in refer:
            told_by_owner[g.organisation_id] = "reference"
        for g in reveal:
            told_by_owner[g.organisation_id] = "details"
        result = "hit" if reveal or refer else "no_hit"
        answer = {
            "result": result, "told": "details" if reveal else "reference" if refer else "no_hit",
            "warninglists": listed, "owners": told_by_owner,
            "labels": {org: label(org, first_handling[org]) for org in told_by_owner},
            "groups": gs, "references": []}
        if reveal:
            owners_seen = {g.organisation_id for g in reveal}
            answer["details"] = {
                "matched": sorted({(*shown(g.kind, g.value), g.via) for g in reveal}),
                "corroboration": len(owners_seen),
                "first_seen": min((g.first_seen for g in reveal if g.first_seen), default=None),
                "last_seen": max((g.last_seen for g in reveal if g.last_seen), default=None),
                "sources": sorted({answer["labels"][o] for o in owners_seen}),
                "common": False,  # below, one query for every detailed answer
                "warninglists": listed, "objects": [], "sightings": 0}
            reveal_groups.extend(reveal)
        answers[key] = answer

    detailed = [key for key, a in answers.items() if "details" in a]
    counts = repository.value_counts(session, detailed) if detailed else {}
    for key in detailed:
        answers[key]["details"]["common"] = counts.get(key, 0) > settings.common_threshold
    _attach_objects(session, viewer=viewer, purpose=purpose, answers=answers, reveal_groups=reveal_groups)
    return answers


def _attach_objects(session: Session, *, viewer: Viewer, purpose: str, answers: dict[matching.Key, dict[str, Any]],
                    reveal_groups: list[matching.Group]) -> None:
    """Readable, revealable objects for every detailed answer, and their sightings.

    The objects come with the match (each group lists its own): every revealed stored value's
    objects are those of all its revealed groups, and every group of a stored value a key
    matched is among that key's groups, so this is what reading the readable rows of those
    values under revealing handlings (or the asker's own) again gave, without the two
    queries over the hit values (~0.1 s of a 100,000-value batch at 1M stored, 2026-11-27).
    Unlike those queries (20,000 rows each) it is not cut short: see docs/fusion.md."""
    objects: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for g in reveal_groups:
        found = objects[shown(g.kind, g.value)]
        for stix_id, otype in g.objects:
            if not found.get(stix_id):
                found[stix_id] = otype
    all_ids = {s for objs in objects.values() for s in objs}
    sightings = repository.sighting_counts(session, viewer=viewer, purpose=purpose, stix_ids=all_ids)
    no_objects: dict[str, str] = {}
    for answer in answers.values():
        details = answer.get("details")
        if not details:
            continue
        matched = details["matched"]
        if len(matched) == 1:  # one stored value: its objects as they are (no merge)
            seen = objects.get(matched[0][:2], no_objects)
        else:
            seen = {}
            for kind, value, _via in matched:
                for stix_id, otype in objects.get((kind, value), no_objects).items():
                    if not seen.get(stix_id):
                        seen[stix_id] = otype
        ids = sorted(seen)
        details["sightings"] = sum(sightings.get(s, 0) for s in ids) if sightings else 0
        details["objects"] = [{"id": s, "type": seen[s] or s.split("--", 1)[0]} for s in ids[:MAX_OBJECTS_PER_VALUE]]
        details["object_count"] = len(ids)
        details["matched"] = [{"kind": k, "value": v, "via": via} for k, v, via in matched]


# Hit references and STIX ids: letters, digits, "-", "_", ".", ":" (nothing JSON escapes).
_JSON_PLAIN = re.compile(r"[A-Za-z0-9_.:-]*\Z")


def _json_strings(items: list[str]) -> str:
    """``json.dumps(items)`` (what the JSON columns store) for a list of strings.

    Built by hand when no item needs escaping (hit references and object ids never do): one
    json.dumps per hit row and per notification was ~0.05 s of a 100,000-value batch with 10 %
    hits (2026-11-27). The tests compare it with json.dumps."""
    if not items:
        return "[]"
    if all(map(_JSON_PLAIN.match, items)):
        return '["' + '", "'.join(items) + '"]'
    return json.dumps(items)


def _to_notify(viewer: Viewer, answers: dict[matching.Key, dict[str, Any]]
               ) -> dict[tuple[int, str, str], tuple[str, str]]:
    """(owner, kind, value) -> (what the asker was told, the owner as the asker may name it)."""
    wanted: dict[tuple[int, str, str], tuple[str, str]] = {}
    for key, a in answers.items():
        if a["warninglists"]:
            continue  # a listed value raises no notification
        for org, told in a["owners"].items():
            if org != viewer.org_id:
                wanted[(org, *key)] = (told, a["labels"][org])
    return wanted


def _notify(session: Session, *, viewer: Viewer, purpose: str, lookup_id: int,
            wanted: dict[tuple[int, str, str], tuple[str, str]],
            owner_objects: dict[tuple[int, str, str], list[str]],
            now: datetime) -> dict[matching.Key, list[dict[str, str]]]:
    """Raise or renew one notification per (owner, value); the asker's references per value
    (by owner)."""
    if not wanted:
        return {}
    fresh = _new_references(len(wanted))
    rows = [(ref, org, kind, value, _json_strings(owner_objects.get((org, kind, value), [])[:MAX_OBJECTS_PER_VALUE]),
             owner_label, told)
            for ref, ((org, kind, value), (told, owner_label)) in zip(fresh, wanted.items())]
    # Asking again renews the notification (times asked, latest lookup, what the asker was told).
    references = repository.upsert_notifications(session, rows, asker_org_id=viewer.org_id,
                                                 asker_member_id=viewer.member_id, purpose=purpose,
                                                 lookup_id=lookup_id, now=now)
    out: dict[matching.Key, list[dict[str, str]]] = {}
    for (org, kind, value), (told, owner_label) in wanted.items():
        if told != "no_hit":
            out.setdefault((kind, value), []).append(
                {"reference": references[(org, kind, value)], "owner": owner_label, "contact": CONTACT_ROUTE})
    by_owner = itemgetter("owner")
    for refs in out.values():
        if len(refs) > 1:  # nothing to order in the other nine answers in ten
            refs.sort(key=by_owner)
    return out


def _owner_objects(answers: dict[matching.Key, dict[str, Any]],
                   wanted: dict[tuple[int, str, str], tuple[str, str]]) -> dict[tuple[int, str, str], list[str]]:
    """Each owner's own object ids behind each notified value (what the owner is told): the
    objects of the owner's groups among the value's matches (all rows of a stored value the
    key matched are in those groups, readable by the asker or not)."""
    out: dict[tuple[int, str, str], list[str]] = {}
    for (org, kind, value) in wanted:
        ids = {stix_id for g in answers[(kind, value)]["groups"] if g.organisation_id == org
               for stix_id, _otype in g.objects}
        if ids:
            out[(org, kind, value)] = sorted(ids)
    return out


# --- owners' inbox and the asker's answers ----------------------------------------------------------

def _require_inbox_role(viewer: Viewer) -> None:
    if not viewer.has_role(*INBOX_ROLES):
        raise Forbidden(f"hit notifications need one of the roles: {', '.join(INBOX_ROLES)}")


def notification_for_owner(n: HitNotification, asker_org: str, asker_email: str) -> dict[str, Any]:
    return {"reference": n.reference, "kind": n.kind, "value": n.value, "purpose": n.purpose,
            "asked_by": {"organisation": asker_org, "member": asker_email},
            "first_asked_at": n.first_asked_at, "last_asked_at": n.last_asked_at, "times_asked": n.times_asked,
            "your_objects": n.object_ids, "asker_told": n.asker_told, "status": n.status,
            "decision": n.decision, "message": n.message, "answered_at": n.answered_at}


def inbox(session: Session, *, viewer: Viewer, status: str | None = None, after_id: int | None = None,
          limit: int = 100) -> list[dict[str, Any]]:
    """Notifications to the viewer's organisation about lookups that hit its data."""
    _require_inbox_role(viewer)
    if status is not None and status not in ("open", "answered"):
        raise InvalidInput("one of: open, answered", field="status")
    rows = repository.owner_inbox(session, owner_org_id=viewer.org_id, status=status, after_id=after_id,
                                  limit=max(1, min(limit, 500)))
    return [notification_for_owner(n, org.name, member.email) | {"id": n.id} for n, org, member in rows]


def answer(session: Session, *, viewer: Viewer, reference: str, decision: str, message: str = "",
           now: datetime | None = None) -> dict[str, Any]:
    """The owner's answer to a hit; the asker sees it (and, for share/contact, learns of the hit)."""
    _require_inbox_role(viewer)
    if decision not in DECISIONS:
        raise InvalidInput(f"one of: {', '.join(DECISIONS)}", field="decision")
    if len(message) > 10_000:
        raise InvalidInput("at most 10,000 characters", field="message")
    n = repository.notification_by_reference(session, reference)
    if n is None or n.owner_org_id != viewer.org_id:
        raise NotFound(f"no hit notification {reference}")
    n.status, n.decision, n.message = "answered", decision, message.strip() or None
    n.answered_by, n.answered_at = viewer.member_id, now or utcnow()
    session.flush()
    audit.record(session, action="fusion.hit.answer", viewer=viewer, object_ids=n.object_ids,
                 detail={"reference": n.reference, "decision": decision, "asker_org_id": n.asker_org_id})
    members = repository.members_by_ids(session, [n.asker_member_id])
    org = partners_repo.org_by_id(session, n.asker_org_id)
    return notification_for_owner(n, org.name if org else "", members[n.asker_member_id].email)


def sent(session: Session, *, viewer: Viewer, after_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The asker organisation's hits: references it was given, and owners' answers."""
    out = []
    for n in repository.asker_sent(session, asker_org_id=viewer.org_id, after_id=after_id,
                                   limit=max(1, min(limit, 500))):
        out.append({"id": n.id, "reference": n.reference, "kind": n.kind, "value": n.value, "purpose": n.purpose,
                    "owner": n.owner_label, "last_asked_at": n.last_asked_at, "status": n.status,
                    "decision": n.decision, "message": n.message, "answered_at": n.answered_at})
    return out


__all__ = ["lookup", "inbox", "answer", "sent", "parse_value", "value_digest", "lookup_key", "LookupResult",
           "custodian", "CONTACT_ROUTE"]
