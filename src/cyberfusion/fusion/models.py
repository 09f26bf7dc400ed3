"""Fusion tables: warninglists, correlation terms and per-value aggregates, lookups and hit
notifications, watchlists, alerts and their deliveries.

Nothing here stores a pair of correlated objects: correlation reads the observables index
and the derived terms below, both one row per value per object (linear storage).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime, partial_index

_BigId = BigInteger().with_variant(Integer, "sqlite")


# --- warninglists ----------------------------------------------------------------------------

class Warninglist(Base):
    """One MISP warninglist as imported (the file's name identifies it)."""

    __tablename__ = "fusion_warninglists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    slug: Mapped[str] = mapped_column(String(100))  # the list's directory (or file) name, e.g. rfc1918
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16))  # cidr, hostname, string, substring, regex
    version: Mapped[int] = mapped_column(BigInteger)
    matching_attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WarninglistEntry(Base):
    __tablename__ = "fusion_warninglist_entries"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    warninglist_id: Mapped[int] = mapped_column(ForeignKey("fusion_warninglists.id", ondelete="CASCADE"),
                                                index=True)
    value: Mapped[str] = mapped_column(Text)


# --- correlation -----------------------------------------------------------------------------

class Term(Base):
    """A value derived from an observable for correlation (fusion.terms): the host name of a
    URL, e-mail address or domain name, labels reversed, or a URL's IP literal. At most one
    per observable.

    Deleting the observable (retention) deletes its terms.
    """

    __tablename__ = "fusion_terms"
    __table_args__ = (
        Index("ix_fusion_terms_value", "value", "kind"),
        # NULL except on the IP literal of a URL.
        partial_index("ix_fusion_terms_range", "range_start", "range_end", not_null="range_start"),
    )

    pk: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(24))  # host (labels reversed), ipv4-addr, ipv6-addr
    # Byte order on PostgreSQL too: a registered domain's names are one range of reversed hosts.
    value: Mapped[str] = mapped_column(String(2048).with_variant(String(2048, collation="C"), "postgresql"))
    range_start: Mapped[str | None] = mapped_column(String(32))
    range_end: Mapped[str | None] = mapped_column(String(32))
    observable_pk: Mapped[int] = mapped_column(_BigId, ForeignKey("observables.pk", ondelete="CASCADE"),
                                               index=True)
    stix_id: Mapped[str] = mapped_column(String(100), index=True)
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ValueStat(Base):
    """Per-value aggregate: in how many contributions a value (or derived term) appears.

    Platform-wide and never shown as a number: it only drives the over-correlation guard.
    """

    __tablename__ = "fusion_values"

    value: Mapped[str] = mapped_column(String(2048), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    contributions: Mapped[int] = mapped_column(Integer, default=0)


class IpPrefix(Base):
    """Prefix lengths (in the IPv4-mapped IPv6 space, 0-127) of stored CIDR ranges, so that
    "which stored ranges contain this address" is a handful of exact index probes."""

    __tablename__ = "fusion_ip_prefixes"

    prefix: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class ValueEpoch(Base):
    """One row: how many observable and term rows were ever deleted (SQLite: counted by triggers,
    migration 0102). The batch lookup's filter of stored values (fusion/valuefilter.py) starts
    over when it changes."""

    __tablename__ = "fusion_value_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deletions: Mapped[int] = mapped_column(BigInteger)


# --- hit/no-hit deconfliction ----------------------------------------------------------------

class Lookup(Base):
    """One "do you hold anything on these values?" request. The values asked are kept only as
    keyed hashes (16-byte truncated HMAC-SHA256 each, packed); values that hit are in LookupHit."""

    __tablename__ = "fusion_lookups"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer, index=True)
    secondment_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    value_count: Mapped[int] = mapped_column(Integer)
    hit_count: Mapped[int] = mapped_column(Integer)  # answered "hit" to the asker
    notified_count: Mapped[int] = mapped_column(Integer)  # owner notifications raised or renewed
    digests: Mapped[bytes] = mapped_column(LargeBinary)


