"""fusion: fusion_value_epoch, a counter of deleted observable and term rows (SQLite triggers)

Revision ID: 0102
Revises: 0101

The batch lookup's in-memory filter of stored values (fusion/valuefilter.py) follows the tables
by primary key: rows above the key it last read are new. On SQLite a deleted top row's key can
be handed out again (no AUTOINCREMENT), so a delete must tell the filter to start over: these
triggers count deleted rows in one row, in the deleting transaction (a rolled-back delete counts
nothing). PostgreSQL has the table but no triggers: the filter is not used there (a sequence's
order is not its commit order, so "above the last key read" could skip a late commit).
"""
import sqlalchemy as sa
from alembic import op

revision = "0102"
down_revision = "0101"
branch_labels = None
depends_on = None

_TABLES = ("observables", "fusion_terms")


def upgrade() -> None:
    op.create_table(
        "fusion_value_epoch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("deletions", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO fusion_value_epoch (id, deletions) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table in _TABLES:
            op.execute(f"CREATE TRIGGER {table}_value_epoch AFTER DELETE ON {table} "
                       "BEGIN UPDATE fusion_value_epoch SET deletions = deletions + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_value_epoch")
    op.drop_table("fusion_value_epoch")
