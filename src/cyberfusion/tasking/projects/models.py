"""Projects/operations with members, participating organisations, deliverables and links."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

PROJECT_KINDS = ("project", "operation")
PROJECT_STATUSES = ("planned", "active", "closed")
DELIVERABLE_STATUSES = ("planned", "in_progress", "delivered", "cancelled")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    objective: Mapped[str] = mapped_column(Text)
    lead_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    countries: Mapped[str] = mapped_column(Text, default="")  # ",FR,NG,"
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectMember(Base):
    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(32), default="member")
    tasks: Mapped[str] = mapped_column(Text, default="")  # what this person does in the project


class ProjectOrganisation(Base):
    __tablename__ = "project_organisations"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True, index=True)


class Deliverable(Base):
    __tablename__ = "project_deliverables"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    owner_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectObject(Base):
    """Intelligence linked to a project; every reader sees it only through the policy gate."""

    __tablename__ = "project_objects"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    added_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProjectRfi(Base):
    __tablename__ = "project_rfis"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    rfi_id: Mapped[int] = mapped_column(ForeignKey("rfis.id"), primary_key=True)