class LookupHit(Base):
    """A value of a lookup that matched stored intelligence (kept in clear, as the issue allows)."""

    __tablename__ = "fusion_lookup_hits"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    lookup_id: Mapped[int] = mapped_column(ForeignKey("fusion_lookups.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(2048))
    answer: Mapped[str] = mapped_column(String(16))  # details | reference | no_hit (owner-only hit)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)


class HitNotification(Base):
    """Tells an owning organisation that someone asked about a value it holds.

    One row per (owner, asker organisation, value, purpose); asking again renews it.
    """

    __tablename__ = "fusion_hit_notifications"
    __table_args__ = (
        UniqueConstraint("owner_org_id", "asker_org_id", "kind", "value", "purpose", name="uq_fusion_hit_once"),
        Index("ix_fusion_hits_asker", "asker_org_id", "last_asked_at"),
        Index("ix_fusion_hits_owner", "owner_org_id", "last_asked_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    asker_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    asker_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(2048))
    purpose: Mapped[str] = mapped_column(String(32))
    lookup_id: Mapped[int] = mapped_column(ForeignKey("fusion_lookups.id", ondelete="CASCADE"), index=True)
    object_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # the owner's own objects
    owner_label: Mapped[str] = mapped_column(String(300))  # how the asker may name the owner
    asker_told: Mapped[str] = mapped_column(String(16))  # details | reference | no_hit
    times_asked: Mapped[int] = mapped_column(Integer, default=1)
    first_asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | answered
    decision: Mapped[str | None] = mapped_column(String(16))  # share | contact | decline
    message: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- watchlists and alerts ---------------------------------------------------------------------

class Watchlist(Base):
    """Values a member or an organisation watches. The creating member is the viewer whose
    reading rights (for ``purpose``) decide which new intelligence may raise an alert."""

    __tablename__ = "fusion_watchlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # member | organisation (whose inbox)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(32))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WatchItem(Base):
    __tablename__ = "fusion_watch_items"
    __table_args__ = (UniqueConstraint("watchlist_id", "type", "kind", "value", name="uq_fusion_watch_item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("fusion_watchlists.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # value, cidr, domain, keyword, country, category
    kind: Mapped[str] = mapped_column(String(24), default="")  # observable kind for "value" items
    value: Mapped[str] = mapped_column(String(2048))
    range_start: Mapped[str | None] = mapped_column(String(32))
    range_end: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """One inbox entry: new intelligence matched a watch item. It carries the intelligence's
    (contribution, handling, owner) so every read re-applies the policy gate."""

    __tablename__ = "fusion_alerts"
    __table_args__ = (
        UniqueConstraint("recipient", "dedup_key", name="uq_fusion_alert_once"),
        Index("ix_fusion_alerts_inbox", "recipient", "created_at"),
        Index("ix_fusion_alerts_unbatched", "batched_at", "recipient"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(24))  # "m:<member id>" or "o:<organisation id>"
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("fusion_watchlists.id", ondelete="CASCADE"), index=True)
    watch_item_id: Mapped[int | None] = mapped_column(Integer)
    match_type: Mapped[str] = mapped_column(String(16))
    matched: Mapped[str] = mapped_column(String(2048))  # the watch item's text
    kind: Mapped[str | None] = mapped_column(String(24))
    value: Mapped[str | None] = mapped_column(String(2048))
    stix_id: Mapped[str | None] = mapped_column(String(100))
    object_type: Mapped[str | None] = mapped_column(String(64))
    # Retention deleting the matched observable or object deletes the alert with it.
    observable_pk: Mapped[int | None] = mapped_column(
        _BigId, ForeignKey("observables.pk", ondelete="CASCADE"), index=True)
    object_pk: Mapped[int | None] = mapped_column(
        _BigId, ForeignKey("stix_objects.pk", ondelete="CASCADE"), index=True)
    object_count: Mapped[int] = mapped_column(Integer, default=1)
    contribution_id: Mapped[str] = mapped_column(ForeignKey("contributions.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(Integer)
    handling_id: Mapped[int] = mapped_column(ForeignKey("handling.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    batched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """A batch of alerts sent to one recipient's webhook or e-mail address."""

    __tablename__ = "fusion_deliveries"
    __table_args__ = (Index("ix_fusion_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_fusion_deliveries_recipient", "recipient", "created_at"))

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email
    target: Mapped[str] = mapped_column(Text)
    watchlist_id: Mapped[int | None] = mapped_column(ForeignKey("fusion_watchlists.id", ondelete="SET NULL"))
    alert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
