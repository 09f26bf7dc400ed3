"""Builders shared by the fusion tests: STIX objects carrying given observables, imports."""

from __future__ import annotations

import uuid
from pathlib import Path

from cyberfusion.kit.observables import to_pattern
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import contribute, indicator

WARNINGLISTS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "misp" / "warninglists"


def multi(name: str, pairs: list[tuple[str, str]], *, stix_id: str | None = None) -> dict:
    """An indicator whose pattern ORs several observables (e.g. one file's md5 and sha256)."""
    pattern = " OR ".join(to_pattern(k, v)[1:-1] for k, v in pairs)
    return {"type": "indicator", "spec_version": "2.1",
            "id": stix_id or f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
            "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z", "name": name,
            "pattern": f"[{pattern}]", "pattern_type": "stix", "valid_from": "2026-10-01T00:00:00Z"}


def sighting(of: str, *, n: int = 1) -> dict:
    return {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid5(uuid.NAMESPACE_URL, of + str(n))}",
            "created": "2026-10-02T00:00:00.000Z", "modified": "2026-10-02T00:00:00.000Z", "sighting_of_ref": of,
            "count": 1}


def give(world, tmp_path, owner: str, objects: list[dict], **handling):
    """Import ``objects`` as the member ``owner`` under the given handling (TLP clear by default)."""
    handling.setdefault("tlp", "clear")
    if "recipients" in handling:
        handling["recipients"] = tuple(world.orgs[r] for r in handling["recipients"])
    return contribute(world, tmp_path, owner, objects, HandlingSpec(**handling))


__all__ = ["indicator", "multi", "sighting", "give", "WARNINGLISTS"]
