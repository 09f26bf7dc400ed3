"""Analyzer runs (jobs with status), the result cache and per-analyzer configuration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")

RUN_STATUSES = ("queued", "running", "done", "failed", "refused")
TRIGGERS = ("manual", "api", "ingest")


class AnalyzerRun(Base):
    """One analyzer applied to one observable of one stored input.

    ``contribution_id``, ``handling_id`` and ``organisation_id`` are the *input's*, so the
    policy filter (``policy.readable_by``) applies to runs exactly as to the input itself.
    """

    __tablename__ = "analyzer_runs"
    __table_args__ = (
        Index("ix_analyzer_runs_status", "status", "id"),
        Index("ix_analyzer_runs_value", "analyzer", "kind", "value"),
        Index("ix_analyzer_runs_called", "analyzer", "called_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    analyzer: Mapped[str] = mapped_column(String(100))
    analyzer_version: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2048))
    stix_id: Mapped[str] = mapped_column(String(100))
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    organisation_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[int | None] = mapped_column(Integer)  # member id; None: the platform itself
    requested_org_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, was refused or is deferred
    summary: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[int | None] = mapped_column(Integer)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    result_contribution_id: Mapped[str | None] = mapped_column(ForeignKey("contributions.id"))
    result_ids: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the analyzer itself was called
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class AnalyzerCache(Base):
    """The last result of an analyzer version on a value, per result owner, until it expires."""

    __tablename__ = "analyzer_cache"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of analyzer, version, kind, value, owner
    analyzer: Mapped[str] = mapped_column(String(100))
    analyzer_version: Mapped[str] = mapped_column(String(40))
    organisation_id: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AnalyzerConfig(Base):
    """Operator settings of one analyzer (absent row: enabled, no automatic runs, defaults)."""

    __tablename__ = "analyzer_config"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # run on ingest for these kinds
    budget: Mapped[int | None] = mapped_column(Integer)  # max automatic runs per contribution
    cache_hours: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. {"url": ...} for HTTP analyzers
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
