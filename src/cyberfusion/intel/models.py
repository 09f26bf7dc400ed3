"""Contributions, immutable STIX object versions and the observables index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime, partial_index

_BigId = BigInteger().with_variant(Integer, "sqlite")


class Contribution(Base):
    __tablename__ = "contributions"
    # Not unique: a file whose contribution retention deleted may be contributed again.
    __table_args__ = (Index("ix_contributions_org_digest", "organisation_id", "digest"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    secondment_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source_format: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(64))
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    category: Mapped[str | None] = mapped_column(String(32))
    review_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # active -> hidden (expired, invisible to every read) -> deleted (rows removed)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StixObject(Base):
    __tablename__ = "stix_objects"
    __table_args__ = (
        UniqueConstraint("stix_id", "modified", "organisation_id", name="uq_stix_version_owner"),
        Index("ix_stix_objects_added", "date_added", "pk"),
        Index("ix_stix_objects_type_modified", "type", "modified"),
        # NULL except on relationships and sightings.
        partial_index("ix_stix_objects_source_ref", "source_ref", not_null="source_ref"),
        partial_index("ix_stix_objects_target_ref", "target_ref", not_null="target_ref"),
    )

    pk: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    # Searched through uq_stix_version_owner, whose first column it is (no index of its own: 0003).
    stix_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(64))
    spec_version: Mapped[str] = mapped_column(String(8), default="2.1")
    created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    modified: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_ref: Mapped[str | None] = mapped_column(String(100))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confidence: Mapped[int | None] = mapped_column(Integer)
    labels: Mapped[list[str] | None] = mapped_column(JSON)
    name: Mapped[str | None] = mapped_column(Text)
    # Relationship endpoints (relationship source/target; sighting: sighting_of_ref -> source).
    source_ref: Mapped[str | None] = mapped_column(String(100))
    target_ref: Mapped[str | None] = mapped_column(String(100))
    search_text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON of this version
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    date_added: Mapped[datetime] = mapped_column(UTCDateTime)
    # False while this is the only row of its stix_id: kept by the database (migration 0002),
    # never written by the application. Readers choosing a version skip the per-row seek for
    # "another row of the same id" when it is false (see intel.repository._no_newer).
    has_siblings: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Observable(Base):
    """One normalised value seen in one object version of one contribution.

    Storage grows linearly with what partners send: correlation reads this index,
    there is no pairwise table.
    """

    __tablename__ = "observables"
    __table_args__ = (
        Index("ix_observables_value", "value", "kind"),
        # NULL except on IP addresses and ranges.
        partial_index("ix_observables_range", "range_start", "range_end", not_null="range_start"),
    )

    pk: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(2048))
    range_start: Mapped[str | None] = mapped_column(String(32))
    range_end: Mapped[str | None] = mapped_column(String(32))
    stix_id: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(64))
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extra: Mapped[dict | None] = mapped_column(JSON)
