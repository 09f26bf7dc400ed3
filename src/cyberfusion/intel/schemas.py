"""Request shapes of the intelligence API and their translation into a HandlingSpec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import DEFAULT_PURPOSES, HandlingSpec


class HandlingIn(BaseModel):
    tlp: str = "amber"
    purposes: list[str] = Field(default_factory=lambda: list(DEFAULT_PURPOSES))
    allowed_countries: list[str] = []
    denied_countries: list[str] = []
    allowed_kinds: list[str] = []
    law_enforcement_only: bool = False
    recipients: list[str | int] = []
    no_further_dissemination: bool = False
    attribution: str = "named"
    hit_reveal: bool = True
    category: str | None = None
    review_at: datetime | None = None
    expires_at: datetime | None = None

    def to_spec(self, session: Session) -> HandlingSpec:
        return HandlingSpec(
            tlp=self.tlp, purposes=tuple(self.purposes), allowed_countries=tuple(self.allowed_countries),
            denied_countries=tuple(self.denied_countries), allowed_kinds=tuple(self.allowed_kinds),
            le_only=self.law_enforcement_only,
            recipients=tuple(partners.get_org(session, r).id for r in self.recipients),
            no_further_dissemination=self.no_further_dissemination, attribution=self.attribution,
            hit_reveal=self.hit_reveal, category=self.category, review_at=self.review_at,
            expires_at=self.expires_at)


class ContributionIn(BaseModel):
    format: str = "stix"
    file_name: str = "contribution.json"
    content: Any = Field(description="STIX bundle or MISP event (JSON), or CSV/text as a string")
    handling: HandlingIn = Field(default_factory=HandlingIn)
    mapping: dict[str, str] | None = None
    dry_run: bool = False
