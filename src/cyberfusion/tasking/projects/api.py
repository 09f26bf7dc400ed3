"""/api/v1/projects and /api/v1/workload: projects, deliverables, links and a person's whole load."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.tasking.projects import service
from cyberfusion.tasking.projects.schemas import (
    DeliverableIn,
    LinkObjectIn,
    LinkRfiIn,
    ProjectIn,
    ProjectMemberIn,
    ProjectOrgIn,
    StatusIn,
)

router = APIRouter(prefix="/api/v1", tags=["tasking: projects"], route_class=SessionRoute)


@router.post("/projects", status_code=201)
def create(body: ProjectIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    p = service.create_project(session, viewer=viewer, **body.model_dump())
    return service.get_project(session, viewer=viewer, project_id=p.id)


@router.get("/projects")
def list_projects(session: SessionDep, viewer: CurrentViewer, status: str | None = None, after: int = 0,
                  limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    return service.list_projects(session, viewer=viewer, status=status, after_id=after, limit=limit)


@router.get("/projects/{project_id}")
def get_project(project_id: int, session: SessionDep, viewer: CurrentViewer,
                purpose: str | None = Query(None, description="read linked intelligence for this purpose")
                ) -> dict[str, Any]:
    return service.get_project(session, viewer=viewer, project_id=project_id, purpose=purpose)


@router.post("/projects/{project_id}/status")
def set_status(project_id: int, body: StatusIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.summary(service.set_status(session, viewer=viewer, project_id=project_id, status=body.status))


@router.post("/projects/{project_id}/members", status_code=201)
def add_member(project_id: int, body: ProjectMemberIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.add_member(session, viewer=viewer, project_id=project_id, **body.model_dump())
    return {"project_id": link.project_id, "member_id": link.member_id, "role": link.role, "tasks": link.tasks}


@router.post("/projects/{project_id}/organisations", status_code=201)
def add_organisation(project_id: int, body: ProjectOrgIn, session: SessionDep,
                     viewer: CurrentViewer) -> dict[str, Any]:
    p = service.add_organisation(session, viewer=viewer, project_id=project_id, organisation=body.organisation)
    return service.summary(p)


@router.post("/projects/{project_id}/deliverables", status_code=201)
def add_deliverable(project_id: int, body: DeliverableIn, session: SessionDep,
                    viewer: CurrentViewer) -> dict[str, Any]:
    d = service.add_deliverable(session, viewer=viewer, project_id=project_id, **body.model_dump())
    return {"id": d.id, "project_id": d.project_id, "title": d.title, "due_date": d.due_date, "status": d.status}


@router.post("/deliverables/{deliverable_id}/status")
def deliverable_status(deliverable_id: int, body: StatusIn, session: SessionDep,
                       viewer: CurrentViewer) -> dict[str, Any]:
    d = service.update_deliverable(session, viewer=viewer, deliverable_id=deliverable_id, status=body.status)
    return {"id": d.id, "status": d.status, "delivered_at": d.delivered_at}


@router.post("/projects/{project_id}/objects", status_code=201)
def link_object(project_id: int, body: LinkObjectIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.link_object(session, viewer=viewer, project_id=project_id, stix_id=body.stix_id,
                               purpose=body.purpose)
    return {"project_id": link.project_id, "stix_id": link.stix_id}


@router.post("/projects/{project_id}/rfis", status_code=201)
def link_rfi(project_id: int, body: LinkRfiIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.link_rfi(session, viewer=viewer, project_id=project_id, rfi_id=body.rfi_id)
    return {"project_id": link.project_id, "rfi_id": link.rfi_id}


@router.get("/workload/me")
def my_workload(session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.workload(session, viewer=viewer, member_id=viewer.member_id)


@router.get("/workload/{member_id}")
def workload(member_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.workload(session, viewer=viewer, member_id=member_id)
