"""Every tasking table (imported once by cyberfusion.models), and the notifications they share.

A notification tells an organisation (or one member of it) that something needs attention:
an RFI breached its service level, an activity overlaps another, a review was assigned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime


class Notification(Base):
    __tablename__ = "tasking_notifications"
    __table_args__ = (Index("ix_tasking_notifications_org_member", "organisation_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # None: every member of the organisation; otherwise only this member.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    ref: Mapped[str] = mapped_column(String(64), default="")
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The sub-packages' tables, so that metadata and migrations see the whole tasking schema.
from cyberfusion.tasking.deconfliction.models import Activity, ActivityTarget, Overlap
from cyberfusion.tasking.groups.models import (
    Group,
    GroupMember,
    GroupPost,
    GroupShare,
    Meeting,
)
from cyberfusion.tasking.projects.models import (
    Deliverable,
    Project,
    ProjectMember,
    ProjectObject,
    ProjectOrganisation,
    ProjectRfi,
)
from cyberfusion.tasking.reviews.models import (
    Review,
    ReviewRecommendation,
    ReviewResponse,
    ReviewReviewer,
    ReviewScore,
)
from cyberfusion.tasking.rfi.models import (
    Rfi,
    RfiAnswer,
    RfiAnswerRef,
    RfiEvent,
    Team,
    TeamMember,
)

__all__ = [
    "Activity",
    "ActivityTarget",
    "Deliverable",
    "Group",
    "GroupMember",
    "GroupPost",
    "GroupShare",
    "Meeting",
    "Notification",
    "Overlap",
    "Project",
    "ProjectMember",
    "ProjectObject",
    "ProjectOrganisation",
    "ProjectRfi",
    "Review",
    "ReviewRecommendation",
    "ReviewResponse",
    "ReviewReviewer",
    "ReviewScore",
    "Rfi",
    "RfiAnswer",
    "RfiAnswerRef",
    "RfiEvent",
    "Team",
    "TeamMember",
]
