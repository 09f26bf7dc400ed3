"""Horizon notes: analysts' free-text notes on new modi operandi, with tags.

A note is contributed as intelligence — a STIX ``note`` in its own contribution, under the
author's handling — so reading one goes through the policy gate and retention removes it.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.config import get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.regions import country_code, region_name
from cyberfusion.kit.timeutil import format_ts
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.products import repository
from cyberfusion.products.models import HorizonNote
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.viewer import Viewer

# STIX region-ov values nearest to the centre's reporting regions.
STIX_REGIONS = {"Africa": "africa", "Americas": "americas", "Asia & South Pacific": "asia", "Europe": "europe",
                "Middle East & North Africa": "western-asia"}
NOTE_NS = uuid.UUID("9d0b7f6a-1c1e-4a9b-8f4c-2a7b6c5d4e3f")


def _tags(tags: list[str]) -> list[str]:
    out = sorted({t.strip().lower() for t in tags if t and t.strip()})
    if len(out) > 20 or any(len(t) > 50 for t in out):
        raise InvalidInput("at most 20 tags of at most 50 characters", field="tags")
    return out


def add_note(session: Session, *, viewer: Viewer, title: str, text: str, tags: list[str] = (),  # type: ignore[assignment]
             region: str | None = None, country: str | None = None, crime_type: str | None = None,
             spec: HandlingSpec | None = None, now: datetime | None = None) -> dict[str, Any]:
    partners.require_role(viewer, "analyst", "contributor")
    title, text = (title or "").strip(), (text or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput("must be 1 to 200 characters", field="title")
    if not text or len(text) > 20_000:
        raise InvalidInput("must be 1 to 20,000 characters", field="text")
    if crime_type is not None and crime_type not in CATEGORIES:
        raise InvalidInput(f"{crime_type!r} is not one of: {', '.join(CATEGORIES)}", field="crime_type")
    tag_list = _tags(list(tags))
    region = region_name(region) if region else None
    country = country_code(country) if country else None
    now = now or utcnow()
    ts = format_ts(now)
    objects: list[dict[str, Any]] = []
    if country or region:
        loc = {"type": "location", "spec_version": "2.1", "created": ts, "modified": ts,
               "id": f"location--{uuid.uuid5(NOTE_NS, country or region or '')}"}
        loc |= {"country": country} if country else {"region": STIX_REGIONS[region or ""], "name": region}
        objects.append(loc)
        refs = [loc["id"]]
    else:
        org = partners_repo.org_by_id(session, viewer.org_id)
        refs = [org.identity_id] if org else []
    note_id = f"note--{uuid.uuid4()}"
    objects.append({"type": "note", "spec_version": "2.1", "id": note_id, "created": ts, "modified": ts,
                    "abstract": title, "content": text, "labels": tag_list or ["horizon"], "object_refs": refs})
    spec = replace(spec or HandlingSpec(tlp="amber"), category=crime_type)
    tmp_dir = Path(get_settings().data_dir) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=tmp_dir, suffix=".json", encoding="utf-8") as tmp:
        json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}, tmp)
        tmp.flush()
        result = import_file(session, viewer=viewer, path=Path(tmp.name), fmt="stix", spec=spec,
                             file_name="horizon-note.json", now=now)
    contribution = session.get(Contribution, result.contribution_id)
    assert contribution is not None
    row = HorizonNote(stix_id=note_id, contribution_id=contribution.id, handling_id=contribution.handling_id,
                      organisation_id=viewer.org_id, member_id=viewer.member_id, created_at=now, tags=tag_list,
                      region=region, country=country, crime_type=crime_type)
    repository.add(session, row)
    return _as_dict(row, objects[-1])


def _as_dict(row: HorizonNote, note: dict[str, Any]) -> dict[str, Any]:
    return {"id": row.stix_id, "created_at": row.created_at, "title": note.get("abstract", ""),
            "text": note.get("content", ""), "tags": row.tags, "region": row.region, "country": row.country,
            "crime_type": row.crime_type}


def list_notes(session: Session, *, viewer: Viewer, purpose: str, since: datetime | None = None,
               until: datetime | None = None, region: str | None = None, crime_type: str | None = None,
               tag: str | None = None, disseminate: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= 500:
        raise InvalidInput("must be between 1 and 500", field="limit")
    rows = repository.notes_readable(session, viewer=viewer, purpose=purpose, since=since, until=until,
                                     region=region_name(region) if region else None, crime_type=crime_type,
                                     tag=tag.strip().lower() if tag else None, disseminate=disseminate,
                                     limit=limit)
    out = [_as_dict(row, json.loads(data)) for row, data in rows]
    audit.record(session, action="trends.notes.read", viewer=viewer, purpose=purpose,
                 object_ids=[n["id"] for n in out])
    return out
