"""Backups of the embedded SQLite store with SQLite's online backup API.

A backup is consistent while the server keeps writing (the API copies pages under
the database's own locking); a restore refuses to overwrite a database with a schema
newer than the backup's and checks the copy's integrity before it replaces anything.
PostgreSQL deployments use pg_dump/pg_restore (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from cyberfusion.errors import ConfigurationError, InvalidInput


@dataclass(frozen=True)
class BackupInfo:
    path: str
    bytes: int
    integrity: str
    tables: int


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise ConfigurationError("cfc backup/restore work on the embedded SQLite database; "
                                 "for PostgreSQL use pg_dump and pg_restore (see docs/operations.md)")
    return Path(parsed.database)


def _check(path: Path) -> BackupInfo:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"not a SQLite database: {exc}", field="file") from None
    finally:
        conn.close()
    return BackupInfo(str(path), path.stat().st_size, integrity, tables)


def backup(url: str, target: Path) -> BackupInfo:
    source = sqlite_path(url)
    if not source.exists():
        raise ConfigurationError(f"no database at {source}")
    if target.exists():
        raise InvalidInput(f"{target} exists; choose a new file", field="output")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=4096)
        dst.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)
    info = _check(target)
    if info.integrity != "ok":
        raise ConfigurationError(f"backup failed its integrity check: {info.integrity}")
    return info


def restore(url: str, backup_file: Path) -> BackupInfo:
    if not backup_file.exists():
        raise InvalidInput(f"no such file: {backup_file}", field="file")
    info = _check(backup_file)
    if info.integrity != "ok":
        raise InvalidInput(f"backup is damaged: {info.integrity}", field="file")
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # replaces the live database's pages atomically under its lock
    finally:
        dst.close()
        src.close()
    return _check(target)
