"""web: contributions checked or stored in the background (progress polled by the page)

Revision ID: 0501
Revises: 0500
"""
import sqlalchemy as sa
from alembic import op

revision = "0501"
down_revision = "0500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("fmt", sa.String(16), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_imports_session_id", "web_imports", ["session_id"])
    op.create_index("ix_web_imports_updated_at", "web_imports", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_web_imports_updated_at", table_name="web_imports")
    op.drop_index("ix_web_imports_session_id", table_name="web_imports")
    op.drop_table("web_imports")
