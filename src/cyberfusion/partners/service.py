"""Rules for organisations, members, secondments and agreements, and who a member acts as."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.auth.passwords import hash_password
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from cyberfusion.kit.regions import country_code, region_name, region_of
from cyberfusion.partners import repository
from cyberfusion.partners.models import (AGREEMENT_STATUSES, CATEGORIES, ORG_KINDS, ROLES, SECTORS,
                                         Agreement, Member, Organisation, Secondment)
from cyberfusion.sharing.markings import PURPOSES, TLP_LEVELS, tlp_level
from cyberfusion.sharing.viewer import Viewer

# Fixed namespace so an organisation's STIX identity id is the same on every installation.
IDENTITY_NAMESPACE = uuid.UUID("6b3f1c1e-2d59-4c1b-9a0e-5f1de0c1f0a1")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEFAULT_SECONDMENT_DAYS = 365


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{value!r} is not one of: {', '.join(allowed)}", field=field)
    return value


def _choices(values: list[str], allowed: tuple[str, ...], field: str) -> list[str]:
    return sorted({_choice(v, allowed, field) for v in values})


def create_organisation(session: Session, *, name: str, kind: str, country: str,
                        sector: str | None = None, region: str | None = None,
                        actor: Viewer | None = None) -> Organisation:
    name = name.strip()
    if not name:
        raise InvalidInput("must not be empty", field="name")
    _choice(kind, ORG_KINDS, "kind")
    if kind == "private":
        if not sector:
            raise InvalidInput("a private organisation needs a sector", field="sector")
        _choice(sector, SECTORS, "sector")
    elif sector:
        raise InvalidInput("only private organisations have a sector", field="sector")
    code = country_code(country)
    if repository.org_by_name(session, name):
        raise Conflict(f"an organisation named {name!r} exists", extra={"field": "name"})
    org = Organisation(name=name, kind=kind, sector=sector, country=code,
                       region=region_name(region) if region else region_of(code),
                       identity_id=f"identity--{uuid.uuid5(IDENTITY_NAMESPACE, name)}",
                       vetting_status="approved" if kind == "host_centre" else "pending")
    session.add(org)
    session.flush()
    audit.record(session, action="org.create", viewer=actor, detail={"org_id": org.id, "name": name})
    return org


def get_org(session: Session, ref: str | int) -> Organisation:
    org = (repository.org_by_id(session, int(ref)) if isinstance(ref, int) or str(ref).isdigit()
           else repository.org_by_name(session, str(ref)))
    if org is None:
        raise NotFound(f"no organisation {ref!r}")
    return org


def vet_organisation(session: Session, *, org: Organisation, decision: str, reviewer: str,
                     notes: str = "", review_due: date | None = None, today: date | None = None,
                     actor: Viewer | None = None) -> Organisation:
    _choice(decision, ("approved", "rejected", "pending"), "decision")
    if not reviewer.strip():
        raise InvalidInput("a vetting decision needs a reviewer", field="reviewer")
    today = today or date.today()
    org.vetting_status = decision
    org.vetting_reviewer = reviewer.strip()
    org.vetting_date = today
    org.vetting_notes = notes
    org.review_due = review_due or (today + timedelta(days=365) if decision == "approved" else None)
    session.flush()
    audit.record(session, action="org.vet", viewer=actor,
                 detail={"org_id": org.id, "decision": decision, "reviewer": reviewer})
    return org


def add_member(session: Session, *, email: str, name: str, org: Organisation, roles: list[str],
               password: str | None = None, actor: Viewer | None = None) -> Member:
    email = email.strip().lower()
    if not _EMAIL_RE.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}", field="email")
    if not roles:
        raise InvalidInput("a member needs at least one role", field="roles")
    roles = _choices(roles, ROLES, "roles")
    if password is not None and len(password) < 10:
        raise InvalidInput("passwords need at least 10 characters", field="password")
    if repository.member_by_email(session, email):
        raise Conflict(f"a member with e-mail {email!r} exists", extra={"field": "email"})
    member = Member(email=email, name=name.strip() or email, organisation_id=org.id, roles=roles,
                    password_hash=hash_password(password) if password else None)
    session.add(member)
    session.flush()
    audit.record(session, action="member.create", viewer=actor,
                 detail={"member_id": member.id, "email": email, "roles": roles})
    return member


def get_member(session: Session, email: str) -> Member:
    member = repository.member_by_email(session, email)
    if member is None:
        raise NotFound(f"no member {email!r}")
    return member


def add_secondment(session: Session, *, member: Member, seconding_org: Organisation,
                   start: date, end: date | None = None, scope: str = "",
                   agreement_reference: str = "", acknowledged_at: datetime | None = None,
                   actor: Viewer | None = None) -> Secondment:
    end = end or start + timedelta(days=DEFAULT_SECONDMENT_DAYS)
    if end < start:
        raise InvalidInput("end date is before start date", field="end_date")
    host = repository.host_centre(session)
    if host is None or member.organisation_id != host.id:
        raise InvalidInput("a seconded expert's account belongs to the host centre", field="member")
    if seconding_org.kind == "host_centre":
        raise InvalidInput("the seconding organisation is a partner, not the host centre",
                           field="seconding_organisation")
    clash = repository.overlapping_secondments(session, member_id=member.id, start=start, end=end)
    if clash:
        c = clash[0]
        raise Conflict(f"overlaps secondment {c.id} ({c.start_date} to {c.end_date})",
                       extra={"field": "start_date"})
    s = Secondment(member_id=member.id, seconding_organisation_id=seconding_org.id, start_date=start,
                   end_date=end, scope=scope, agreement_reference=agreement_reference,
                   confidentiality_ack_at=acknowledged_at)
    session.add(s)
    session.flush()
    audit.record(session, action="secondment.create", viewer=actor,
                 detail={"secondment_id": s.id, "member_id": member.id, "start": str(start), "end": str(end)})
    return s


def acknowledge_confidentiality(session: Session, *, secondment: Secondment,
                                at: datetime | None = None) -> Secondment:
    secondment.confidentiality_ack_at = at or utcnow()
    session.flush()
    audit.record(session, action="secondment.acknowledge", member_id=secondment.member_id,
                 detail={"secondment_id": secondment.id})
    return secondment


def add_agreement(session: Session, *, org: Organisation, reference: str, valid_from: date,
                  valid_until: date | None, tlp_ceiling: str, contribute: list[str],
                  receive: list[str], purposes: list[str], status: str = "active",
                  actor: Viewer | None = None) -> Agreement:
    if not reference.strip():
        raise InvalidInput("must not be empty", field="reference")
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput("valid_until is before valid_from", field="valid_until")
    agreement = Agreement(
        organisation_id=org.id, reference=reference.strip(), status=_choice(status, AGREEMENT_STATUSES, "status"),
        valid_from=valid_from, valid_until=valid_until, tlp_ceiling=tlp_level(tlp_ceiling, field="tlp_ceiling"),
        contribute_categories=_choices(contribute, CATEGORIES, "contribute"),
        receive_categories=_choices(receive, CATEGORIES, "receive"),
        purposes=_choices(purposes, PURPOSES, "purposes"))
    session.add(agreement)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"{org.name} already has an agreement {reference!r}",
                       extra={"field": "reference"}) from None
    audit.record(session, action="agreement.create", viewer=actor,
                 detail={"agreement_id": agreement.id, "org_id": org.id, "reference": reference})
    return agreement


@dataclass(frozen=True, slots=True)
class AccessState:
    """Why a member can or cannot act, for messages and the acknowledgement screen."""

    viewer: Viewer | None
    reason: str | None = None
    needs_acknowledgement: bool = False


def access_state(session: Session, member: Member, *, today: date | None = None) -> AccessState:
    """Resolve the context a member acts in today, applying vetting, agreement and secondment."""
    today = today or date.today()
    if not member.active:
        return AccessState(None, "member account is inactive")
    org = repository.access_facts(session, org_id=member.organisation_id, today=today)
    assert org is not None
    return _access(session, member_id=member.id, email=member.email, roles=member.roles,
                   org_id=member.organisation_id, org=org, today=today)


def _access(session: Session, *, member_id: int, email: str, roles: list[str], org_id: int, org: Row,
            today: date) -> AccessState:
    host = org.kind == "host_centre"
    secondment = None
    if host:
        history = repository.secondments(session, member_id=member_id)
        if history:
            secondment = repository.current_secondment(session, member_id=member_id, today=today)
            if secondment is None:
                return AccessState(None, "secondment is outside its term: host-centre access has lapsed")
            if secondment.confidentiality_ack_at is None:
                return AccessState(None, "confidentiality acknowledgement required before any access",
                                   needs_acknowledgement=True)
    if org.vetting_status != "approved":
        return AccessState(None, f"organisation vetting is {org.vetting_status}")
    agreement = not host and org.agreement_id is not None
    viewer = Viewer(
        member_id=member_id, email=email, roles=frozenset(roles), org_id=org_id,
        org_name=org.name, org_kind=org.kind, org_sector=org.sector, org_country=org.country,
        org_region=org.region,
        home_org_id=secondment.seconding_organisation_id if secondment else None,
        secondment_id=secondment.id if secondment else None,
        may_receive=host or agreement,
        may_contribute=host or agreement,
        tlp_ceiling=org.tlp_ceiling if agreement else len(TLP_LEVELS) - 1,
        receive_categories=frozenset(org.receive_categories) if agreement else None,
        contribute_categories=frozenset(org.contribute_categories) if agreement else None,
        agreement_purposes=frozenset(org.purposes if agreement else PURPOSES),
        today=today,
    )
    return AccessState(viewer, None if viewer.may_receive else "no valid data-sharing agreement")


def resolve_viewer_by_id(session: Session, member_id: int, *, today: date | None = None) -> Viewer:
    """``resolve_viewer`` from the member's id alone (what an authenticated API request has):
    member, organisation and agreement in one statement. Unauthenticated when the member is gone
    or deactivated since its token was checked."""
    today = today or date.today()
    facts = repository.member_access_facts(session, member_id=member_id, today=today)
    if facts is None or not facts.active:
        raise Unauthenticated("member inactive")
    state = _access(session, member_id=facts.member_id, email=facts.email, roles=facts.roles,
                    org_id=facts.organisation_id, org=facts, today=today)
    if state.viewer is None:
        raise Forbidden(state.reason or "access denied")
    return state.viewer


def resolve_viewer(session: Session, member: Member, *, today: date | None = None) -> Viewer:
    """The member's viewer, or Forbidden saying why the member may not act at all."""
    state = access_state(session, member, today=today)
    if state.viewer is None:
        raise Forbidden(state.reason or "access denied")
    return state.viewer


def require_role(viewer: Viewer, *roles: str) -> None:
    if not viewer.has_role(*roles):
        raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
