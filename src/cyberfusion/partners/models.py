"""Organisations, members, API tokens, secondments and data-sharing agreements."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cyberfusion.db import Base, UTCDateTime, utcnow

ORG_KINDS = ("law_enforcement", "national_bureau", "private", "academia", "international", "host_centre")
SECTORS = ("internet_security", "financial", "telecom", "other")
VETTING = ("pending", "approved", "rejected")
ROLES = ("analyst", "contributor", "reader", "org_admin", "platform_admin", "auditor")
AGREEMENT_STATUSES = ("draft", "active", "suspended", "terminated")
# Crime-type categories an agreement lets a partner contribute and receive.
# "fraud" is romance and other online fraud; investment scams and sextortion have their own.
CATEGORIES = ("phishing", "malware", "ransomware", "bec", "fraud", "investment_scam", "sextortion",
              "data_breach", "ddos", "vulnerabilities", "botnet", "cryptojacking", "child_abuse",
              "money_laundering", "other")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    sector: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(40))
    # STIX identity that stands for this organisation in exported intelligence.
    identity_id: Mapped[str] = mapped_column(String(80), unique=True)
    vetting_status: Mapped[str] = mapped_column(String(16), default="pending")
    vetting_reviewer: Mapped[str | None] = mapped_column(String(200))
    vetting_date: Mapped[date | None] = mapped_column(Date)
    vetting_notes: Mapped[str | None] = mapped_column(Text)
    review_due: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="raise")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # Public lookup part of the token; the secret part is stored only as a SHA-256 digest.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Secondment(Base):
    __tablename__ = "secondments"
    __table_args__ = (Index("ix_secondments_member_dates", "member_id", "start_date", "end_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    seconding_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text, default="")
    agreement_reference: Mapped[str] = mapped_column(String(100), default="")
    confidentiality_ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Agreement(Base):
    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("organisation_id", "reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    tlp_ceiling: Mapped[int] = mapped_column(Integer)  # sharing.markings TLP level
    contribute_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    receive_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
