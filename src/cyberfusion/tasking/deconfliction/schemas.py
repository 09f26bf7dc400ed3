"""Request shapes of the deconfliction API."""

from __future__ import annotations

from pydantic import BaseModel, Field

TargetIn = str | dict[str, str]


class ActivityIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="investigation, operation, takedown or outreach")
    targets: list[TargetIn] = Field(description="values, or {kind, value} with kind an observable kind, "
                                                "actor, malware, country or crime_type")
    description: str = ""
    contact: str | None = Field(None, description="whom others should contact (default: your e-mail)")
    tlp: str = "amber"


class ActivityUpdate(BaseModel):
    title: str | None = None
    description: str | None = None
    targets: list[TargetIn] | None = None
    contact: str | None = None
    tlp: str | None = None
    status: str | None = None
