"""Rules for projects and operations, their deliverables and links, and a person's whole load."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member
from cyberfusion.sharing.markings import PURPOSES
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.projects import repository
from cyberfusion.tasking.projects.models import (
    DELIVERABLE_STATUSES,
    PROJECT_KINDS,
    PROJECT_STATUSES,
    Deliverable,
    Project,
    ProjectMember,
    ProjectObject,
    ProjectOrganisation,
    ProjectRfi,
)
from cyberfusion.tasking.rfi import repository as rfi_repo
from cyberfusion.tasking.rfi import service as rfi_service


def _member(session: Session, email: str, field: str = "member") -> Member:
    try:
        m = partners.get_member(session, email)
    except NotFound:
        raise InvalidInput(f"no member {email!r}", field=field) from None
    if not m.active:
        raise InvalidInput(f"{email} is not active", field=field)
    return m


def _audit(session: Session, viewer: Viewer, action: str, **detail: Any) -> None:
    audit.record(session, action=f"project.{action}", viewer=viewer, detail=detail)


def get_visible(session: Session, *, viewer: Viewer, project_id: int) -> Project:
    p = repository.get_visible(session, viewer=viewer, project_id=project_id)
    if p is None:
        raise NotFound(f"no project {project_id}")
    return p


def _led(session: Session, viewer: Viewer, project_id: int) -> Project:
    p = get_visible(session, viewer=viewer, project_id=project_id)
    if p.lead_member_id != viewer.member_id:
        raise Forbidden(f"only the lead of project {p.id} changes it")
    return p


def create_project(session: Session, *, viewer: Viewer, name: str, objective: str, kind: str = "project",
                   lead: str | None = None, countries: Sequence[str] = (), status: str = "active",
                   start_date: date | None = None, end_date: date | None = None) -> Project:
    common.require_host_analyst(viewer, "creating a project")
    if start_date and end_date and end_date < start_date:
        raise InvalidInput("end_date is before start_date", field="end_date")
    lead_member = _member(session, lead, "lead") if lead else partners_repo.member_by_id(session, viewer.member_id)
    assert lead_member is not None
    p = Project(name=common.text(name, "name"), objective=common.text(objective, "objective", max_len=20_000),
                kind=common.choice(kind, PROJECT_KINDS, "kind"), lead_member_id=lead_member.id,
                status=common.choice(status, PROJECT_STATUSES, "status"), countries=common.countries(countries),
                start_date=start_date, end_date=end_date, created_at=utcnow())
    tasking_repo.add(session, p)
    tasking_repo.add(session, ProjectMember(project_id=p.id, member_id=lead_member.id, role="lead"))
    _audit(session, viewer, "create", project_id=p.id, name=p.name, lead=lead_member.email)
    return p


def set_status(session: Session, *, viewer: Viewer, project_id: int, status: str) -> Project:
    p = _led(session, viewer, project_id)
    p.status = common.choice(status, PROJECT_STATUSES, "status")
    session.flush()
    _audit(session, viewer, "status", project_id=p.id, status=status)
    return p


def add_member(session: Session, *, viewer: Viewer, project_id: int, member: str, role: str = "member",
               tasks: str = "") -> ProjectMember:
    p = _led(session, viewer, project_id)
    m = _member(session, member)
    if repository.membership(session, project_id=p.id, member_id=m.id):
        raise Conflict(f"{m.email} is already in project {p.id}", extra={"field": "member"})
    link = ProjectMember(project_id=p.id, member_id=m.id, role=common.text(role, "role", max_len=32),
                         tasks=common.text(tasks, "tasks", max_len=5000, required=False))
    tasking_repo.add(session, link)
    _audit(session, viewer, "add_member", project_id=p.id, member_id=m.id, role=link.role)
    return link


def add_organisation(session: Session, *, viewer: Viewer, project_id: int, organisation: str | int) -> Project:
    p = _led(session, viewer, project_id)
    try:
        org = partners.get_org(session, organisation)
    except NotFound:
        raise InvalidInput(f"no organisation {organisation!r}", field="organisation") from None
    if repository.has_organisation(session, project_id=p.id, org_id=org.id):
        raise Conflict(f"{org.name} already takes part in project {p.id}", extra={"field": "organisation"})
    tasking_repo.add(session, ProjectOrganisation(project_id=p.id, organisation_id=org.id))
    _audit(session, viewer, "add_organisation", project_id=p.id, org_id=org.id)
    return p


def add_deliverable(session: Session, *, viewer: Viewer, project_id: int, title: str, due_date: date,
                    description: str = "", owner: str | None = None) -> Deliverable:
    p = _led(session, viewer, project_id)
    owner_m = _member(session, owner, "owner") if owner else None
    if owner_m and not repository.membership(session, project_id=p.id, member_id=owner_m.id):
        raise InvalidInput(f"{owner_m.email} is not a member of project {p.id}", field="owner")
    d = Deliverable(project_id=p.id, title=common.text(title, "title"), due_date=due_date,
                    description=common.text(description, "description", max_len=20_000, required=False),
                    status="planned", owner_member_id=owner_m.id if owner_m else None, created_at=utcnow())
    tasking_repo.add(session, d)
    _audit(session, viewer, "add_deliverable", project_id=p.id, deliverable_id=d.id)
    return d


def update_deliverable(session: Session, *, viewer: Viewer, deliverable_id: int, status: str,
                       now: datetime | None = None) -> Deliverable:
    d = repository.deliverable(session, deliverable_id)
    p = repository.get_visible(session, viewer=viewer, project_id=d.project_id) if d else None
    if d is None or p is None:
        raise NotFound(f"no deliverable {deliverable_id}")
    if viewer.member_id not in (p.lead_member_id, d.owner_member_id):
        raise Forbidden(f"only the project lead or the owner of deliverable {d.id} updates it")
    d.status = common.choice(status, DELIVERABLE_STATUSES, "status")
    d.delivered_at = (now or utcnow()) if status == "delivered" else None
    session.flush()
    _audit(session, viewer, "deliverable_status", deliverable_id=d.id, status=status)
    return d


def _project_member(session: Session, viewer: Viewer, project_id: int) -> Project:
    p = get_visible(session, viewer=viewer, project_id=project_id)
    if repository.membership(session, project_id=p.id, member_id=viewer.member_id) is None:
        raise Forbidden(f"only members of project {p.id} link to it")
    return p


def link_object(session: Session, *, viewer: Viewer, project_id: int, stix_id: str, purpose: str) -> ProjectObject:
    """Link intelligence the member may read; other readers see it only as the policy lets them."""
    p = _project_member(session, viewer, project_id)
    common.choice(purpose, PURPOSES, "purpose")
    ids = tasking.stix_ids([stix_id], "stix_id")
    tasking.require_readable(session, viewer=viewer, purpose=purpose, ids=ids, field="stix_id")
    if repository.has_object(session, project_id=p.id, stix_id=ids[0]):
        raise Conflict(f"{ids[0]} is already linked to project {p.id}", extra={"field": "stix_id"})
    link = ProjectObject(project_id=p.id, stix_id=ids[0], added_by=viewer.member_id, added_at=utcnow())
    tasking_repo.add(session, link)
    _audit(session, viewer, "link_object", project_id=p.id, stix_id=ids[0])
    return link


def link_rfi(session: Session, *, viewer: Viewer, project_id: int, rfi_id: int) -> ProjectRfi:
    p = _project_member(session, viewer, project_id)
    rfi = rfi_service.get_visible(session, viewer=viewer, rfi_id=rfi_id)
    if repository.has_rfi(session, project_id=p.id, rfi_id=rfi.id):
        raise Conflict(f"RFI {rfi.id} is already linked to project {p.id}", extra={"field": "rfi_id"})
    link = ProjectRfi(project_id=p.id, rfi_id=rfi.id)
    tasking_repo.add(session, link)
    _audit(session, viewer, "link_rfi", project_id=p.id, rfi_id=rfi.id)
    return link


def summary(p: Project) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "kind": p.kind, "status": p.status, "lead_member_id": p.lead_member_id,
            "countries": common.split_codes(p.countries), "start_date": p.start_date, "end_date": p.end_date}


def list_projects(session: Session, *, viewer: Viewer, status: str | None = None, after_id: int = 0,
                  limit: int = 100) -> list[dict[str, Any]]:
    if status:
        common.choice(status, PROJECT_STATUSES, "status")
    return [summary(p) for p in repository.list_visible(session, viewer=viewer, status=status,
                                                        after_id=after_id, limit=limit)]


def _deliverable(d: Deliverable) -> dict[str, Any]:
    return {"id": d.id, "project_id": d.project_id, "title": d.title, "description": d.description,
            "due_date": d.due_date, "status": d.status, "owner_member_id": d.owner_member_id,
            "delivered_at": d.delivered_at}


def get_project(session: Session, *, viewer: Viewer, project_id: int, purpose: str | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """A project with members, organisations, deliverables, the RFIs this reader may see and, when a
    purpose is given, the linked intelligence this reader may read for it (audited)."""
    p = get_visible(session, viewer=viewer, project_id=project_id)
    now = now or utcnow()
    rfis = []
    for rid in repository.rfi_ids(session, p.id):
        rfi = rfi_repo.get_visible(session, viewer=viewer, rfi_id=rid)
        if rfi is not None:
            rfis.append(rfi_service.row(rfi, now))
    objects: list[dict[str, Any]] = []
    if purpose is not None:
        common.choice(purpose, PURPOSES, "purpose")
        objects = tasking.read_references(session, viewer=viewer, purpose=purpose,
                                          stix_ids=repository.object_ids(session, p.id))
    tasking.audit_read(session, viewer=viewer, action="project.read", purpose=purpose, objects=objects,
                       detail={"project": p.id})
    return summary(p) | {
        "objective": p.objective,
        "members": [{"member_id": m.id, "email": m.email, "name": m.name, "role": pm.role, "tasks": pm.tasks}
                    for pm, m in repository.members(session, p.id)],
        "organisations": [{"id": o.id, "name": o.name, "country": o.country}
                          for o in repository.organisations(session, p.id)],
        "deliverables": [_deliverable(d) for d in repository.deliverables(session, p.id)],
        "rfis": rfis, "intelligence": objects}


def workload(session: Session, *, viewer: Viewer, member_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The whole load of a person: the secondment's scope beside project tasks, deliverables and RFIs.

    Visible to the person and to the lead of any project the person belongs to. Projects and RFIs
    the reader may not see are counted, not shown.
    """
    m = partners_repo.member_by_id(session, member_id)
    if m is None:
        raise NotFound(f"no member {member_id}")
    if member_id != viewer.member_id and not repository.led_project_ids_with(
            session, lead_id=viewer.member_id, member_id=member_id):
        raise Forbidden("a person's load is visible to the person and to the leads of their projects")
    now = now or utcnow()
    secondment = partners_repo.current_secondment(session, member_id=m.id, today=now.date())
    seconding = partners_repo.org_by_id(session, secondment.seconding_organisation_id) if secondment else None
    projects = repository.projects_of(session, m.id)
    deliverables = repository.open_deliverables_of(session, m.id)
    visible = repository.visible_among(session, viewer=viewer, project_ids=sorted(
        {p.id for p, _ in projects} | {d.project_id for d in deliverables}))
    shown = [(p, pm) for p, pm in projects if p.id in visible]
    deliverables = [d for d in deliverables if d.project_id in visible]
    assigned = rfi_repo.assigned_open(session, member_id=m.id, team_ids=rfi_repo.team_ids_of(session, m.id))
    rfis = [r for r in assigned if rfi_repo.get_visible(session, viewer=viewer, rfi_id=r.id) is not None]
    audit.record(session, action="project.workload", viewer=viewer, detail={"member_id": m.id})
    return {
        "member": {"id": m.id, "email": m.email, "name": m.name},
        "secondment": None if secondment is None else {
            "scope": secondment.scope, "seconding_organisation": seconding.name if seconding else None,
            "start_date": secondment.start_date, "end_date": secondment.end_date},
        "projects": [summary(p) | {"role": pm.role, "tasks": pm.tasks} for p, pm in shown],
        "other_projects": len(projects) - len(shown),
        "deliverables": [_deliverable(d) for d in deliverables],
        "rfis": [rfi_service.row(r, now) for r in rfis],
        "other_rfis": len(assigned) - len(rfis),
    }
