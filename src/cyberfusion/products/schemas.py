"""Request bodies of the products and trends API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cyberfusion.products.models import REPORT_FORMATS
from cyberfusion.sharing.handling import DEFAULT_PURPOSES, HandlingSpec


class CountryReportIn(BaseModel):
    period: str = Field(description="YYYY-MM, YYYY-Www, YYYY-Qn or YYYY", examples=["2026-10"])
    countries: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes")
    all: bool = Field(False, description="every country with a vetted national bureau")
    recipient: str | None = Field(None, description="recipient organisation (one country only)")
    formats: list[str] = Field(default_factory=lambda: list(REPORT_FORMATS))
    send: bool = Field(False, description="release to the recipients at once")


class HorizonNoteIn(BaseModel):
    title: str
    text: str
    tags: list[str] = Field(default_factory=list)
    region: str | None = None
    country: str | None = None
    crime_type: str | None = None
    tlp: str = "amber"
    purposes: list[str] = Field(default_factory=lambda: list(DEFAULT_PURPOSES))

    def spec(self) -> HandlingSpec:
        return HandlingSpec(tlp=self.tlp, purposes=tuple(self.purposes))
