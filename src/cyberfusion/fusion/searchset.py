"""Private search sets: the values an organisation may match on, as keyed hashes.

An export is one JSON document:

    {"format": "cyberfusion-search-set", "version": 1,
     "organisation": "...", "purpose": "...", "created_at": "...",
     "algorithm": "HMAC-SHA256", "key": "<base64, 32 random bytes of this export>",
     "message": "<kind>:<canonical value>", "digest_bytes": 16, "count": N,
     "hashes": ["<32 hex>", ...],                         # sorted; absent with --bloom-only
     "bloom": {"bits": M, "hashes": K, "fp_rate": P, "count": N,
               "indexing": "h1 = digest[0:8], h2 = digest[8:16] | 1 (big-endian); bit_i = (h1 + i*h2) mod M",
               "data": "<base64 of M bits, bit j = byte j//8, mask 1 << (j % 8)>"}}

The holder hashes a candidate the same way (refang, detect or normalise its kind, then
HMAC "<kind>:<value>" with the export's key, first 16 bytes) and tests membership. The key is
per export, so two exports cannot be joined; it travels with the set because the holder needs
it. Hashing hides the list from casual reading, not from someone who can enumerate a small
value space (every IPv4 address): the set only goes to an organisation that may read these
values anyway. Warninglisted values are left out.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput
from cyberfusion.fusion import repository, warninglists
from cyberfusion.fusion.hits import parse_value
from cyberfusion.intel import repository as intel_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

FORMAT = "cyberfusion-search-set"
DIGEST_BYTES = 16


def digest(key: bytes, kind: str, value: str) -> bytes:
    return hmac.digest(key, f"{kind}:{value}".encode(), "sha256")[:DIGEST_BYTES]


def bloom_size(n: int, fp_rate: float) -> tuple[int, int]:
    """(bits, hash functions) for n items at the stated false-positive rate."""
    n = max(n, 1)
    # A floor of 1,024 bits: double hashing over a tiny bit array misses the stated rate.
    bits = max(1024, math.ceil(-n * math.log(fp_rate) / (math.log(2) ** 2)))
    return bits, max(1, round(-math.log2(fp_rate)))


class Bloom:
    def __init__(self, bits: int, hashes: int, data: bytearray | None = None) -> None:
        self.bits, self.hashes = bits, hashes
        self.data = data if data is not None else bytearray((bits + 7) // 8)

    def _positions(self, d: bytes) -> Iterable[int]:
        h1 = int.from_bytes(d[:8], "big")
        h2 = int.from_bytes(d[8:16], "big") | 1
        return ((h1 + i * h2) % self.bits for i in range(self.hashes))

    def add(self, d: bytes) -> None:
        for j in self._positions(d):
            self.data[j >> 3] |= 1 << (j & 7)

    def __contains__(self, d: bytes) -> bool:
        return all(self.data[j >> 3] & (1 << (j & 7)) for j in self._positions(d))


def org_viewer(session: Session, org: Organisation) -> Viewer:
    """The organisation's reading rights, as any of its (non-seconded) members holds them."""
    for member in repository.org_members(session, org.id):
        state = partners.access_state(session, member)
        if state.viewer is not None and state.viewer.may_receive and state.viewer.secondment_id is None:
            return state.viewer
    raise Forbidden(f"{org.name} may not receive intelligence (no active member under a valid agreement)")


def export(session: Session, *, viewer: Viewer, purpose: str, out: TextIO, bloom_fp: float | None = None,
           hashes: bool = True, kinds: list[str] | None = None) -> dict[str, Any]:
    """Write the viewer organisation's search set for this purpose; returns the header."""
    policy.require_purpose(viewer, purpose)
    if bloom_fp is not None and not 0 < bloom_fp < 0.5:
        raise InvalidInput("a false-positive rate between 0 and 0.5 (e.g. 0.001)", field="bloom_fp")
    if not hashes and bloom_fp is None:
        raise InvalidInput("a set without hashes needs a Bloom filter", field="bloom_fp")
    key = secrets.token_bytes(32)
    wl = warninglists.matcher(session)
    digests: list[bytes] = []
    skipped = 0
    for kind, value in intel_repo.readable_observables(session, viewer=viewer, purpose=purpose, kinds=kinds or ()):
        if wl and wl.match(kind, value):
            skipped += 1
            continue
        digests.append(digest(key, kind, value))
    header: dict[str, Any] = {
        "format": FORMAT, "version": 1, "organisation": viewer.org_name, "purpose": purpose,
        "created_at": utcnow().isoformat(), "algorithm": "HMAC-SHA256",
        "key": base64.b64encode(key).decode(), "message": "<kind>:<canonical value>",
        "digest_bytes": DIGEST_BYTES, "count": len(digests), "warninglisted_left_out": skipped}
    doc = dict(header)
    if hashes:
        doc["hashes"] = sorted(d.hex() for d in digests)
    if bloom_fp is not None:
        bits, k = bloom_size(len(digests), bloom_fp)
        bloom = Bloom(bits, k)
        for d in digests:
            bloom.add(d)
        header["bloom"] = {"bits": bits, "hashes": k, "fp_rate": bloom_fp, "count": len(digests),
                           "indexing": "h1 = digest[0:8], h2 = digest[8:16] | 1 (big-endian); "
                                       "bit_i = (h1 + i*h2) mod bits"}
        doc["bloom"] = header["bloom"] | {"data": base64.b64encode(bytes(bloom.data)).decode()}
    json.dump(doc, out, separators=(",", ":"))
    out.write("\n")
    audit.record(session, action="fusion.search_set.export", viewer=viewer, purpose=purpose,
                 detail={"count": len(digests), "hashes": hashes, "bloom_fp": bloom_fp})
    return {k: v for k, v in header.items() if k != "key"}


@dataclass
class SearchSet:
    key: bytes
    hashes: frozenset[bytes] | None
    bloom: Bloom | None
    fp_rate: float | None
    header: dict[str, Any]

    def check(self, kind: str, value: str) -> str:
        d = digest(self.key, kind, value)
        if self.hashes is not None:
            return "match" if d in self.hashes else "no_match"
        assert self.bloom is not None
        return "possible_match" if d in self.bloom else "no_match"


def load(path: Path) -> SearchSet:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT or doc.get("version") != 1:
            raise ValueError("not a cyberfusion search set (format/version)")
        key = base64.b64decode(doc["key"])
        hashes = frozenset(bytes.fromhex(h) for h in doc["hashes"]) if "hashes" in doc else None
        bloom = None
        if "bloom" in doc:
            b = doc["bloom"]
            bloom = Bloom(int(b["bits"]), int(b["hashes"]), bytearray(base64.b64decode(b["data"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"not a readable search set: {exc}", field="search_set", file=str(path)) from None
    if hashes is None and bloom is None:
        raise InvalidInput("the search set has neither hashes nor a Bloom filter", field="search_set")
    header = {k: v for k, v in doc.items() if k not in ("hashes", "key")}
    if bloom is not None:
        header["bloom"] = {k: v for k, v in doc["bloom"].items() if k != "data"}
    return SearchSet(key, hashes, bloom, doc.get("bloom", {}).get("fp_rate"), header)


def check(search_set: SearchSet, values: Iterable[str], *, kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for raw in values:
        found = parse_value(raw, kind)
        if found is None:
            out.append({"value": raw, "result": "invalid"})
        else:
            out.append({"value": raw, "kind": found[0], "normalised": found[1],
                        "result": search_set.check(*found)})
    return out


__all__ = ["export", "load", "check", "org_viewer", "Bloom", "bloom_size", "digest", "FORMAT"]
