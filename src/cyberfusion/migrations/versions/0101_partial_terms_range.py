"""fusion: fusion_terms (range_start, range_end) indexes only the rows with a range

Revision ID: 0101
Revises: 0100

A term has a range only when it is the IP literal of a URL; host terms (most of them) added an
index entry (NULL, NULL, rowid) on insert that no query reads (the range queries compare
``range_start``, which implies ``range_start IS NOT NULL``). See intel's 0004 for the same change
on observables.
"""
import sqlalchemy as sa
from alembic import op

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    where = sa.text("range_start IS NOT NULL")
    op.drop_index("ix_fusion_terms_range", table_name="fusion_terms")
    op.create_index("ix_fusion_terms_range", "fusion_terms", ["range_start", "range_end"], unique=False,
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_fusion_terms_range", table_name="fusion_terms")
    op.create_index("ix_fusion_terms_range", "fusion_terms", ["range_start", "range_end"], unique=False)
