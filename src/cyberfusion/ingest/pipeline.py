"""parse → validate → normalise → store, in the caller's transaction.

A contribution is stored whole or not at all: the parsers raise on the first bad
object (nothing has been committed yet, the caller rolls back), and the caller
commits once. Importing the same file twice is recognised by its digest; an object
version the organisation already holds is not stored again.
"""

from __future__ import annotations

import gc
import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, Problem
from cyberfusion.fusion import correlate
from cyberfusion.ingest.formats import FORMATS, parse  # noqa: F401 - FORMATS re-exported
from cyberfusion.ingest.limits import NUL_PROBLEM
from cyberfusion.ingest.rows import (OBJECT_COLUMNS, OBJECT_CONTEXT, OBSERVABLE_COLUMNS, OBSERVABLE_CONTEXT,
                                     Prepared, prepare, sqlite_text)
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.intel import repository, retention, search_index
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.gcutil import IMPORT_GC_THRESHOLD, older_objects_frozen
from cyberfusion.products import country_index
from cyberfusion.sharing.handling import HandlingSpec, handling_row
from cyberfusion.sharing.markings import TLP_LEVELS, tlp_from_markings
from cyberfusion.sharing.viewer import Viewer

BATCH = 2000
# Objects parsed and validated before an import takes the ingest lock (on SQLite the database's
# one write lock, which every other writer then waits for): a file of up to this many objects is
# read and checked whole first, so the lock covers only its writes; a larger one streams the rest
# under the lock. Held in memory meanwhile: about 30 MB of parsed objects at most.
PARSE_AHEAD = 10_000
# Files of at least this many bytes are read by the ingest worker, a second process, while this
# one writes (ingest.worker; setting CFC_INGEST_WORKER=false turns it off). Below it, starting a
# Python process (~0.1 s of wall time before its first rows) would cost more than it saves.
PARALLEL_MIN_BYTES = 4 << 20


@dataclass
class ImportResult:
    contribution_id: str | None
    created: bool
    objects: int = 0
    skipped_versions: int = 0
    observables: int = 0
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    superseded: list[str] = field(default_factory=list)  # out-of-force contributions it replaced

    def as_dict(self) -> dict[str, Any]:
        return {"contribution_id": self.contribution_id, "created": self.created, "objects": self.objects,
                "skipped_versions": self.skipped_versions, "observables": self.observables,
                "superseded": self.superseded, "dry_run": self.dry_run,
                "errors": [p.as_dict() for p in self.problems]}


