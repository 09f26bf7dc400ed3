"""Requests for information, their history, answers and the teams they are assigned to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

# Most to least pressing; immediate and urgent requests go to the front of every queue.
PRIORITIES = ("immediate", "urgent", "priority", "routine")
FRONT_OF_QUEUE = frozenset({"immediate", "urgent"})
STATES = ("new", "triaged", "assigned", "in_progress", "answered", "closed", "rejected", "withdrawn")
OPEN_STATES = ("new", "triaged", "assigned", "in_progress")


class Team(Base):
    __tablename__ = "tasking_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TeamMember(Base):
    __tablename__ = "tasking_team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("tasking_teams.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, index=True)


class Rfi(Base):
    __tablename__ = "rfis"
    __table_args__ = (Index("ix_rfis_queue", "queue_class", "due_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    crime_type: Mapped[str | None] = mapped_column(String(32))
    countries: Mapped[str] = mapped_column(Text, default="")  # ",FR,DE,"
    related_values: Mapped[list] = mapped_column(JSON, default=list)  # [{"kind":..., "value":...}]
    related_objects: Mapped[list] = mapped_column(JSON, default=list)  # STIX ids
    purpose: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    queue_class: Mapped[int] = mapped_column(Integer)  # 0 immediate/urgent, 1 the rest
    # Handling of the request itself.
    tlp: Mapped[int] = mapped_column(Integer)
    shared_with: Mapped[str] = mapped_column(Text, default="")  # ",3,17," organisation ids
    staff_only: Mapped[bool] = mapped_column(Boolean, default=False)  # hidden from seconded experts
    requester_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    requester_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    requested_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), index=True)
    assignee_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    assignee_team_id: Mapped[int | None] = mapped_column(ForeignKey("tasking_teams.id"), index=True)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RfiEvent(Base):
    """One recorded step of an RFI's life: who, when, what and why."""

    __tablename__ = "rfi_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    rfi_id: Mapped[int] = mapped_column(ForeignKey("rfis.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class RfiAnswer(Base):
    __tablename__ = "rfi_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    rfi_id: Mapped[int] = mapped_column(ForeignKey("rfis.id"), index=True)
    author_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))


class RfiAnswerRef(Base):
    """An intelligence object an answer refers to; each reader sees it only through the policy gate."""

    __tablename__ = "rfi_answer_refs"

    answer_id: Mapped[int] = mapped_column(ForeignKey("rfi_answers.id"), primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(100), primary_key=True)
