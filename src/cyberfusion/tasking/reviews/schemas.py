"""Request shapes of the national cyber reviews API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReviewerIn(BaseModel):
    member: str = Field(description="e-mail of a member from another country")


class AnswerIn(BaseModel):
    question: str
    answer: str


class ScoreIn(BaseModel):
    area: str
    score: int = Field(description="0 (absent) to 5 (leading practice)")
    strengths: str = ""
    gaps: str = ""


class RecommendationIn(BaseModel):
    area: str
    text: str
    priority: str = "medium"


class CompleteIn(BaseModel):
    summary: str
