"""All SQL of RFIs. Who may see an RFI is a statement filter (``visible_to``), so lists, pages and
counts are right by construction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, false, or_, select, true, tuple_
from sqlalchemy.orm import Session

from cyberfusion.db import for_update as locked
from cyberfusion.sharing.markings import CLEAR, GREEN
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.common import is_host_analyst
from cyberfusion.tasking.rfi.models import (
    OPEN_STATES,
    Rfi,
    RfiAnswer,
    RfiAnswerRef,
    RfiEvent,
    Team,
    TeamMember,
)


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """Who may see an RFI (its question, not necessarily its answer).

    The requester's organisation and the organisations it is shared with always; the host centre's
    analysts, who handle every request (seconded experts not those marked staff-only, unless
    assigned); everyone for TLP:CLEAR; every organisation that may receive for TLP:GREEN.
    """
    conds: list[ColumnElement[bool]] = [
        Rfi.requester_org_id == viewer.org_id,
        Rfi.shared_with.like(f"%,{viewer.org_id},%"),
        Rfi.tlp == CLEAR,
    ]
    if viewer.may_receive:
        conds.append(Rfi.tlp == GREEN)
    if is_host_analyst(viewer):
        conds.append(true() if viewer.secondment_id is None else
                     or_(Rfi.staff_only.is_(False), Rfi.assignee_member_id == viewer.member_id))
    return or_(*conds)


def queue_order() -> tuple:  # type: ignore[type-arg]
    return (Rfi.queue_class, Rfi.due_at, Rfi.id)


def get_visible(session: Session, *, viewer: Viewer, rfi_id: int, for_update: bool = False) -> Rfi | None:
    q = select(Rfi).where(Rfi.id == rfi_id, visible_to(viewer))
    return session.scalar(locked(session, q) if for_update else q)


def team_ids_of(session: Session, member_id: int) -> list[int]:
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.member_id == member_id)))


def list_visible(session: Session, *, viewer: Viewer, states: Sequence[str] = (),
                 priorities: Sequence[str] = (), assigned_member: int | None = None,
                 assigned_teams: Sequence[int] = (), requester_org: int | None = None,
                 overdue_at: datetime | None = None, after: tuple[int, datetime, int] | None = None,
                 limit: int = 50) -> list[Rfi]:
    """Visible RFIs in queue order: immediate and urgent first, then by due time (keyset-paged)."""
    q = select(Rfi).where(visible_to(viewer))
    if states:
        q = q.where(Rfi.state.in_(list(states)))
    if priorities:
        q = q.where(Rfi.priority.in_(list(priorities)))
    if assigned_member is not None:
        q = q.where(or_(Rfi.assignee_member_id == assigned_member,
                        Rfi.assignee_team_id.in_(list(assigned_teams)) if assigned_teams else false()))
    if requester_org is not None:
        q = q.where(Rfi.requester_org_id == requester_org)
    if overdue_at is not None:
        q = q.where(Rfi.state.in_(OPEN_STATES), Rfi.due_at < overdue_at)
    if after is not None:
        q = q.where(tuple_(*queue_order()) > tuple_(*after))
    return list(session.scalars(q.order_by(*queue_order()).limit(limit)))


def assigned_open(session: Session, *, member_id: int, team_ids: Sequence[int]) -> list[Rfi]:
    """Every open RFI assigned to a member or their teams, regardless of who is asking (for workload)."""
    q = select(Rfi).where(Rfi.state.in_(("assigned", "in_progress")),
                          or_(Rfi.assignee_member_id == member_id,
                              Rfi.assignee_team_id.in_(list(team_ids)) if team_ids else false()))
    return list(session.scalars(q.order_by(*queue_order())))


def due_for_breach(session: Session, *, now: datetime) -> list[Rfi]:
    return list(session.scalars(locked(session, select(Rfi).where(
        Rfi.state.in_(OPEN_STATES), Rfi.due_at < now, Rfi.breached_at.is_(None)).order_by(*queue_order()))))


def events(session: Session, rfi_id: int) -> list[RfiEvent]:
    return list(session.scalars(select(RfiEvent).where(RfiEvent.rfi_id == rfi_id).order_by(RfiEvent.id)))


def latest_answer(session: Session, rfi_id: int) -> RfiAnswer | None:
    return session.scalar(select(RfiAnswer).where(RfiAnswer.rfi_id == rfi_id)
                          .order_by(RfiAnswer.id.desc()).limit(1))


def answer_refs(session: Session, answer_id: int) -> list[str]:
    return list(session.scalars(select(RfiAnswerRef.stix_id).where(RfiAnswerRef.answer_id == answer_id)
                                .order_by(RfiAnswerRef.stix_id)))


def add_answer_refs(session: Session, *, answer_id: int, stix_ids: Sequence[str]) -> None:
    session.add_all([RfiAnswerRef(answer_id=answer_id, stix_id=s) for s in stix_ids])
    session.flush()


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalar(select(Team).where(Team.name == name))


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


def team_member_ids(session: Session, team_id: int) -> list[int]:
    return list(session.scalars(select(TeamMember.member_id).where(TeamMember.team_id == team_id)
                                .order_by(TeamMember.member_id)))


def is_team_member(session: Session, *, team_id: int, member_id: int) -> bool:
    return session.get(TeamMember, (team_id, member_id)) is not None
