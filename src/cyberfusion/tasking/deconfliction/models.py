"""Registered activities, their targets (one row per target, indexed) and detected overlaps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime
from cyberfusion.kit.observables import KINDS

ACTIVITY_KINDS = ("investigation", "operation", "takedown", "outreach")
ACTIVITY_STATUSES = ("active", "closed")
# Targets that make an overlap: observable values, threat actors and malware by name.
MATCHING_KINDS = (*KINDS, "actor", "malware")
# Targets that describe scope only: far too broad to signal duplicated work on their own.
SCOPE_KINDS = ("country", "crime_type")


class Activity(Base):
    __tablename__ = "deconfliction_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    owner_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    contact: Mapped[str] = mapped_column(String(300))  # whom the other owner should contact
    tlp: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ActivityTarget(Base):
    __tablename__ = "deconfliction_targets"
    __table_args__ = (Index("ix_deconfliction_targets_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("deconfliction_activities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2048))


class Overlap(Base):
    """Two activities of different owners that share at least one matching target (a < b)."""

    __tablename__ = "deconfliction_overlaps"
    __table_args__ = (UniqueConstraint("activity_a_id", "activity_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_a_id: Mapped[int] = mapped_column(ForeignKey("deconfliction_activities.id"), index=True)
    activity_b_id: Mapped[int] = mapped_column(ForeignKey("deconfliction_activities.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
