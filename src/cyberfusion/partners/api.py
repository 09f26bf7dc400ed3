"""/api/v1 endpoints for organisations, members, tokens, secondments and agreements."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, status

from cyberfusion.audit import service as audit
from cyberfusion.api.deps import CurrentMember, CurrentViewer, SessionDep, SessionRoute
from cyberfusion.auth import tokens
from cyberfusion.errors import Forbidden, NotFound
from cyberfusion.partners import repository, service
from cyberfusion.partners.models import Member, Organisation
from cyberfusion.partners.schemas import (AgreementIn, AgreementOut, MemberIn, MemberOut, OrgIn, OrgOut,
                                          SecondmentIn, SecondmentOut, TokenIn, TokenOut, VettingIn,
                                          org_out)

router = APIRouter(prefix="/api/v1", tags=["partners"], route_class=SessionRoute)
ADMIN = "platform_admin"


@router.get("/me")
def me(viewer: CurrentViewer) -> dict[str, object]:
    return {"member_id": viewer.member_id, "email": viewer.email, "roles": sorted(viewer.roles),
            "organisation": viewer.org_name, "organisation_kind": viewer.org_kind,
            "secondment_id": viewer.secondment_id, "may_receive": viewer.may_receive,
            "may_contribute": viewer.may_contribute}


@router.get("/organisations", response_model=list[OrgOut])
def list_organisations(session: SessionDep, viewer: CurrentViewer) -> list[OrgOut]:
    # Partner directory: every vetted member may see who takes part (names, kinds, countries).
    return [org_out(o) for o in repository.list_orgs(session)]


@router.post("/organisations", response_model=OrgOut, status_code=status.HTTP_201_CREATED)
def create_organisation(body: OrgIn, session: SessionDep, viewer: CurrentViewer) -> OrgOut:
    service.require_role(viewer, ADMIN)
    return org_out(service.create_organisation(session, **body.model_dump(), actor=viewer))


@router.post("/organisations/{org_id}/vetting", response_model=OrgOut)
def vet_organisation(org_id: int, body: VettingIn, session: SessionDep, viewer: CurrentViewer) -> OrgOut:
    service.require_role(viewer, ADMIN)
    org = service.get_org(session, org_id)
    return org_out(service.vet_organisation(session, org=org, decision=body.decision, reviewer=viewer.email,
                                            notes=body.notes, review_due=body.review_due, actor=viewer))


def _member_out(m: Member, org: Organisation) -> MemberOut:
    return MemberOut(id=m.id, email=m.email, name=m.name, organisation_id=org.id, organisation=org.name,
                     roles=m.roles, active=m.active)


@router.get("/members", response_model=list[MemberOut])
def list_members(session: SessionDep, viewer: CurrentViewer) -> list[MemberOut]:
    service.require_role(viewer, ADMIN, "org_admin")
    org_id = None if viewer.has_role(ADMIN) else viewer.org_id
    return [_member_out(m, o) for m, o in repository.list_members(session, org_id=org_id)]


@router.post("/members", response_model=MemberOut, status_code=status.HTTP_201_CREATED)
def add_member(body: MemberIn, session: SessionDep, viewer: CurrentViewer) -> MemberOut:
    service.require_role(viewer, ADMIN, "org_admin")
    org = service.get_org(session, body.organisation)
    if not viewer.has_role(ADMIN):
        if org.id != viewer.org_id:
            raise Forbidden("an organisation admin adds members to its own organisation only")
        if {"platform_admin", "auditor"} & set(body.roles):
            raise Forbidden("only a platform admin grants platform_admin or auditor")
    m = service.add_member(session, email=body.email, name=body.name, org=org, roles=body.roles,
                           password=body.password, actor=viewer)
    return _member_out(m, org)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, session: SessionDep, viewer: CurrentViewer, member: CurrentMember) -> TokenOut:
    issued = tokens.issue(session, member=member, name=body.name, expires_days=body.expires_days)
    audit.record(session, action="token.create", viewer=viewer, detail={"prefix": issued.record.prefix})
    return TokenOut(token=issued.token, prefix=issued.record.prefix, expires_at=issued.record.expires_at)


@router.delete("/tokens/{prefix}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(prefix: str, session: SessionDep, viewer: CurrentViewer) -> None:
    record = repository.token_by_prefix(session, prefix)
    if record is None or (record.member_id != viewer.member_id and not viewer.has_role(ADMIN)):
        raise NotFound(f"no token with prefix {prefix!r}")
    tokens.revoke(session, prefix=prefix)
    audit.record(session, action="token.revoke", viewer=viewer, detail={"prefix": prefix})


@router.get("/secondments", response_model=list[SecondmentOut])
def list_secondments(session: SessionDep, viewer: CurrentViewer) -> list[SecondmentOut]:
    service.require_role(viewer, ADMIN)
    return [SecondmentOut.of(s) for s in repository.secondments(session)]


@router.post("/secondments", response_model=SecondmentOut, status_code=status.HTTP_201_CREATED)
def add_secondment(body: SecondmentIn, session: SessionDep, viewer: CurrentViewer) -> SecondmentOut:
    service.require_role(viewer, ADMIN)
    s = service.add_secondment(session, member=service.get_member(session, body.member),
                               seconding_org=service.get_org(session, body.seconding_organisation),
                               start=body.start_date, end=body.end_date, scope=body.scope,
                               agreement_reference=body.agreement_reference, actor=viewer)
    return SecondmentOut.of(s)


@router.post("/secondments/current/acknowledge", response_model=SecondmentOut)
def acknowledge(session: SessionDep, member: CurrentMember) -> SecondmentOut:
    """The seconded expert accepts the confidentiality terms (needed before any other access)."""
    s = repository.current_secondment(session, member_id=member.id, today=date.today())
    if s is None:
        raise NotFound("you have no secondment in its term")
    return SecondmentOut.of(service.acknowledge_confidentiality(session, secondment=s))


@router.get("/agreements", response_model=list[AgreementOut])
def list_agreements(session: SessionDep, viewer: CurrentViewer) -> list[AgreementOut]:
    service.require_role(viewer, ADMIN, "org_admin")
    org_id = None if viewer.has_role(ADMIN) else viewer.org_id
    return [AgreementOut.of(a) for a in repository.agreements(session, org_id=org_id)]


@router.post("/agreements", response_model=AgreementOut, status_code=status.HTTP_201_CREATED)
def add_agreement(body: AgreementIn, session: SessionDep, viewer: CurrentViewer) -> AgreementOut:
    service.require_role(viewer, ADMIN)
    data = body.model_dump()
    org = service.get_org(session, data.pop("organisation"))
    return AgreementOut.of(service.add_agreement(session, org=org, **data, actor=viewer))
