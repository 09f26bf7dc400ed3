"""SQL of the audit log: append at the chain's head, read in order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import core, hold_write_lock, insert_rows


def lock_chain_head(session: Session) -> None:
    """Serialise appends so that two writers never chain onto the same entry: held from before
    the head is read until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7304101)"))
    else:
        hold_write_lock(session)


# Prebuilt Core statements: every API read appends an entry, and building and compiling the
# ORM equivalents cost more than the two statements themselves (benchmarks/lookup.py).
_LAST_HASH = select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
_INSERT = insert(AuditEntry.__table__)


def last_hash(session: Session) -> str | None:
    return core(session).scalar(_LAST_HASH)


def add(session: Session, row: dict[str, Any]) -> None:
    """Append one entry's row (every column but the id; entries are never changed after they
    are written)."""
    core(session).execute(_INSERT, row)


def add_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append entries' rows in this order (their ids in the chain's order). On SQLite by one
    INSERT of many rows, whose rowids SQLite gives in the order of its VALUES (not executemany:
    one statement to run, where executemany runs it once per row); elsewhere one by one."""
    if len(rows) > 1 and session.get_bind().dialect.name == "sqlite":
        insert_rows(session, AuditEntry.__table__, rows)
        return
    for row in rows:
        add(session, row)


def iter_entries(session: Session, *, batch: int = 5000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.id > after)
                               .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def search(session: Session, *, member_id: int | None = None, action: str | None = None,
           object_id: str | None = None, since: datetime | None = None,
           until: datetime | None = None, after_id: int = 0, limit: int = 100) -> list[AuditEntry]:
    q = select(AuditEntry).where(AuditEntry.id > after_id)
    if member_id is not None:
        q = q.where(AuditEntry.member_id == member_id)
    if action:
        q = q.where(AuditEntry.action == action)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    if object_id:
        # object ids are JSON text; a LIKE on the serialised list works on both backends
        from sqlalchemy import String, cast
        q = q.where(cast(AuditEntry.object_ids, String).contains(f'"{object_id}"', autoescape=True))
    return list(session.scalars(q.order_by(AuditEntry.id).limit(limit)))
