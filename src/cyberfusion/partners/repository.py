"""SQL of organisations, members, tokens, secondments and agreements."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cyberfusion.partners.models import Agreement, ApiToken, Member, Organisation, Secondment


def org_by_name(session: Session, name: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.name == name))


def org_by_id(session: Session, org_id: int) -> Organisation | None:
    return session.get(Organisation, org_id)


def host_centre(session: Session) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.kind == "host_centre")
                          .order_by(Organisation.id).limit(1))


def list_orgs(session: Session, *, kind: str | None = None, status: str | None = None) -> list[Organisation]:
    q = select(Organisation).order_by(Organisation.name)
    if kind:
        q = q.where(Organisation.kind == kind)
    if status:
        q = q.where(Organisation.vetting_status == status)
    return list(session.scalars(q))


def member_by_email(session: Session, email: str) -> Member | None:
    return session.scalar(select(Member).where(Member.email == email.strip().lower()))


def member_by_id(session: Session, member_id: int) -> Member | None:
    return session.get(Member, member_id)


def list_members(session: Session, *, org_id: int | None = None) -> list[tuple[Member, Organisation]]:
    q = (select(Member, Organisation).join(Organisation, Member.organisation_id == Organisation.id)
         .order_by(Member.email))
    if org_id is not None:
        q = q.where(Member.organisation_id == org_id)
    return list(session.execute(q))


def token_by_prefix(session: Session, prefix: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))


def tokens_of(session: Session, member_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.member_id == member_id)
                                .order_by(ApiToken.id)))


def overlapping_secondments(session: Session, *, member_id: int, start: date, end: date) -> list[Secondment]:
    return list(session.scalars(select(Secondment).where(
        Secondment.member_id == member_id, Secondment.start_date <= end, Secondment.end_date >= start)))


def secondments(session: Session, *, member_id: int | None = None) -> list[Secondment]:
    q = select(Secondment).order_by(Secondment.start_date, Secondment.id)
    if member_id is not None:
        q = q.where(Secondment.member_id == member_id)
    return list(session.scalars(q))


def current_secondment(session: Session, *, member_id: int, today: date) -> Secondment | None:
    return session.scalar(select(Secondment).where(
        Secondment.member_id == member_id, Secondment.start_date <= today,
        Secondment.end_date >= today).order_by(Secondment.start_date.desc()).limit(1))


def valid_agreement(session: Session, *, org_id: int, today: date) -> Agreement | None:
    return session.scalar(select(Agreement).where(
        Agreement.organisation_id == org_id, Agreement.status == "active",
        Agreement.valid_from <= today,
        or_(Agreement.valid_until.is_(None), Agreement.valid_until >= today),
    ).order_by(Agreement.valid_from.desc()).limit(1))


def agreements(session: Session, *, org_id: int | None = None) -> list[Agreement]:
    q = select(Agreement).order_by(Agreement.organisation_id, Agreement.valid_from)
    if org_id is not None:
        q = q.where(Agreement.organisation_id == org_id)
    return list(session.scalars(q))


def orgs_by_ids(session: Session, ids: list[int]) -> dict[int, Organisation]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}

