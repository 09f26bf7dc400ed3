"""TAXII tables: custom collection definitions, status resources, collectors and their progress.

Built-in collections (everything readable, one per TLP level, crime category and region,
and each organisation's inbox) are defined in code (``collections.py``) and need no row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime


class TaxiiCollection(Base):
    """A collection defined by an administrator: membership filters on top of the policy filter."""

    __tablename__ = "taxii_collections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Why readers read through this collection (the policy's permitted purpose).
    purpose: Mapped[str] = mapped_column(String(32))
    # {"tlp": [...], "categories": [...], "regions": [...], "types": [...]}; empty = no restriction.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)
    # HandlingSpec fields applied to contributions posted here (can_write only).
    handling: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaxiiStatus(Base):
    """The status resource of one POST to a collection (TAXII 2.1 section 4.3.1)."""

    __tablename__ = "taxii_status"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection_id: Mapped[str] = mapped_column(String(36))
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    member_id: Mapped[int] = mapped_column(Integer)
    contribution_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))  # pending | complete
    request_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pendings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Collector(Base):
    """A scheduled pull of a partner's TAXII 2.1 collection or MISP feed."""

    __tablename__ = "taxii_collectors"
    __table_args__ = (Index("ix_taxii_collectors_due", "enabled", "next_run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # taxii21 | misp-feed
    url: Mapped[str] = mapped_column(Text)
    # The partner organisation the pulled intelligence is contributed as, and the member acting.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    handling: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Encrypted with a key derived from the secret key (never stored in clear).
    credentials: Mapped[str | None] = mapped_column(Text)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    page_size: Mapped[int] = mapped_column(Integer, default=1000)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # TAXII: {"added_after", "next", "run_max_added"}; MISP feeds keep per-event state in CollectorItem.
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="idle")  # idle | running | ok | error
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed runs
    run_pages: Mapped[int] = mapped_column(Integer, default=0)  # progress of the current/last run
    run_objects: Mapped[int] = mapped_column(Integer, default=0)
    run_skipped: Mapped[int] = mapped_column(Integer, default=0)  # invalid objects/events left out
    total_objects: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CollectorItem(Base):
    """What a collector already holds of one feed item (a MISP event): incremental pulls."""

    __tablename__ = "taxii_collector_items"

    collector_id: Mapped[int] = mapped_column(ForeignKey("taxii_collectors.id", ondelete="CASCADE"),
                                              primary_key=True)
    item: Mapped[str] = mapped_column(String(64), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    contribution_id: Mapped[str | None] = mapped_column(String(36))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
