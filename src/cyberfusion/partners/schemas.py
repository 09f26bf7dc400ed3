"""Request and response shapes of the partners API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from cyberfusion.partners.models import Agreement, Organisation, Secondment
from cyberfusion.sharing.markings import TLP_LEVELS


class OrgIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str
    country: str
    sector: str | None = None
    region: str | None = None


class OrgOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    sector: str | None
    country: str
    region: str
    identity_id: str
    vetting_status: str
    vetting_reviewer: str | None
    vetting_date: date | None
    review_due: date | None


class VettingIn(BaseModel):
    decision: str
    notes: str = ""
    review_due: date | None = None


class MemberIn(BaseModel):
    email: str
    name: str = ""
    organisation: str | int
    roles: list[str]
    password: str | None = None


class MemberOut(BaseModel):
    id: int
    email: str
    name: str
    organisation_id: int
    organisation: str
    roles: list[str]
    active: bool


class TokenIn(BaseModel):
    name: str = ""
    expires_days: int | None = Field(default=90, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str
    prefix: str
    expires_at: datetime | None


class SecondmentIn(BaseModel):
    member: str
    seconding_organisation: str | int
    start_date: date
    end_date: date | None = None
    scope: str = ""
    agreement_reference: str = ""


class SecondmentOut(BaseModel):
    id: int
    member_id: int
    seconding_organisation_id: int
    start_date: date
    end_date: date
    scope: str
    confidentiality_acknowledged_at: datetime | None

    @classmethod
    def of(cls, s: Secondment) -> SecondmentOut:
        return cls(id=s.id, member_id=s.member_id, seconding_organisation_id=s.seconding_organisation_id,
                   start_date=s.start_date, end_date=s.end_date, scope=s.scope,
                   confidentiality_acknowledged_at=s.confidentiality_ack_at)


class AgreementIn(BaseModel):
    organisation: str | int
    reference: str
    valid_from: date
    valid_until: date | None = None
    tlp_ceiling: str = "amber"
    contribute: list[str] = []
    receive: list[str] = []
    purposes: list[str] = []
    status: str = "active"


class AgreementOut(BaseModel):
    id: int
    organisation_id: int
    reference: str
    status: str
    valid_from: date
    valid_until: date | None
    tlp_ceiling: str
    contribute: list[str]
    receive: list[str]
    purposes: list[str]

    @classmethod
    def of(cls, a: Agreement) -> AgreementOut:
        return cls(id=a.id, organisation_id=a.organisation_id, reference=a.reference, status=a.status,
                   valid_from=a.valid_from, valid_until=a.valid_until, tlp_ceiling=TLP_LEVELS[a.tlp_ceiling],
                   contribute=a.contribute_categories, receive=a.receive_categories, purposes=a.purposes)


def org_out(org: Organisation) -> OrgOut:
    return OrgOut.model_validate(org)
