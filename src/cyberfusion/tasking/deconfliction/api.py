"""/api/v1/activities: the deconfliction register."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.tasking.deconfliction import service
from cyberfusion.tasking.deconfliction.schemas import ActivityIn, ActivityUpdate

router = APIRouter(prefix="/api/v1/activities", tags=["tasking: deconfliction"], route_class=SessionRoute)


@router.post("", status_code=201)
def register(body: ActivityIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    a = service.register(session, viewer=viewer, **body.model_dump())
    return service.get_activity(session, viewer=viewer, activity_id=a.id)


@router.get("")
def list_activities(session: SessionDep, viewer: CurrentViewer, status: str | None = None, after: int = 0,
                    limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    return service.list_activities(session, viewer=viewer, status=status, after_id=after, limit=limit)


@router.get("/{activity_id}")
def get_activity(activity_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.get_activity(session, viewer=viewer, activity_id=activity_id)


@router.patch("/{activity_id}")
def update(activity_id: int, body: ActivityUpdate, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    service.update(session, viewer=viewer, activity_id=activity_id, **body.model_dump(exclude_unset=True))
    return service.get_activity(session, viewer=viewer, activity_id=activity_id)
