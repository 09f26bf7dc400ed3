"""AI tables: the review queue, embeddings (with the source's handling), the responsible-AI
register and its resource bank."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")


class AiSuggestion(Base):
    """One AI output waiting for a person: an observable, a crime type or an entity.

    Visible only to members of the organisation that asked for it until a reviewer accepts
    it; acceptance creates intelligence through the ingest pipeline (``contribution_id``).
    A suggestion made from stored intelligence keeps the source object's row, so it goes
    when retention deletes the source (ON DELETE CASCADE).
    """

    __tablename__ = "ai_suggestions"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source_name: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_object_pk: Mapped[int | None] = mapped_column(ForeignKey("stix_objects.pk", ondelete="CASCADE"))
    capability: Mapped[str] = mapped_column(String(16))  # observable, crime_type, entity
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    positions: Mapped[list | None] = mapped_column(JSON)
    model_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    contribution_id: Mapped[str | None] = mapped_column(String(36))


class AiEmbedding(Base):
    """A sentence embedding of one object version; carries that version's handling columns so
    the policy filter applies to it, and is deleted with it."""

    __tablename__ = "ai_embeddings"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(ForeignKey("stix_objects.pk", ondelete="CASCADE"), unique=True)
    stix_id: Mapped[str] = mapped_column(String(100), index=True)
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id", ondelete="CASCADE"), index=True)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    organisation_id: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    dimensions: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian, L2-normalised
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AiUseCase(Base):
    """A law-enforcement AI use case in the responsible-AI register."""

    __tablename__ = "ai_use_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    answers: Mapped[dict] = mapped_column(JSON)
    risk_level: Mapped[str] = mapped_column(String(16))
    risk_reasons: Mapped[list] = mapped_column(JSON)
    oversight: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    owner_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AiResource(Base):
    """Guidance, training material or a tool in the resource bank."""

    __tablename__ = "ai_resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)  # ",tag1,tag2," so a tag filter is a plain LIKE
    added_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
