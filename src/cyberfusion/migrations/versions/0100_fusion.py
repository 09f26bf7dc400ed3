"""fusion: warninglists, correlation terms and aggregates, lookups, hit notifications,
watchlists, alerts and deliveries

Revision ID: 0100
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fusion_warninglists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("matching_attributes", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("imported_at", UTC, nullable=False),
    )
    op.create_table(
        "fusion_warninglist_entries",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("warninglist_id", sa.Integer(), sa.ForeignKey("fusion_warninglists.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_fusion_warninglist_entries_warninglist_id", "fusion_warninglist_entries",
                    ["warninglist_id"])

    op.create_table(
        "fusion_terms",
        sa.Column("pk", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(2048).with_variant(sa.String(2048, collation="C"), "postgresql"),
                  nullable=False),
        sa.Column("range_start", sa.String(32), nullable=True),
        sa.Column("range_end", sa.String(32), nullable=True),
        sa.Column("observable_pk", BIG_ID, sa.ForeignKey("observables.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("stix_id", sa.String(100), nullable=False),
        sa.Column("contribution_id", sa.String(36), sa.ForeignKey("contributions.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("handling_id", sa.Integer(), sa.ForeignKey("handling.id"), nullable=False),
        sa.Column("seen_at", UTC, nullable=True),
    )
    op.create_index("ix_fusion_terms_value", "fusion_terms", ["value", "kind"])
    op.create_index("ix_fusion_terms_range", "fusion_terms", ["range_start", "range_end"])
    op.create_index("ix_fusion_terms_observable_pk", "fusion_terms", ["observable_pk"])
    op.create_index("ix_fusion_terms_stix_id", "fusion_terms", ["stix_id"])
    op.create_index("ix_fusion_terms_contribution_id", "fusion_terms", ["contribution_id"])

    op.create_table(
        "fusion_values",
        sa.Column("value", sa.String(2048), primary_key=True),
        sa.Column("kind", sa.String(24), primary_key=True),
        sa.Column("contributions", sa.Integer(), nullable=False),
    )
    op.create_table(
        "fusion_ip_prefixes",
        sa.Column("prefix", sa.Integer(), primary_key=True, autoincrement=False),
    )

    op.create_table(
        "fusion_lookups",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("secondment_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("value_count", sa.Integer(), nullable=False),
        sa.Column("hit_count", sa.Integer(), nullable=False),
        sa.Column("notified_count", sa.Integer(), nullable=False),
        sa.Column("digests", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_fusion_lookups_member_id", "fusion_lookups", ["member_id"])
    op.create_index("ix_fusion_lookups_organisation_id", "fusion_lookups", ["organisation_id"])
    op.create_index("ix_fusion_lookups_created_at", "fusion_lookups", ["created_at"])
    op.create_table(
        "fusion_lookup_hits",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("lookup_id", BIG_ID, sa.ForeignKey("fusion_lookups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
    )
    op.create_index("ix_fusion_lookup_hits_lookup_id", "fusion_lookup_hits", ["lookup_id"])
    op.create_table(
        "fusion_hit_notifications",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(24), nullable=False, unique=True),
        sa.Column("owner_org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("asker_org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("asker_member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("lookup_id", BIG_ID, sa.ForeignKey("fusion_lookups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("object_ids", sa.JSON(), nullable=False),
        sa.Column("owner_label", sa.String(300), nullable=False),
        sa.Column("asker_told", sa.String(16), nullable=False),
        sa.Column("times_asked", sa.Integer(), nullable=False),
        sa.Column("first_asked_at", UTC, nullable=False),
        sa.Column("last_asked_at", UTC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", UTC, nullable=True),
        sa.UniqueConstraint("owner_org_id", "asker_org_id", "kind", "value", "purpose", name="uq_fusion_hit_once"),
    )
    op.create_index("ix_fusion_hits_asker", "fusion_hit_notifications", ["asker_org_id", "last_asked_at"])
    op.create_index("ix_fusion_hits_owner", "fusion_hit_notifications", ["owner_org_id", "last_asked_at"])
    op.create_index("ix_fusion_hit_notifications_lookup_id", "fusion_hit_notifications", ["lookup_id"])

    op.create_table(
        "fusion_watchlists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret", sa.String(100), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
    )
    op.create_index("ix_fusion_watchlists_organisation_id", "fusion_watchlists", ["organisation_id"])
    op.create_index("ix_fusion_watchlists_member_id", "fusion_watchlists", ["member_id"])
    op.create_table(
        "fusion_watch_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("watchlist_id", sa.Integer(), sa.ForeignKey("fusion_watchlists.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("range_start", sa.String(32), nullable=True),
        sa.Column("range_end", sa.String(32), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.UniqueConstraint("watchlist_id", "type", "kind", "value", name="uq_fusion_watch_item"),
    )
    op.create_index("ix_fusion_watch_items_watchlist_id", "fusion_watch_items", ["watchlist_id"])

    op.create_table(
        "fusion_alerts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(24), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), sa.ForeignKey("fusion_watchlists.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("watch_item_id", sa.Integer(), nullable=True),
        sa.Column("match_type", sa.String(16), nullable=False),
        sa.Column("matched", sa.String(2048), nullable=False),
        sa.Column("kind", sa.String(24), nullable=True),
        sa.Column("value", sa.String(2048), nullable=True),
        sa.Column("stix_id", sa.String(100), nullable=True),
        sa.Column("object_type", sa.String(64), nullable=True),
        sa.Column("observable_pk", BIG_ID, sa.ForeignKey("observables.pk", ondelete="CASCADE"), nullable=True),
        sa.Column("object_pk", BIG_ID, sa.ForeignKey("stix_objects.pk", ondelete="CASCADE"), nullable=True),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("contribution_id", sa.String(36), sa.ForeignKey("contributions.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("handling_id", sa.Integer(), sa.ForeignKey("handling.id"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("read_at", UTC, nullable=True),
        sa.Column("batched_at", UTC, nullable=True),
        sa.UniqueConstraint("recipient", "dedup_key", name="uq_fusion_alert_once"),
    )
    op.create_index("ix_fusion_alerts_inbox", "fusion_alerts", ["recipient", "created_at"])
    op.create_index("ix_fusion_alerts_unbatched", "fusion_alerts", ["batched_at", "recipient"])
    op.create_index("ix_fusion_alerts_watchlist_id", "fusion_alerts", ["watchlist_id"])
    op.create_index("ix_fusion_alerts_observable_pk", "fusion_alerts", ["observable_pk"])
    op.create_index("ix_fusion_alerts_object_pk", "fusion_alerts", ["object_pk"])
    op.create_index("ix_fusion_alerts_contribution_id", "fusion_alerts", ["contribution_id"])
    op.create_table(
        "fusion_deliveries",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), sa.ForeignKey("fusion_watchlists.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
    )
    op.create_index("ix_fusion_deliveries_due", "fusion_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_fusion_deliveries_recipient", "fusion_deliveries", ["recipient", "created_at"])

    # Aggregates for intelligence stored before fusion existed (exact values; derived terms
    # come with `cfc correlation rebuild`).
    op.execute("INSERT INTO fusion_values (value, kind, contributions) "
               "SELECT value, kind, count(DISTINCT contribution_id) FROM observables GROUP BY value, kind")


def downgrade() -> None:
    for table in ("fusion_deliveries", "fusion_alerts", "fusion_watch_items", "fusion_watchlists",
                  "fusion_hit_notifications", "fusion_lookup_hits", "fusion_lookups", "fusion_ip_prefixes",
                  "fusion_values", "fusion_terms", "fusion_warninglist_entries", "fusion_warninglists"):
        op.drop_table(table)
