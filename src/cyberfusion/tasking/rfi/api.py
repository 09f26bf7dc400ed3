"""/api/v1/rfis and /api/v1/teams: file, list (the queue with ?assigned=me), the duty view, the
workflow, answers and their release as a STIX report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.tasking.rfi import release, service
from cyberfusion.tasking.rfi.schemas import (
    AnswerIn,
    AssignIn,
    ReasonIn,
    RfiIn,
    TeamIn,
    TeamMemberIn,
    TriageIn,
)

router = APIRouter(prefix="/api/v1", tags=["tasking: RFIs"], route_class=SessionRoute)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.post("/rfis", status_code=201)
def file_rfi(body: RfiIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    rfi = service.file_rfi(session, viewer=viewer, **body.model_dump())
    return service.get_rfi(session, viewer=viewer, rfi_id=rfi.id)


@router.get("/rfis")
def list_rfis(session: SessionDep, viewer: CurrentViewer,
              assigned: str | None = Query(None, description="'me': your queue (you or your teams)"),
              state: str | None = None, priority: str | None = None,
              requester: str | None = Query(None, description="'mine': filed by your organisation"),
              cursor: str | None = None, limit: int = Query(50, ge=1, le=service.MAX_PAGE)) -> dict[str, Any]:
    page = service.list_rfis(session, viewer=viewer, assigned=assigned, states=_split(state),
                             priorities=_split(priority), requester=requester, cursor=cursor, limit=limit)
    return {"items": page.items, "next": page.next_cursor}


@router.get("/rfis/overdue")
def overdue(session: SessionDep, viewer: CurrentViewer, cursor: str | None = None,
            limit: int = Query(100, ge=1, le=service.MAX_PAGE)) -> dict[str, Any]:
    page = service.overdue(session, viewer=viewer, cursor=cursor, limit=limit)
    return {"items": page.items, "next": page.next_cursor}


@router.post("/rfis/check-sla")
def check_sla(session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return {"breached": service.check_sla(session, viewer=viewer)}


@router.get("/rfis/{rfi_id}")
def get_rfi(rfi_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.get_rfi(session, viewer=viewer, rfi_id=rfi_id)


@router.post("/rfis/{rfi_id}/triage")
def triage(rfi_id: int, body: TriageIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    rfi = service.triage(session, viewer=viewer, rfi_id=rfi_id, priority=body.priority, reason=body.reason)
    return service.row(rfi, rfi.updated_at)


@router.post("/rfis/{rfi_id}/assign")
def assign(rfi_id: int, body: AssignIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    rfi = service.assign(session, viewer=viewer, rfi_id=rfi_id, member=body.member, team=body.team,
                         reason=body.reason)
    return service.row(rfi, rfi.updated_at)


_SIMPLE = {"start": service.start, "close": service.close, "reopen": service.reopen,
           "reject": service.reject, "withdraw": service.withdraw}


def _simple(action: str):  # type: ignore[no-untyped-def]
    def endpoint(rfi_id: int, body: ReasonIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
        rfi = _SIMPLE[action](session, viewer=viewer, rfi_id=rfi_id, reason=body.reason)
        return service.row(rfi, rfi.updated_at)
    endpoint.__name__ = f"rfi_{action}"
    return endpoint


for _action in _SIMPLE:
    router.post(f"/rfis/{{rfi_id}}/{_action}", name=f"rfi_{_action}")(_simple(_action))


@router.post("/rfis/{rfi_id}/answer", status_code=201)
def answer(rfi_id: int, body: AnswerIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    row = service.answer(session, viewer=viewer, rfi_id=rfi_id, text=body.text, object_refs=body.object_refs)
    return {"rfi": rfi_id, "answer_id": row.id, "created_at": row.created_at}


@router.post("/rfis/{rfi_id}/release")
def release_answer(rfi_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return release.release(session, viewer=viewer, rfi_id=rfi_id)


@router.get("/rfis/{rfi_id}/report", response_class=Response)
def report(rfi_id: int, session: SessionDep, viewer: CurrentViewer) -> Response:
    return Response(release.report_bundle(session, viewer=viewer, rfi_id=rfi_id),
                    media_type="application/stix+json;version=2.1")


@router.get("/teams")
def list_teams(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.list_teams(session, viewer=viewer)


@router.post("/teams", status_code=201)
def create_team(body: TeamIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    t = service.create_team(session, viewer=viewer, name=body.name, description=body.description)
    return {"id": t.id, "name": t.name, "description": t.description, "member_ids": []}


@router.post("/teams/{name}/members", status_code=201)
def add_team_member(name: str, body: TeamMemberIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.add_team_member(session, viewer=viewer, team=name, member=body.member)
    return {"team_id": link.team_id, "member_id": link.member_id}
