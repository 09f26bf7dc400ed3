"""Request shapes of the communities API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cyberfusion.intel.schemas import HandlingIn


class GroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    kind: str = "other"
    region: str | None = None


class GroupMemberIn(BaseModel):
    member: str = Field(description="e-mail")
    role: str = "member"


class PostIn(BaseModel):
    kind: str = Field(description="note, document or good_practice")
    title: str = Field(min_length=1, max_length=200)
    body: str = ""
    file_name: str | None = None
    media_type: str | None = None
    content_base64: str | None = Field(None, description="the document's bytes, base64-encoded")


class MeetingIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    location: str = ""
    agenda: str = ""


class MeetingUpdate(BaseModel):
    agenda: str | None = None
    minutes: str | None = None


class ShareIn(BaseModel):
    format: str = "stix"
    file_name: str = "shared.json"
    content: Any = Field(description="STIX bundle or MISP event (JSON), or CSV/text as a string")
    handling: HandlingIn = Field(default_factory=lambda: HandlingIn(tlp="amber"),
                                 description="recipients are set to the group's member organisations")
