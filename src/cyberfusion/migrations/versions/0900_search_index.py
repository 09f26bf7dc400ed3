"""search index: trigram index over stix_objects.search_text (free-text search)

SQLite: an external-content FTS5 table with the trigram tokenizer, kept in step by triggers
and back-filled here. PostgreSQL: pg_trgm and a GIN index (gin_trgm_ops) on the column.
Both only *find candidates*; intel.repository.text_or_values_match applies the exact substring test.

Revision ID: 0900
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0900"
down_revision = "0001"
branch_labels = None
depends_on = None

FTS = "stix_objects_search"
PG_INDEX = "ix_stix_objects_search_trgm"

# Every row is indexed (a NULL search_text as an empty document), so the index stays equal to
# what FTS5's 'rebuild' would make from the table.
_SQLITE_UP = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(search_text, content='stix_objects', content_rowid='pk', "
    "tokenize='trigram')",
    f"""CREATE TRIGGER {FTS}_insert AFTER INSERT ON stix_objects BEGIN
        INSERT INTO {FTS}(rowid, search_text) VALUES (new.pk, new.search_text);
    END""",
    f"""CREATE TRIGGER {FTS}_delete AFTER DELETE ON stix_objects BEGIN
        INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.pk, old.search_text);
    END""",
    f"""CREATE TRIGGER {FTS}_update AFTER UPDATE OF pk, search_text ON stix_objects BEGIN
        INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.pk, old.search_text);
        INSERT INTO {FTS}(rowid, search_text) VALUES (new.pk, new.search_text);
    END""",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",  # back-fill the rows already stored
]


def _pg_trgm_schema(conn: sa.Connection) -> str:
    """The schema holding pg_trgm, installing it first when missing.

    Installed into ``public`` (when it exists), never implicitly into the first schema of the
    search path: benchmarks and tests migrate scratch schemas, and the extension must not be
    dropped with one of those while other schemas' indexes use it.
    """
    found = conn.execute(sa.text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                                 "WHERE e.extname = 'pg_trgm'")).scalar()
    if found is not None:
        return str(found)
    has_public = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")).scalar()
    schema = "public" if has_public else str(conn.execute(sa.text("SELECT current_schema()")).scalar())
    conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {_quote(conn, schema)}"))
    return schema


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
        return
    opclass = f"{_quote(conn, _pg_trgm_schema(conn))}.gin_trgm_ops"
    op.execute(f"CREATE INDEX {PG_INDEX} ON stix_objects USING gin (search_text {opclass})")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
        return
    op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    # The extension goes too, unless something else in the database (another schema's index)
    # still uses it: RESTRICT refuses then, and the savepoint keeps the downgrade going.
    try:
        with conn.begin_nested():
            conn.execute(sa.text("DROP EXTENSION IF EXISTS pg_trgm RESTRICT"))
    except DBAPIError:
        pass
