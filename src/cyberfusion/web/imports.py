"""Contributions checked (dry run) and stored in the background, with progress the page polls.

A large file takes minutes to check or store: the request that receives it records the import
(``web_imports``), starts the work in a thread of this process and sends the browser to the
import's page, which shows the count so far and then the outcome (problems at their line or
object, or what was stored).

The import itself is one transaction — stored whole or not at all — and the record is written
in short transactions of its own. SQLite has one writer at a time: while a store holds it, the
count so far is kept in this process (an SQLite deployment serves from one process) and written
with the outcome; a check writes nothing else, and with PostgreSQL every update goes to the
record, so any process behind a load balancer shows it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import CyberfusionError, InvalidInput, Problem
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import repository
from cyberfusion.web.models import WebImport

log = logging.getLogger("cyberfusion.web")
HEARTBEAT = 0.5  # seconds between progress writes
STALE = timedelta(minutes=10)  # running, silent this long and not in this process: interrupted
KEEP = timedelta(hours=24)

_LIVE: dict[str, int] = {}  # import id -> items so far, for the imports running in this process
_FINISHED: dict[str, threading.Event] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Status:
    """What the page shows of one import."""

    id: str
    file_name: str
    fmt: str
    stage: str  # check | store
    state: str  # running | done | failed | interrupted
    items: int
    size: int
    form: dict[str, Any]
    outcome: dict[str, Any]
    started_at: datetime

    @property
    def problems(self) -> list[Problem]:
        return [Problem(**p) for p in self.outcome.get("problems", [])]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file_name": self.file_name, "stage": self.stage, "state": self.state,
                "items": self.items, "size": self.size, "problems": len(self.outcome.get("problems", []))}


def status_of(session: Session, *, import_id: str, session_id: str) -> Status | None:
    """The import as its owner's browser sees it (another session's import is not found).

    The live count is read before the row: an import that ends writes its row (done, final count)
    before it leaves _LIVE, so a count gone from _LIVE means the row read next is the final one.
    Read the other way round, a poll between the two could see the row still running with its last
    heartbeat's count, lower than the live count an earlier poll showed (the bar went back)."""
    with _LOCK:
        live = _LIVE.get(import_id)
    row = repository.web_import(session, import_id=import_id, session_id=session_id)
    if row is None:
        return None
    state = row.status
    if state == "running" and live is None and utcnow() - row.updated_at > STALE:
        state = "interrupted"  # the process running it stopped (e.g. the server restarted)
    return Status(id=row.id, file_name=row.file_name, fmt=row.fmt, stage=row.stage, state=state,
                  items=max(row.items, live or 0), size=row.size, form=dict(row.form or {}),
                  outcome=dict(row.outcome or {}), started_at=row.started_at)


def begin(session: Session, *, import_id: str, session_id: str, member_id: int, file_name: str, fmt: str,
          form: dict[str, Any], stage: str, path: Path) -> None:
    """Record an import about to start (new, or the same upload checked again or now stored)."""
    if is_running(import_id):
        raise InvalidInput("this file is already being processed; wait for the result", field="file")
    now = utcnow()
    repository.delete_imports_before(session, cutoff=now - KEEP)
    row = repository.web_import(session, import_id=import_id, session_id=session_id)
    values = {"file_name": file_name[:200], "fmt": fmt, "form": form, "stage": stage, "status": "running",
              "items": 0, "size": path.stat().st_size, "outcome": None, "started_at": now, "updated_at": now}
    if row is None:
        repository.add(session, WebImport(id=import_id, session_id=session_id, member_id=member_id, **values))
    else:
        repository.update_import(session, import_id=import_id, values=values)


def is_running(import_id: str) -> bool:
    with _LOCK:
        return import_id in _LIVE


def start(factory: sessionmaker[Session], *, import_id: str, stage: str, viewer: Viewer, path: Path, fmt: str,
          file_name: str, spec: HandlingSpec) -> threading.Event:
    """Run the recorded import in a thread; the event is set when its outcome is recorded."""
    done = threading.Event()
    with _LOCK:
        _LIVE[import_id] = 0
        _FINISHED[import_id] = done
    threading.Thread(target=_run, name=f"cfc-import-{import_id[:8]}", daemon=True, kwargs={
        "factory": factory, "import_id": import_id, "stage": stage, "viewer": viewer, "path": path, "fmt": fmt,
        "file_name": file_name, "spec": spec}).start()
    return done


class _Progress:
    def __init__(self, factory: sessionmaker[Session], import_id: str, *, write: bool) -> None:
        self.factory, self.import_id, self.write = factory, import_id, write
        self.last = time.monotonic()

    def __call__(self, count: int) -> None:
        with _LOCK:
            _LIVE[self.import_id] = count
        now = time.monotonic()
        if self.write and now - self.last >= HEARTBEAT:
            self.last = now
            with transaction(self.factory) as s:
                repository.update_import(s, import_id=self.import_id, values={"items": count,
                                                                              "updated_at": utcnow()})


def _run(*, factory: sessionmaker[Session], import_id: str, stage: str, viewer: Viewer, path: Path, fmt: str,
         file_name: str, spec: HandlingSpec) -> None:
    sqlite = factory.kw["bind"].dialect.name == "sqlite"
    progress = _Progress(factory, import_id, write=stage == "check" or not sqlite)
    status, outcome = "failed", {}
    try:
        if stage == "check":
            with factory() as s:
                result = import_file(s, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name,
                                     dry_run=True, progress=progress)
                s.rollback()
            status, outcome = "done", {"objects": result.objects, "problems": [p.as_dict() for p in result.problems]}
        else:
            with transaction(factory) as s:
                result = import_file(s, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name,
                                     progress=progress)
            path.unlink(missing_ok=True)
            status, outcome = "done", result.as_dict()
    except InvalidInput as exc:  # the file as a whole is unreadable, or nothing was stored
        status = "done" if stage == "check" else "failed"
        outcome = {"objects": 0, "problems": [p.as_dict() for p in exc.problems]}
    except CyberfusionError as exc:  # e.g. the organisation's agreement lapsed meanwhile
        outcome = {"objects": 0, "problems": [{"reason": exc.detail}]}
    except Exception:  # noqa: BLE001 - recorded for the page; the details go to the log
        log.exception("web import %s (%s) failed", import_id, stage)
        outcome = {"objects": 0, "problems": [{"reason": "an unexpected error occurred; it was logged"}]}
    finally:
        with _LOCK:
            items = _LIVE.get(import_id, 0)
        try:
            with transaction(factory) as s:
                repository.update_import(s, import_id=import_id, values={
                    "status": status, "outcome": outcome, "items": items, "updated_at": utcnow()})
        finally:
            with _LOCK:
                _LIVE.pop(import_id, None)
                event = _FINISHED.pop(import_id, None)
            if event is not None:
                event.set()
