"""SQL of organisations, members, tokens, secondments and agreements."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Row, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from cyberfusion.db import core
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


# What a member's viewer is made of, in one prebuilt Core statement: the organisation and its
# agreement valid on a day (if any), and, by member id, the member too. Built once: resolving the
# viewer runs on every API request, and the ORM loads it replaces cost ten times the query itself.
_ORG_AND_AGREEMENT = (
    Organisation.name, Organisation.kind, Organisation.sector, Organisation.country, Organisation.region,
    Organisation.vetting_status, Agreement.id.label("agreement_id"), Agreement.tlp_ceiling,
    Agreement.receive_categories, Agreement.contribute_categories, Agreement.purposes)
_VALID_AGREEMENT = and_(
    Agreement.organisation_id == Organisation.id, Agreement.status == "active",
    Agreement.valid_from <= bindparam("today"),
    or_(Agreement.valid_until.is_(None), Agreement.valid_until >= bindparam("today")))
_ACCESS_FACTS = (
    select(*_ORG_AND_AGREEMENT).select_from(Organisation).outerjoin(Agreement, _VALID_AGREEMENT)
    .where(Organisation.id == bindparam("org_id")).order_by(Agreement.valid_from.desc()).limit(1))
_MEMBER_ACCESS_FACTS = (
    select(Member.id.label("member_id"), Member.email, Member.roles, Member.active, Member.organisation_id,
           *_ORG_AND_AGREEMENT)
    .select_from(Member).join(Organisation, Organisation.id == Member.organisation_id)
    .outerjoin(Agreement, _VALID_AGREEMENT)
    .where(Member.id == bindparam("member_id")).order_by(Agreement.valid_from.desc()).limit(1))


def access_facts(session: Session, *, org_id: int, today: date) -> Row | None:
    """The organisation's kind, place and vetting, and its agreement valid ``today`` (columns
    None without one): the same agreement ``valid_agreement`` picks."""
    return core(session).execute(_ACCESS_FACTS, {"org_id": org_id, "today": today}).first()


def member_access_facts(session: Session, *, member_id: int, today: date) -> Row | None:
    """``access_facts`` of the member's organisation, with the member's id, e-mail, roles and
    active flag."""
    return core(session).execute(_MEMBER_ACCESS_FACTS, {"member_id": member_id, "today": today}).first()


def agreements(session: Session, *, org_id: int | None = None) -> list[Agreement]:
    q = select(Agreement).order_by(Agreement.organisation_id, Agreement.valid_from)
    if org_id is not None:
        q = q.where(Agreement.organisation_id == org_id)
    return list(session.scalars(q))


def orgs_by_ids(session: Session, ids: list[int]) -> dict[int, Organisation]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}

