"""All SQL of projects. Who may see a project is a statement filter (``visible_to``)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from cyberfusion.partners.models import Member, Organisation
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.common import is_host_analyst
from cyberfusion.tasking.projects.models import (
    Deliverable,
    Project,
    ProjectMember,
    ProjectObject,
    ProjectOrganisation,
    ProjectRfi,
)


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """Project members, members of participating organisations, and the host centre's analysts."""
    conds: list[ColumnElement[bool]] = [
        Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.member_id == viewer.member_id)),
        Project.id.in_(select(ProjectOrganisation.project_id)
                       .where(ProjectOrganisation.organisation_id == viewer.org_id)),
    ]
    if is_host_analyst(viewer):
        conds.append(true())
    return or_(*conds)


def get_visible(session: Session, *, viewer: Viewer, project_id: int) -> Project | None:
    return session.scalar(select(Project).where(Project.id == project_id, visible_to(viewer)))


def list_visible(session: Session, *, viewer: Viewer, status: str | None = None,
                 after_id: int = 0, limit: int = 100) -> list[Project]:
    q = select(Project).where(visible_to(viewer), Project.id > after_id)
    if status:
        q = q.where(Project.status == status)
    return list(session.scalars(q.order_by(Project.id).limit(limit)))


def visible_among(session: Session, *, viewer: Viewer, project_ids: list[int]) -> set[int]:
    if not project_ids:
        return set()
    return set(session.scalars(select(Project.id).where(Project.id.in_(project_ids), visible_to(viewer))))


def members(session: Session, project_id: int) -> list[tuple[ProjectMember, Member]]:
    return [(a, b) for a, b in session.execute(select(ProjectMember, Member).join(Member, Member.id == ProjectMember.member_id)
                                .where(ProjectMember.project_id == project_id).order_by(Member.email))]


def membership(session: Session, *, project_id: int, member_id: int) -> ProjectMember | None:
    return session.get(ProjectMember, (project_id, member_id))


def organisations(session: Session, project_id: int) -> list[Organisation]:
    return list(session.scalars(select(Organisation).join(
        ProjectOrganisation, ProjectOrganisation.organisation_id == Organisation.id)
        .where(ProjectOrganisation.project_id == project_id).order_by(Organisation.name)))


def has_organisation(session: Session, *, project_id: int, org_id: int) -> bool:
    return session.get(ProjectOrganisation, (project_id, org_id)) is not None


def deliverables(session: Session, project_id: int) -> list[Deliverable]:
    return list(session.scalars(select(Deliverable).where(Deliverable.project_id == project_id)
                                .order_by(Deliverable.due_date, Deliverable.id)))


def deliverable(session: Session, deliverable_id: int) -> Deliverable | None:
    return session.get(Deliverable, deliverable_id)


def object_ids(session: Session, project_id: int) -> list[str]:
    return list(session.scalars(select(ProjectObject.stix_id).where(ProjectObject.project_id == project_id)
                                .order_by(ProjectObject.stix_id)))


def has_object(session: Session, *, project_id: int, stix_id: str) -> bool:
    return session.get(ProjectObject, (project_id, stix_id)) is not None


def rfi_ids(session: Session, project_id: int) -> list[int]:
    return list(session.scalars(select(ProjectRfi.rfi_id).where(ProjectRfi.project_id == project_id)
                                .order_by(ProjectRfi.rfi_id)))


def has_rfi(session: Session, *, project_id: int, rfi_id: int) -> bool:
    return session.get(ProjectRfi, (project_id, rfi_id)) is not None


def projects_of(session: Session, member_id: int) -> list[tuple[Project, ProjectMember]]:
    return [(a, b) for a, b in session.execute(select(Project, ProjectMember)
                                .join(ProjectMember, ProjectMember.project_id == Project.id)
                                .where(ProjectMember.member_id == member_id).order_by(Project.id))]


def led_project_ids_with(session: Session, *, lead_id: int, member_id: int) -> list[int]:
    """Projects led by ``lead_id`` that ``member_id`` belongs to."""
    return list(session.scalars(select(Project.id).join(ProjectMember, ProjectMember.project_id == Project.id)
                                .where(Project.lead_member_id == lead_id, ProjectMember.member_id == member_id)))


def open_deliverables_of(session: Session, member_id: int) -> list[Deliverable]:
    return list(session.scalars(select(Deliverable).where(Deliverable.owner_member_id == member_id,
                                                          Deliverable.status.in_(("planned", "in_progress")))
                                .order_by(Deliverable.due_date, Deliverable.id)))
