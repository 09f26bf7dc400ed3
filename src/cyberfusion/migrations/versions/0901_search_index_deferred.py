"""search index, SQLite: rows are indexed after the import, by a job, not by the insert trigger

A watermark (``search_index_state.indexed_through``) divides stix_objects: every row with a pk
up to it is in the FTS5 index, no row above it is. Imports append rows above it; the
``search.index`` job (intel.search_index) indexes them and moves the watermark; searches ask
the index for the rows up to it and test the rows above it directly (intel.repository), so
results are the same at every moment. The triggers now touch the index only for rows up to the
watermark: a row above it was never indexed (an external-content FTS5 'delete' of a row it does
not hold would corrupt it), and a row inserted below it (a pk reused after the highest rows were
deleted) is indexed at once, as before.

PostgreSQL is unchanged: its GIN index is kept by the server in the inserting statement.

Revision ID: 0901
Revises: 0900
"""
from alembic import op

revision = "0901"
down_revision = "0900"
branch_labels = None
depends_on = None

FTS = "stix_objects_search"
STATE = "search_index_state"
_UP_TO = f"(SELECT indexed_through FROM {STATE})"

_TRIGGERS = ("insert", "delete", "update")

_SQLITE_UP = [
    f"CREATE TABLE {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_through INTEGER NOT NULL)",
    # Every row stored so far was indexed by the old trigger.
    f"INSERT INTO {STATE} (id, indexed_through) SELECT 1, COALESCE(MAX(pk), 0) FROM stix_objects",
    *(f"DROP TRIGGER {FTS}_{t}" for t in _TRIGGERS),
    f"""CREATE TRIGGER {FTS}_insert AFTER INSERT ON stix_objects WHEN new.pk <= {_UP_TO} BEGIN
        INSERT INTO {FTS}(rowid, search_text) VALUES (new.pk, new.search_text);
    END""",
    f"""CREATE TRIGGER {FTS}_delete AFTER DELETE ON stix_objects WHEN old.pk <= {_UP_TO} BEGIN
        INSERT INTO {FTS}({FTS}, rowid, search_text) VALUES ('delete', old.pk, old.search_text);
    END""",
    f"""CREATE TRIGGER {FTS}_update AFTER UPDATE OF pk, search_text ON stix_objects BEGIN
        INSERT INTO {FTS}({FTS}, rowid, search_text) SELECT 'delete', old.pk, old.search_text
            WHERE old.pk <= {_UP_TO};
        INSERT INTO {FTS}(rowid, search_text) SELECT new.pk, new.search_text WHERE new.pk <= {_UP_TO};
    END""",
]

# 0900's triggers, after indexing the rows above the watermark.
_SQLITE_DOWN = [
    f"INSERT INTO {FTS}(rowid, search_text) SELECT pk, search_text FROM stix_objects WHERE pk > {_UP_TO}",
    *(f"DROP TRIGGER {FTS}_{t}" for t in _TRIGGERS),
    f"DROP TABLE {STATE}",
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
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
