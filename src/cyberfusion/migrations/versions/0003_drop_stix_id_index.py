"""intel: drop ix_stix_objects_stix_id — uq_stix_version_owner (stix_id, modified, organisation_id) serves it

Revision ID: 0003
Revises: 0002

Every search by STIX id (equality, IN, the version checks) can use the unique constraint's index,
whose first column is stix_id, on SQLite and PostgreSQL alike; the single-column index was a second
copy of the same key. An import writes a random page of each index per object (object ids are
random): at 1M stored objects a 100-indicator upload wrote ~1,100 WAL pages, of which ~100 went to
this index, and the importer spent ~3 % of its CPU on it (benchmarks/ingest.py profile).
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_stix_objects_stix_id", table_name="stix_objects")


def downgrade() -> None:
    op.create_index("ix_stix_objects_stix_id", "stix_objects", ["stix_id"], unique=False)
