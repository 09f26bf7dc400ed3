"""products: report files may be stored zlib-compressed (country_report_files.encoding)

Revision ID: 0302
Revises: 0301

``encoding`` is '' for content stored as it is (every row before this revision) and 'zlib' for
content compressed with zlib; ``size`` and ``sha256`` stay those of the file as downloaded. The
downgrade decompresses the compressed rows first.
"""
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0302"
down_revision = "0301"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("country_report_files") as batch:
        batch.add_column(sa.Column("encoding", sa.String(8), nullable=False, server_default=""))


def downgrade() -> None:
    conn = op.get_bind()
    files = sa.table("country_report_files", sa.column("id", sa.Integer()), sa.column("encoding", sa.String()),
                     sa.column("content", sa.LargeBinary()))
    ids = [i for (i,) in conn.execute(sa.select(files.c.id).where(files.c.encoding == "zlib"))]
    for file_id in ids:  # one row at a time: report files are large
        content = conn.execute(sa.select(files.c.content).where(files.c.id == file_id)).scalar_one()
        conn.execute(sa.update(files).where(files.c.id == file_id).values(content=zlib.decompress(content),
                                                                           encoding=""))
    with op.batch_alter_table("country_report_files") as batch:
        batch.drop_column("encoding")
