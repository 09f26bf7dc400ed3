"""intel: partial indexes for mostly-NULL columns — stix_objects.source_ref / target_ref and
observables (range_start, range_end) index only the rows where the column is set

Revision ID: 0004
Revises: 0003

``source_ref``/``target_ref`` are set on relationships and sightings only, the IP range columns on
IP addresses and ranges only; every other row added an index entry (NULL, rowid) on insert that no
query reads: each query on these columns compares them (``=``, ``IN (…)``, ``>=``/``<=``, a join on
``=``), which no NULL satisfies and which lets SQLite's and PostgreSQL's planners use a partial
index ``WHERE col IS NOT NULL``. Same names, same columns; only the rows indexed change.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (index, table, columns, the column whose NULL rows are left out)
_INDEXES = (
    ("ix_stix_objects_source_ref", "stix_objects", ["source_ref"], "source_ref"),
    ("ix_stix_objects_target_ref", "stix_objects", ["target_ref"], "target_ref"),
    ("ix_observables_range", "observables", ["range_start", "range_end"], "range_start"),
)


def upgrade() -> None:
    for name, table, columns, not_null in _INDEXES:
        where = sa.text(f"{not_null} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, table, columns, _not_null in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
