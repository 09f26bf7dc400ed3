"""intel: stix_objects.has_siblings — whether another row with the same STIX id is (or was) stored

Revision ID: 0002
Revises: 0001

Every read that serves "the latest (or first) readable version" of an object checks, per row,
that no other readable row of the same id is newer (or the same version stored earlier). That
check is a random seek into ``uq_stix_version_owner`` per row read: at 1M objects about 40% of
a TAXII page's server CPU (4.5 of 10.5 ms per 1,000-object page, a fifth of it ``pread`` system
time), although almost every object has one row only. ``has_siblings`` is false while a row is
the only one of its id, so readers skip the seek for such rows (``… = false OR NOT EXISTS …``).

Kept by the database, so every writer (the importer's raw multi-row inserts, TAXII, the ORM,
benchmarks writing rows directly) keeps it right: an insert whose id is already stored marks
every row of that id. Deleting rows never clears the flag: a stale ``true`` only costs the seek.
SQLite: a row trigger. PostgreSQL: a statement trigger over the inserted rows (a transition
table), one set-based update per INSERT statement rather than a function call per row.
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BACKFILL = ("UPDATE stix_objects SET has_siblings = {true} WHERE stix_id IN "
             "(SELECT stix_id FROM stix_objects GROUP BY stix_id HAVING count(*) > 1)")

_SQLITE_TRIGGER = """CREATE TRIGGER stix_objects_siblings AFTER INSERT ON stix_objects
    WHEN EXISTS (SELECT 1 FROM stix_objects o WHERE o.stix_id = new.stix_id AND o.pk <> new.pk)
    BEGIN
        UPDATE stix_objects SET has_siblings = 1 WHERE stix_id = new.stix_id AND has_siblings = 0;
    END"""

_PG_FUNCTION = """CREATE FUNCTION stix_objects_mark_siblings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stix_objects s SET has_siblings = true
    WHERE NOT s.has_siblings AND s.stix_id IN (
        SELECT n.stix_id FROM stix_objects_inserted n
        WHERE EXISTS (SELECT 1 FROM stix_objects o WHERE o.stix_id = n.stix_id AND o.pk <> n.pk));
    RETURN NULL;
END $$"""

_PG_TRIGGER = """CREATE TRIGGER stix_objects_siblings AFTER INSERT ON stix_objects
    REFERENCING NEW TABLE AS stix_objects_inserted FOR EACH STATEMENT
    EXECUTE FUNCTION stix_objects_mark_siblings()"""


def upgrade() -> None:
    conn = op.get_bind()
    # A plain ALTER TABLE (no table rebuild on SQLite: migration 0900's triggers stay in place).
    op.add_column("stix_objects", sa.Column("has_siblings", sa.Boolean(), nullable=False, server_default=sa.false()))
    if conn.dialect.name == "sqlite":
        op.execute(_BACKFILL.format(true="1"))
        op.execute(_SQLITE_TRIGGER)
        return
    op.execute(_BACKFILL.format(true="true"))
    op.execute(_PG_FUNCTION)
    op.execute(_PG_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS stix_objects_siblings")
    else:
        op.execute("DROP TRIGGER IF EXISTS stix_objects_siblings ON stix_objects")
        op.execute("DROP FUNCTION IF EXISTS stix_objects_mark_siblings()")
    op.drop_column("stix_objects", "has_siblings")
