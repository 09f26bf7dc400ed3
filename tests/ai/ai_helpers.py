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
