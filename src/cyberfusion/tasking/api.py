"""The tasking API: one router that carries every tasking sub-package's endpoints, plus notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.tasking import service
from cyberfusion.tasking.deconfliction.api import router as deconfliction_router
from cyberfusion.tasking.groups.api import router as groups_router
from cyberfusion.tasking.projects.api import router as projects_router
from cyberfusion.tasking.reviews.api import router as reviews_router
from cyberfusion.tasking.rfi.api import router as rfi_router

router = APIRouter(route_class=SessionRoute)
for _sub in (rfi_router, projects_router, deconfliction_router, groups_router, reviews_router):
    router.include_router(_sub)

notifications = APIRouter(prefix="/api/v1/tasking", tags=["tasking: notifications"], route_class=SessionRoute)


class ReadIn(BaseModel):
    ids: list[int]


@notifications.get("/notifications")
def my_notifications(session: SessionDep, viewer: CurrentViewer, unread: bool = False, after: int = 0,
                     limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    """What needs your attention: RFI assignments, answers and breaches, activity overlaps, reviews."""
    return [n.as_dict() for n in service.my_notifications(session, viewer=viewer, unread_only=unread,
                                                          after_id=after, limit=limit)]


@notifications.post("/notifications/read")
def mark_read(body: ReadIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, int]:
    return {"marked": service.mark_read(session, viewer=viewer, ids=body.ids)}


router.include_router(notifications)
