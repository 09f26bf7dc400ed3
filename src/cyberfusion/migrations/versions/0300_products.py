"""products: country report records and files, horizon notes

Revision ID: 0300
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0300"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "country_reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("batch_id", sa.String(36), nullable=True, index=True),
        sa.Column("country", sa.String(2), nullable=False, index=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient_org_id", sa.Integer(), sa.ForeignKey("organisations.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("generated_by_member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("generated_by_org_id", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("geo_database", sa.String(120), nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_by_member_id", sa.Integer(), nullable=True),
        sa.Column("first_downloaded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "country_report_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.String(36), sa.ForeignKey("country_reports.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("media_type", sa.String(80), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("report_id", "format"),
    )
    op.create_table(
        "horizon_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stix_id", sa.String(100), nullable=False, index=True),
        sa.Column("contribution_id", sa.String(36), sa.ForeignKey("contributions.id"), nullable=False, index=True),
        sa.Column("handling_id", sa.Integer(), sa.ForeignKey("handling.id"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(40), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("crime_type", sa.String(32), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("horizon_notes")
    op.drop_table("country_report_files")
    op.drop_table("country_reports")
