"""Country reports as records (who generated them, for whom, from which sources, when sent),
their rendered files, and analysts' horizon notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

REPORT_FORMATS = ("html", "pdf", "stix", "csv")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
               "stix": "application/stix+json;version=2.1", "csv": "text/csv; charset=utf-8"}


class CountryReport(Base):
    __tablename__ = "country_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    recipient_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    generated_by_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    generated_by_org_id: Mapped[int] = mapped_column(Integer)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    geo_database: Mapped[str] = mapped_column(String(120))
    tlp: Mapped[str] = mapped_column(String(16))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # counts per category, withheld count (or null when the k-threshold hides it), recommendations
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    # [{"contribution_id", "organisation_id", "items"}]: what the report was built from
    sources: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="generated")  # generated -> sent
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by_member_id: Mapped[int | None] = mapped_column(Integer)
    first_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportFile(Base):
    """A rendered file of a report, kept in the database so any API process can serve it."""

    __tablename__ = "country_report_files"
    __table_args__ = (UniqueConstraint("report_id", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("country_reports.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    media_type: Mapped[str] = mapped_column(String(80))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class HorizonNote(Base):
    """An analyst's free-text note on a new modus operandi.

    The note itself (title and text) is stored as a STIX ``note`` in its own contribution,
    with the author's handling, so every read goes through the policy gate like any other
    intelligence and retention removes it; this row only indexes it by tags, region,
    country and crime type.
    """

    __tablename__ = "horizon_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(100), index=True)
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    organisation_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    region: Mapped[str | None] = mapped_column(String(40))
    country: Mapped[str | None] = mapped_column(String(2))
    crime_type: Mapped[str | None] = mapped_column(String(32))
