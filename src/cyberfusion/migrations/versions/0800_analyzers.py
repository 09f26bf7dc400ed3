"""analyzers: runs, result cache, configuration

Revision ID: 0800
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0800"
down_revision = "0001"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analyzer_runs",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("analyzer", sa.String(100), nullable=False),
        sa.Column("analyzer_version", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("stix_id", sa.String(100), nullable=False),
        sa.Column("contribution_id", sa.String(36), sa.ForeignKey("contributions.id"), nullable=False),
        sa.Column("handling_id", sa.Integer(), sa.ForeignKey("handling.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("requested_org_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Integer(), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("result_contribution_id", sa.String(36), sa.ForeignKey("contributions.id"), nullable=True),
        sa.Column("result_ids", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
    )
    op.create_index("ix_analyzer_runs_status", "analyzer_runs", ["status", "id"])
    op.create_index("ix_analyzer_runs_value", "analyzer_runs", ["analyzer", "kind", "value"])
    op.create_index("ix_analyzer_runs_called", "analyzer_runs", ["analyzer", "called_at"])
    op.create_index("ix_analyzer_runs_contribution_id", "analyzer_runs", ["contribution_id"])
    op.create_table(
        "analyzer_cache",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("analyzer", sa.String(100), nullable=False),
        sa.Column("analyzer_version", sa.String(40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_analyzer_cache_expires_at", "analyzer_cache", ["expires_at"])
    op.create_table(
        "analyzer_config",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("auto_kinds", sa.JSON(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("cache_hours", sa.Integer(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analyzer_config")
    op.drop_table("analyzer_cache")
    op.drop_index("ix_analyzer_runs_contribution_id", table_name="analyzer_runs")
    op.drop_index("ix_analyzer_runs_called", table_name="analyzer_runs")
    op.drop_index("ix_analyzer_runs_value", table_name="analyzer_runs")
    op.drop_index("ix_analyzer_runs_status", table_name="analyzer_runs")
    op.drop_table("analyzer_runs")
