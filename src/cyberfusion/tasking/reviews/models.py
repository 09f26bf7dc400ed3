"""A country's review: its answers, reviewers, scores per area and recommendations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

REVIEW_STATES = ("requested", "in_review", "completed")
RECOMMENDATION_PRIORITIES = ("high", "medium", "low")


class Review(Base):
    __tablename__ = "cyber_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    requesting_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    state: Mapped[str] = mapped_column(String(16), default="requested")
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReviewReviewer(Base):
    __tablename__ = "cyber_review_reviewers"

    review_id: Mapped[int] = mapped_column(ForeignKey("cyber_reviews.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewResponse(Base):
    """The country's answer to one question of the questionnaire."""

    __tablename__ = "cyber_review_responses"

    review_id: Mapped[int] = mapped_column(ForeignKey("cyber_reviews.id"), primary_key=True)
    question: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(Text)
    answered_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewScore(Base):
    __tablename__ = "cyber_review_scores"

    review_id: Mapped[int] = mapped_column(ForeignKey("cyber_reviews.id"), primary_key=True)
    area: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)  # 0 (absent) .. 5 (leading practice)
    strengths: Mapped[str] = mapped_column(Text, default="")
    gaps: Mapped[str] = mapped_column(Text, default="")
    scored_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewRecommendation(Base):
    __tablename__ = "cyber_review_recommendations"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("cyber_reviews.id"), index=True)
    area: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
