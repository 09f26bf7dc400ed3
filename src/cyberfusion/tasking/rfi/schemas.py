"""Request shapes of the RFI API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class RfiIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1)
    context: str = ""
    crime_type: str | None = None
    countries: list[str] = []
    related_values: list[str | dict[str, str]] = Field(default=[], description="values, or {kind, value}")
    related_objects: list[str] = Field(default=[], description="STIX ids you may read for the purpose")
    purpose: str = "investigation"
    priority: str = Field("routine", description="routine, priority, urgent or immediate")
    requested_by: datetime | date | None = None
    tlp: str = Field("amber", description="handling of the request itself")
    shared_with: list[str | int] = Field(default=[], description="other organisations that may see it")
    staff_only: bool = Field(False, description="hide it from seconded experts (unless assigned)")


class TriageIn(BaseModel):
    priority: str | None = None
    reason: str = ""


class AssignIn(BaseModel):
    member: str | None = Field(None, description="e-mail of a host-centre analyst")
    team: str | None = None
    reason: str = ""


class ReasonIn(BaseModel):
    reason: str = ""


class AnswerIn(BaseModel):
    text: str = Field(min_length=1)
    object_refs: list[str] = []


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = ""


class TeamMemberIn(BaseModel):
    member: str
