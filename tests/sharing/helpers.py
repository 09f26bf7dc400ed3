"""Build contributions with given handling through the real pipeline (shared by policy tests)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from cyberfusion.db import transaction
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.kit.observables import to_pattern
from cyberfusion.partners import repository, service
from cyberfusion.sharing.handling import HandlingSpec


def indicator(kind: str, value: str, *, marking: str | None = None, modified: str = "2026-10-01T00:00:00.000Z",
              stix_id: str | None = None) -> dict:
    obj = {"type": "indicator", "spec_version": "2.1",
           "id": stix_id or f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, kind + value)}",
           "created": "2026-10-01T00:00:00.000Z", "modified": modified, "name": f"test {value}",
           "pattern": to_pattern(kind, value), "pattern_type": "stix", "valid_from": "2026-10-01T00:00:00Z"}
    if marking:
        obj["object_marking_refs"] = [marking]
    return obj


def bundle_file(tmp: Path, objects: list[dict], name: str | None = None) -> Path:
    path = tmp / (name or f"{uuid.uuid4()}.json")
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}))
    return path


def contribute(world, tmp: Path, owner: str, objects: list[dict], spec: HandlingSpec, **kw):
    """Import as the member `owner` of the world; returns the ImportResult."""
    path = bundle_file(tmp, objects)
    with transaction(world.factory) as s:
        viewer = service.resolve_viewer(s, repository.member_by_id(s, world.members[owner]))
        return import_file(s, viewer=viewer, path=path, fmt="stix", spec=spec, **kw)