def file_digest(path: Path) -> str:
    """SHA-256 of a file, or of a feed directory's files (names and contents, in name order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# MISP distribution levels -> how the object's handling tightens (documented in docs/ingest.md).
_DISTRIBUTION_TLP = {0: "red", 4: "amber+strict"}


def _object_spec(base: HandlingSpec, item: ParsedItem, owner_id: int) -> HandlingSpec:
    """Per-object override: the object's own TLP marking or the source format's hints."""
    tlp = None
    level = tlp_from_markings(item.obj.get("object_marking_refs"))
    if level is not None:
        tlp = TLP_LEVELS[level]
    if item.handling.get("tlp"):
        tlp = item.handling["tlp"]
    dist = item.handling.get("distribution")
    if dist in _DISTRIBUTION_TLP:
        stricter = _DISTRIBUTION_TLP[dist]
        if tlp is None or TLP_LEVELS.index(stricter) > TLP_LEVELS.index(tlp):
            tlp = stricter
    if tlp is None or tlp == base.tlp:
        return base
    recipients = base.recipients or ((owner_id,) if tlp == "red" else ())
    return replace(base, tlp=tlp, recipients=recipients)


class Importer:
    """Stores one contribution's parsed items in batches."""

    def __init__(self, session: Session, *, viewer: Viewer, contribution: Contribution,
                 spec: HandlingSpec, now: datetime, sqlite_rows: bool = False) -> None:
        self.session, self.viewer, self.contribution, self.spec, self.now = session, viewer, contribution, spec, now
        self.sqlite_rows = sqlite_rows  # the rows' values are SQLite's already (rows.prepare for SQLite)
        self.handling_ids: dict[HandlingSpec, int] = {spec: contribution.handling_id}
        # What decides an object's handling (_object_spec) -> its handling row: the spec is then
        # worked out once per distinct marking, not per object.
        self.by_marking: dict[tuple[Any, Any, Any], int] = {}
        self.pending: list[tuple[Prepared, int]] = []
        self.result = ImportResult(contribution.id, True)

    def _handling_id(self, row: Prepared) -> int:
        refs = row.refs
        hints = row.hints
        key = (tuple(refs) if type(refs) is list else refs, hints.get("tlp"), hints.get("distribution"))
        try:
            return self.by_marking[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable marking ref (rejected by validation) or hint: no memo
            key = None
        spec = _object_spec(self.spec, row.item(), self.viewer.org_id)
        hid = self.handling_ids.get(spec)
        if hid is None:
            hid = self.handling_ids[spec] = handling_row(self.session, spec.validated()).id
        if key is not None:
            self.by_marking[key] = hid
        return hid

    def add(self, row: Prepared) -> None:
        self.pending.append((row, self._handling_id(row)))
        if len(self.pending) >= BATCH:
            self.flush()

    def _held(self, keys: list[tuple[str, datetime]]) -> set[tuple[str, datetime]]:
        """The versions the organisation holds in force. A version held only by a contribution past
        its retention (invisible to every read, waiting for its grace period to end) does not block
        contributing it again: that contribution is deleted now, as retention would have done, so
        that the version (unique per owner) can be stored in this one."""
        held = repository.existing_versions(self.session, org_id=self.viewer.org_id, keys=keys, now=self.now)
        mine = self.contribution.id
        out_of_force = sorted({cid for cid, in_force in held.values() if not in_force and cid != mine})
        if not out_of_force:
            return set(held)
        for cid in out_of_force:
            old = repository.contribution(self.session, cid)
            retention.delete(self.session, contribution=old, now=self.now, superseded_by=mine)
            self.result.superseded.append(cid)
        return {k for k, (cid, _in_force) in held.items() if cid not in out_of_force}

    def flush(self) -> None:
        if not self.pending:
            return
        held = self._held([(row.stix_id, row.modified) for row, _hid in self.pending])
        if self.sqlite_rows and held:  # version keys as the rows hold them (SQLite text)
            held = {(stix_id, sqlite_text(modified)) for stix_id, modified in held}
        if self.sqlite_rows:
            self._flush_converted(held)
            return
        objects: list[tuple[Any, ...]] = []
        observables: list[tuple[Any, ...]] = []
        cid, org_id, now = self.contribution.id, self.viewer.org_id, self.now  # ORM reads cost: once
        for row, hid in self._to_store(held):
            objects.append((*row.row, cid, org_id, hid, now))
            context = (cid, org_id, hid)
            observables.extend((*o, *context) for o in row.observables)
        repository.insert_objects(self.session, objects, columns=_OBJECT_ROW)
        repository.insert_observables(self.session, observables, columns=_OBSERVABLE_ROW)
        self.result.objects += len(objects)
        self.result.observables += len(observables)
        self.pending.clear()

    def _to_store(self, held: set[tuple[str, Any]]) -> Iterator[tuple[Prepared, int]]:
        """The pending rows to store, in order, with their handling ids: a version already held, or
        repeated within the batch, is counted as skipped; a row holding U+0000 fails the import
        (PostgreSQL text cannot hold it; refused on SQLite too: one behaviour)."""
        seen: set[tuple[str, Any]] = set()
        for row, hid in self.pending:
            key = (row.stix_id, row.modified)
            if key in held or key in seen:
                self.result.skipped_versions += 1
                continue
            seen.add(key)
            if row.nul:
                raise InvalidInput(Problem(NUL_PROBLEM, file=self.contribution.file_name, location=row.location))
            yield row, hid

    def _flush_converted(self, held: set[tuple[str, Any]]) -> None:
        """flush for rows whose values are SQLite's already (the ingest worker's, on SQLite): the
        same rows, decisions and order, gathered as flat value lists for the bulk insert
        (repository.insert_converted) instead of a tuple per row (tests/ingest/test_worker.py
        compares the stored rows with the in-process path's)."""
        objects: list[Any] = []
        observables: list[Any] = []
        cid, org_id, now = self.contribution.id, self.viewer.org_id, sqlite_text(self.now)
        count = found = 0
        for row, hid in self._to_store(held):
            objects += row.row
            objects += (cid, org_id, hid, now)
            count += 1
            if row.observables:
                context = (cid, org_id, hid)
                for o in row.observables:
                    observables += o
                    observables += context
                found += len(row.observables)
        repository.insert_converted(self.session, objects=objects, object_columns=_OBJECT_ROW,
                                    observables=observables, observable_columns=_OBSERVABLE_ROW)
        self.result.objects += count
        self.result.observables += found
        self.pending.clear()


_OBJECT_ROW = OBJECT_COLUMNS + OBJECT_CONTEXT
_OBSERVABLE_ROW = OBSERVABLE_COLUMNS + OBSERVABLE_CONTEXT


def _prepared(items: Iterator[ParsedItem]) -> Iterator[Prepared]:
    """Each item's rows, worked out as soon as it is parsed: the parser has just validated its
    pattern, so the pattern's normalised values are still in kit's memo (bounded: with PARSE_AHEAD
    objects between parsing and storing, most would have been normalised twice)."""
    return map(prepare, items)


def import_file(session: Session, *, viewer: Viewer, path: Path, fmt: str, spec: HandlingSpec,
                file_name: str | None = None, source_format: str | None = None,
                mapping: dict[str, str] | None = None, dry_run: bool = False,
                progress: Callable[[int], None] | None = None, now: datetime | None = None) -> ImportResult:
    """Import one file as one contribution of the viewer's organisation."""
    if not viewer.may_contribute:
        raise Forbidden("your organisation may not contribute (vetting or agreement not in force)")
    if not viewer.has_role("contributor", "analyst"):
        raise Forbidden("contributing needs the contributor or analyst role")
    spec = spec.validated()
    if (spec.category and viewer.contribute_categories is not None
            and spec.category not in viewer.contribute_categories):
        raise Forbidden(f"your agreement does not cover contributing {spec.category!r} intelligence")
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    file_name = file_name or path.name
    now = now or utcnow()
    if dry_run:
        problems: list[Problem] = []
        count = 0
        for count, _item in enumerate(parse(fmt, path, file_name=file_name, errors=problems, mapping=mapping,
                                            default_time=now), 1):
            if progress:
                progress(count)
        return ImportResult(None, False, objects=count, problems=problems, dry_run=True)

    # An import allocates millions of containers and keeps some (memo caches, batches), which sets
    # off full collections; each walked the whole process heap (~90 ms each, 3-4 per 20,000
    # indicators: 12-15% of import CPU, benchmarks/ingest.py) until the older heap was set aside.
    with older_objects_frozen(), _fewer_young_collections(), repository.import_page_cache(session):
        return _import(session, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name,
                       source_format=source_format, mapping=mapping, progress=progress, now=now)


@contextmanager
def _fewer_young_collections() -> Iterator[None]:
    """Raise the collector's first threshold to IMPORT_GC_THRESHOLD while the import runs. The
    setting is process-wide: it is put back only if it is still the one set here (another import
    in a thread may have started and ended meanwhile), and never lowered."""
    before = gc.get_threshold()
    if before[0] >= IMPORT_GC_THRESHOLD:
        yield
        return
    mine = (IMPORT_GC_THRESHOLD, *before[1:])
    gc.set_threshold(*mine)
    try:
        yield
    finally:
        if gc.get_threshold() == mine:
            gc.set_threshold(*before)


def _import(session: Session, *, viewer: Viewer, path: Path, fmt: str, spec: HandlingSpec, file_name: str,
            source_format: str | None, mapping: dict[str, str] | None,
            progress: Callable[[int], None] | None, now: datetime) -> ImportResult:
    digest = file_digest(path)
    # The same file again is answered before anything is parsed (and again, exactly, under the lock).
    existing = repository.contribution_by_digest(session, org_id=viewer.org_id, digest=digest, now=now)
    if existing is not None:
        return ImportResult(existing.id, False, objects=existing.object_count)
    sqlite = session.get_bind().dialect.name == "sqlite"
    with _rows_of(fmt, path, file_name=file_name, mapping=mapping, now=now, sqlite=sqlite) as (rows, sqlite_rows):
        return _store(session, viewer=viewer, rows=rows, fmt=fmt, spec=spec, file_name=file_name,
                      digest=digest, source_format=source_format, progress=progress, now=now,
                      sqlite_rows=sqlite_rows)


@contextmanager
def _rows_of(fmt: str, path: Path, *, file_name: str, mapping: dict[str, str] | None, now: datetime,
             sqlite: bool) -> Iterator[tuple[Iterator[Prepared], bool]]:
    """The file's Prepared rows in file order, and whether their values are SQLite's already: from
    the ingest worker for a large file (settings permitting; on SQLite it sends them converted,
    rows.prepare), else parsed here. The worker is stopped on every way
    out of the import."""
    if not _parallel(path):
        yield _prepared(parse(fmt, path, file_name=file_name, errors=None, mapping=mapping,
                              default_time=now)), False
        return

    def here() -> Iterator[Prepared]:  # the worker's fallback: rows of the same form
        memo: dict[Any, str] | None = {} if sqlite else None
        return (prepare(item, memo) for item in parse(fmt, path, file_name=file_name, errors=None,
                                                      mapping=mapping, default_time=now))

    from cyberfusion.ingest.worker import Worker
    worker = Worker(fmt=fmt, path=path, file_name=file_name, mapping=mapping, default_time=now, fallback=here,
                    sqlite_rows=sqlite)
    try:
        yield iter(worker), sqlite
    finally:
        worker.close()


def _parallel(path: Path) -> bool:
    from cyberfusion.config import get_settings
    if not get_settings().ingest_worker:
        return False
    try:
        size = (sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir()
                else path.stat().st_size)
    except OSError:
        return False
    return size >= PARALLEL_MIN_BYTES


def _store(session: Session, *, viewer: Viewer, rows: Iterator[Prepared], fmt: str, spec: HandlingSpec,
           file_name: str, digest: str, source_format: str | None, progress: Callable[[int], None] | None,
           now: datetime, sqlite_rows: bool) -> ImportResult:
    ahead = list(islice(rows, PARSE_AHEAD))  # a bad object raises here: no lock taken, nothing written
    repository.lock_ingest(session)  # one import at a time until commit: exact "same file" check,
    existing = repository.contribution_by_digest(session, org_id=viewer.org_id, digest=digest, now=now)
    if existing is not None:
        return ImportResult(existing.id, False, objects=existing.object_count)
    added = repository.ingest_clock(session, now)  # and date_added in commit order (added_after pollers)

    contribution = Contribution(
        id=str(uuid.uuid4()), organisation_id=viewer.org_id, member_id=viewer.member_id,
        secondment_id=viewer.secondment_id, created_at=now, source_format=source_format or fmt,
        file_name=file_name[:500], digest=digest, object_count=0, category=spec.category,
        handling_id=handling_row(session, spec).id,
        review_at=spec.review_at or now + timedelta(days=365 * 5), expires_at=spec.expires_at)
    repository.add(session, contribution)
    importer = Importer(session, viewer=viewer, contribution=contribution, spec=spec, now=added,
                        sqlite_rows=sqlite_rows)
    for count, row in enumerate(chain(ahead, rows), 1):
        importer.add(row)
        if progress and count % 1000 == 0:
            progress(count)
    importer.flush()
    if importer.result.objects == 0 and importer.result.skipped_versions == 0:
        raise InvalidInput(Problem(reason="contains no STIX objects", file=file_name))
    contribution.object_count = importer.result.objects
    session.flush()
    correlate.after_import(session, contribution=contribution, viewer=viewer, now=now)
    country_index.after_import(session, contribution=contribution, viewer=viewer, now=now)
    search_index.after_import(session)
    audit.record(session, action="contribution.create", viewer=viewer,
                 object_ids=[contribution.id],
                 detail={"file": file_name, "format": fmt, "digest": digest, "objects": importer.result.objects,
                         "skipped_versions": importer.result.skipped_versions,
                         "superseded": importer.result.superseded,
                         "observables": importer.result.observables, "tlp": spec.tlp})
    # Automatic analyzer runs, queued as a job in this transaction. Imported here because the
    # analyzers store their results through this module.
    from cyberfusion.analyzers.service import analyze_contribution
    analyze_contribution(session, contribution.id, viewer=viewer)
    return importer.result
