"""Request shapes of the projects API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    objective: str = Field(min_length=1)
    kind: str = "project"
    lead: str | None = Field(None, description="e-mail of the lead (default: you)")
    countries: list[str] = []
    status: str = "active"
    start_date: date | None = None
    end_date: date | None = None


class StatusIn(BaseModel):
    status: str


class ProjectMemberIn(BaseModel):
    member: str
    role: str = "member"
    tasks: str = ""


class ProjectOrgIn(BaseModel):
    organisation: str | int


class DeliverableIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    due_date: date
    description: str = ""
    owner: str | None = None


class LinkObjectIn(BaseModel):
    stix_id: str
    purpose: str = "investigation"


class LinkRfiIn(BaseModel):
    rfi_id: int
