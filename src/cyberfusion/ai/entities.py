"""Entity suggestions: malware families, actor names, tools and ATT&CK techniques mentioned in a
text, matched against the ATT&CK objects held in the store (read through the policy gate)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.ai import repository
from cyberfusion.sharing.viewer import Viewer

MODEL_ID = "cfc-attack-matcher"
VERSION = "1.0.0"
ATTACK_TYPES = ("attack-pattern", "malware", "intrusion-set", "tool")
_MIN_NAME = 4
_ID = re.compile(r"\b(?:T[0-9]{4}(?:\.[0-9]{3})?|[SGM][0-9]{4})\b")
_CONFIDENCE = {"id": 0.95, "malware": 0.85, "intrusion-set": 0.85, "tool": 0.7, "attack-pattern": 0.6}


@dataclass(frozen=True, slots=True)
class EntityMatch:
    stix_id: str
    type: str
    name: str
    external_id: str | None
    matched: str
    start: int
    end: int
    confidence: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.stix_id, "type": self.type, "name": self.name, "external_id": self.external_id,
                "matched": self.matched, "start": self.start, "end": self.end, "confidence": self.confidence,
                "reason": self.reason}


def _external_id(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("external_references") or ():
        if str(ref.get("source_name", "")).startswith("mitre") and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def _catalogue(session: Session, viewer: Viewer) -> tuple[dict[str, tuple[str, str, str, str | None]], list[str]]:
    """name (lower-case) or external id -> (stix id, type, display name, external id)."""
    by_name: dict[str, tuple[str, str, str, str | None]] = {}
    for row in repository.ai_inputs(session, viewer=viewer, types=ATTACK_TYPES, limit=50_000):
        obj = json.loads(row.data)
        if obj.get("revoked") or obj.get("x_mitre_deprecated"):
            continue
        ext = _external_id(obj)
        entry = (row.stix_id, row.type, obj.get("name") or row.stix_id, ext)
        for name in [obj.get("name"), *(obj.get("aliases") or ()), *(obj.get("x_mitre_aliases") or ())]:
            if isinstance(name, str) and len(name) >= _MIN_NAME:
                by_name.setdefault(name.lower(), entry)
        if ext:
            by_name.setdefault(ext, entry)
    names = sorted((n for n in by_name if not _ID.fullmatch(n)), key=len, reverse=True)
    return by_name, names


def suggest(session: Session, *, viewer: Viewer, text: str) -> list[EntityMatch]:
    """ATT&CK objects named in ``text`` (first mention of each), most certain first."""
    by_name, names = _catalogue(session, viewer)
    if not by_name:
        return []
    found: dict[str, EntityMatch] = {}
    for m in _ID.finditer(text):
        entry = by_name.get(m.group())
        if entry and entry[0] not in found:
            found[entry[0]] = EntityMatch(entry[0], entry[1], entry[2], entry[3], m.group(), m.start(), m.end(),
                                          _CONFIDENCE["id"], f"ATT&CK id {m.group()} ({entry[2]})")
    if names:
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)
        for m in pattern.finditer(text):
            entry = by_name[m.group().lower()]
            if entry[0] in found:
                continue
            what = {"attack-pattern": "technique", "intrusion-set": "group"}.get(entry[1], entry[1])
            found[entry[0]] = EntityMatch(
                entry[0], entry[1], entry[2], entry[3], m.group(), m.start(), m.end(), _CONFIDENCE[entry[1]],
                f"{what} name '{m.group()}'" + (f" ({entry[3]})" if entry[3] else "")
                + (" — technique names are common phrases: check the context" if entry[1] == "attack-pattern" else ""))
    return sorted(found.values(), key=lambda e: (-e.confidence, e.start))


__all__ = ["suggest", "EntityMatch", "ATTACK_TYPES", "MODEL_ID", "VERSION"]
