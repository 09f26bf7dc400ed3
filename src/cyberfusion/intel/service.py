"""Reading the intelligence store: search, object pages, exports — all through the policy gate
and all audited."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.intel import repository
from cyberfusion.intel.models import StixObject
from cyberfusion.kit.observables import detect
from cyberfusion.kit.refang import refang
from cyberfusion.kit.timeutil import parse_ts
from cyberfusion.partners import repository as partners_repo
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import describe
from cyberfusion.sharing.viewer import Viewer

MAX_PAGE = 500


def encode_cursor(row: StixObject) -> str:
    raw = f"{row.date_added.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, pk = raw.split("|")
        return parse_ts(when), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("not a cursor returned by this server", field="cursor") from None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def summary(row: StixObject) -> dict[str, Any]:
    return {"id": row.stix_id, "type": row.type, "name": row.name, "modified": row.modified,
            "created": row.created, "confidence": row.confidence, "labels": row.labels,
            "revoked": row.revoked}


def search(session: Session, *, viewer: Viewer, purpose: str, q: str | None = None,
           types: list[str] | None = None, since: datetime | None = None, until: datetime | None = None,
           source_kinds: list[str] | None = None, cursor: str | None = None, limit: int = 50) -> Page:
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="limit")
    values: list[tuple[str, str]] = []
    text = None
    if q and q.strip():
        text = q.strip()
        hit = detect(refang(text))
        if hit:
            values.append(hit)
    rows = repository.search_objects(session, viewer=viewer, purpose=purpose, text=text, values=values,
                                     types=types or (), since=since, until=until,
                                     source_kinds=source_kinds or (),
                                     after=decode_cursor(cursor) if cursor else None, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    audit.record(session, action="intel.search", viewer=viewer, purpose=purpose,
                 object_ids=[r.stix_id for r in rows], detail={"q": q, "types": types})
    return Page([summary(r) for r in rows], encode_cursor(rows[-1]) if more and rows else None)


def _sources(session: Session, viewer: Viewer, rows: list[StixObject]) -> list[dict[str, Any]]:
    host = partners_repo.host_centre(session)
    host_name = host.name if host else "host centre"
    out = []
    for contribution, org, handling in repository.contributions_with_owner(session, (r.contribution_id for r in rows)):
        out.append({
            "contribution_id": contribution.id if org.id == viewer.org_id else None,
            "source": policy.source_label(viewer, owner_id=org.id, owner_name=org.name, owner_kind=org.kind,
                                          owner_sector=org.sector, owner_region=org.region,
                                          attribution=handling.attribution, host_centre_name=host_name),
            "added": contribution.created_at, "tlp": describe(handling)["tlp"]})
    return out


def get_object(session: Session, *, viewer: Viewer, purpose: str, stix_id: str,
               version: str | None = None) -> dict[str, Any]:
    """An object as the viewer may see it; NotFound when nothing is readable (existence is not revealed)."""
    policy.require_purpose(viewer, purpose)
    rows = repository.versions(session, viewer=viewer, purpose=purpose, stix_id=stix_id)
    if version:
        wanted = parse_ts(version)
        rows_v = [r for r in rows if r.modified == wanted]
        if not rows_v:
            raise NotFound(f"no readable version {version} of {stix_id}")
        current = rows_v[0]
    elif rows:
        current = rows[0]
    else:
        raise NotFound(f"no object {stix_id}")
    handling_by_id = repository.handlings(session, [current.handling_id])
    rels = repository.relationships_of(session, viewer=viewer, purpose=purpose, stix_id=stix_id)
    audit.record(session, action="intel.read", viewer=viewer, purpose=purpose, object_ids=[stix_id])
    return {
        "object": json.loads(current.data),
        "handling": describe(handling_by_id[current.handling_id]),
        "versions": sorted({r.modified for r in rows}, reverse=True),
        "relationships": [summary(r) | {"source_ref": r.source_ref, "target_ref": r.target_ref} for r in rels],
        "sources": _sources(session, viewer, [r for r in rows if r.modified == current.modified]),
    }
