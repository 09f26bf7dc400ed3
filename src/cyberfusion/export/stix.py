"""STIX 2.1 bundle export: each object carries its effective handling as markings.

Every object gets the official TLP 2.0 marking of the handling it was read under,
and a statement marking that spells out the restrictions, purposes and
dissemination rule, so the rules travel with the data to the recipient's tools.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any, TextIO

from cyberfusion.sharing.markings import MARKING_TO_TLP, TLP2_MARKING_IDS, tlp2_marking_definition

HANDLING_NAMESPACE = uuid.UUID("0d4c2b47-7f3e-4c55-9e1e-3f7a1b2c9d10")
_SKIP_MARKING = frozenset({"marking-definition", "extension-definition", "language-content"})


def handling_statement(handling: dict[str, Any]) -> str:
    parts = [f"TLP:{handling['tlp'].upper()}", "purposes: " + ", ".join(handling["purposes"])]
    if handling["allowed_countries"]:
        parts.append("only countries: " + ", ".join(handling["allowed_countries"]))
    if handling["denied_countries"]:
        parts.append("not countries: " + ", ".join(handling["denied_countries"]))
    if handling["allowed_kinds"]:
        parts.append("only organisation kinds: " + ", ".join(handling["allowed_kinds"]))
    if handling["law_enforcement_only"]:
        parts.append("law enforcement only")
    if handling["no_further_dissemination"]:
        parts.append("no further dissemination")
    return "cyberfusion handling — " + "; ".join(parts)


def statement_marking(handling: dict[str, Any]) -> dict[str, Any]:
    text = handling_statement(handling)
    mid = uuid.uuid5(HANDLING_NAMESPACE, hashlib.sha256(text.encode()).hexdigest())
    return {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{mid}",
            "created": "2026-01-01T00:00:00.000Z", "name": "cyberfusion handling",
            "definition_type": "statement", "definition": {"statement": text}}


def marked(obj: dict[str, Any], handling: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A copy of the object with its effective handling markings, and the statement marking."""
    statement = statement_marking(handling)
    if obj.get("type") in _SKIP_MARKING:
        return obj, statement
    refs = [r for r in obj.get("object_marking_refs", []) if r not in MARKING_TO_TLP]
    refs.extend([TLP2_MARKING_IDS[handling["tlp"]], statement["id"]])
    return {**obj, "object_marking_refs": refs}, statement


def write_bundle(out: TextIO, items: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Stream a bundle of (object, handling) pairs; returns the number of objects written."""
    out.write('{"type": "bundle", "id": "bundle--%s", "objects": [' % uuid.uuid4())
    markings: dict[str, dict[str, Any]] = {}
    written_ids: set[str] = set()
    count = 0
    for obj, handling in items:
        copy, statement = marked(obj, handling)
        markings.setdefault(statement["id"], statement)
        tlp_def = tlp2_marking_definition(handling["tlp"])
        markings.setdefault(tlp_def["id"], tlp_def)
        out.write(("," if count else "") + "\n" + json.dumps(copy, ensure_ascii=False))
        written_ids.add(copy["id"])
        count += 1
    for mid, m in markings.items():
        if mid not in written_ids:
            out.write(("," if count else "") + "\n" + json.dumps(m, ensure_ascii=False))
            count += 1
    out.write("\n]}\n")
    return count
