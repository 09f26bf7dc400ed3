"""Auditors search and verify the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.audit import repository, service
from cyberfusion.partners.service import require_role

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], route_class=SessionRoute)


@router.get("")
def search(session: SessionDep, viewer: CurrentViewer, member_id: int | None = None,
           action: str | None = None, object_id: str | None = None, since: datetime | None = None,
           until: datetime | None = None, after: int = 0,
           limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    require_role(viewer, "auditor")
    rows = repository.search(session, member_id=member_id, action=action, object_id=object_id,
                             since=since, until=until, after_id=after, limit=limit)
    service.record(session, action="audit.search", viewer=viewer,
                   detail={"filters": {"member_id": member_id, "action": action, "object_id": object_id}})
    return {"entries": [service.as_dict(r) for r in rows],
            "next": rows[-1].id if len(rows) == limit else None}


@router.get("/verify")
def verify(session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    require_role(viewer, "auditor")
    report = service.verify(session)
    return {"ok": report.ok, "entries": report.entries, "broken_at": report.broken_at, "reason": report.reason}
