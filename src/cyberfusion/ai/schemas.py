"""Request shapes of the AI API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cyberfusion.intel.schemas import HandlingIn


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=5_000_000)
    name: str = "text"


class AnalyseIn(BaseModel):
    text: str | None = None
    name: str = "text"
    stix_id: str | None = None
    entities: bool = True


class DecisionIn(BaseModel):
    ids: list[int]
    decision: str
    note: str | None = None
    handling: HandlingIn | None = None


class SimilarIn(BaseModel):
    text: str | None = None
    stix_id: str | None = None
    purpose: str = "ai_processing"
    limit: int = 5
    min_score: float = 0.3


class UseCaseIn(BaseModel):
    title: str
    description: str
    purpose: str
    data: str
    legal_basis: str
    answers: dict[str, bool]
    oversight: str = ""
    status: str = "proposed"


class StatusIn(BaseModel):
    status: str


class ResourceIn(BaseModel):
    title: str
    kind: str
    summary: str
    tags: list[str] = []
    url: str | None = None
