"""Shared pieces of the AI tests: a deterministic stand-in embedder and report objects."""

from __future__ import annotations

import hashlib
import math
import re
import uuid

from cyberfusion.sharing.handling import DEFAULT_PURPOSES

AI_PURPOSES = DEFAULT_PURPOSES + ("ai_processing",)


class HashingEmbedder:
    """Bag of words hashed into 64 dimensions: similar wording, similar vector (no model needed)."""

    model_id = "test-hashing"
    version = "test-1"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.calls.append(list(texts))
        out = []
        for text in texts:
            v = [0.0] * 64
            for word in re.findall(r"\w+", text.lower()):
                v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out


def report(name: str, description: str, *, stix_id: str | None = None) -> dict:
    return {"type": "report", "spec_version": "2.1",
            "id": stix_id or f"report--{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
            "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
            "published": "2026-10-01T00:00:00Z", "name": name, "description": description,
            "report_types": ["threat-report"],
            "object_refs": ["indicator--00000000-0000-4000-8000-000000000001"]}


def contribute_report_matrix(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One report per handling combination of the leak matrix, each one AI may process."""
    from cyberfusion.sharing.handling import HandlingSpec
    from sharing.helpers import contribute
    from sharing.leak import HANDLINGS

    for name, (owner, handling, _value) in HANDLINGS.items():
        handling = dict(handling)
        handling["purposes"] = tuple(handling.get("purposes", ())) + ("ai_processing",) if "purposes" in handling \
            else AI_PURPOSES
        if "recipients" in handling:
            handling["recipients"] = tuple(world.orgs[r] for r in handling["recipients"])
        contribute(world, tmp_path, owner, [report(f"matrix {name}", f"ransomware campaign case {name}")],
                   HandlingSpec(**handling))


def build_report_matrix(world, tmp_path):  # type: ignore[no-untyped-def]
    """The leak matrix's handling combinations, each on one report that AI may process, all
    embedded (the AI and web similar-report read paths both judge it)."""
    import json

    from sqlalchemy import select

    from cyberfusion.ai import similar
    from cyberfusion.ai.models import AiEmbedding
    from cyberfusion.db import transaction, utcnow
    from cyberfusion.intel.models import StixObject

    contribute_report_matrix(world, tmp_path)
    with transaction(world.factory) as s:
        similar.index(s, viewer=world.viewer("analyst"), embedder=HashingEmbedder())
    # Reports the host centre may not read (RED to others, recipient-only, research-only) are
    # embedded as their owners' indexing would do it: same columns, copied from the source row.
    embedder = HashingEmbedder()
    with transaction(world.factory) as s:
        done = {e.object_pk for e in s.scalars(select(AiEmbedding))}
        for obj in s.scalars(select(StixObject).where(StixObject.type == "report")):
            if obj.pk not in done:
                vec = embedder.encode([similar.text_of(json.loads(obj.data))])[0]
                s.add(AiEmbedding(object_pk=obj.pk, stix_id=obj.stix_id, contribution_id=obj.contribution_id,
                                  handling_id=obj.handling_id, organisation_id=obj.organisation_id,
                                  model_id=embedder.model_id, model_version=embedder.version, dimensions=len(vec),
                                  vector=similar._pack(vec), created_at=utcnow()))
    return world
