"""parse → validate → normalise → store, in the caller's transaction.

A contribution is stored whole or not at all: the parsers raise on the first bad
object (nothing has been committed yet, the caller rolls back), and the caller
commits once. Importing the same file twice is recognised by its digest; an object
version the organisation already holds is not stored again.
"""

from __future__ import annotations

import gc
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, Problem
from cyberfusion.fusion import correlate
from cyberfusion.ingest.limits import NUL_PROBLEM, contains_nul
from cyberfusion.ingest.observables import observables_of
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.intel import repository, retention
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.observables import ip_range
from cyberfusion.kit.timeutil import parse_ts
from cyberfusion.products import country_index
from cyberfusion.sharing.handling import HandlingSpec, handling_row
from cyberfusion.sharing.markings import TLP_LEVELS, tlp_from_markings
from cyberfusion.sharing.viewer import Viewer

FORMATS = ("stix", "misp", "misp-feed", "csv", "text")
BATCH = 2000
SCO_VERSION = datetime(1970, 1, 1, tzinfo=UTC)
_IP_KINDS = frozenset({"ipv4-addr", "ipv6-addr"})


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


def parse(fmt: str, path: Path, *, file_name: str, errors: list[Problem] | None,
          mapping: dict[str, str] | None = None, default_time: datetime | None = None) -> Iterator[ParsedItem]:
    if fmt == "stix":
        from cyberfusion.ingest.stix import iter_stix
        return iter_stix(path, file_name=file_name, errors=errors)
    if fmt == "misp":
        from cyberfusion.ingest.misp import iter_misp
        return iter_misp(path, file_name=file_name, errors=errors)
    if fmt == "misp-feed":
        from cyberfusion.ingest.misp import iter_misp_feed
        return iter_misp_feed(path, errors=errors)
    if fmt == "csv":
        from cyberfusion.ingest.tabular import iter_csv
        return iter_csv(path, file_name=file_name, mapping=mapping, errors=errors, default_time=default_time)
    if fmt == "text":
        from cyberfusion.ingest.text import iter_text
        return iter_text(path, file_name=file_name, errors=errors, default_time=default_time)
    raise InvalidInput(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}", field="format")


def _canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ts(obj: dict[str, Any], key: str) -> datetime | None:
    v = obj.get(key)
    return parse_ts(v) if isinstance(v, str) else None


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
                 spec: HandlingSpec, now: datetime) -> None:
        self.session, self.viewer, self.contribution, self.spec, self.now = session, viewer, contribution, spec, now
        self.handling_ids: dict[HandlingSpec, int] = {spec: contribution.handling_id}
        self.pending: list[tuple[ParsedItem, int]] = []
        self.result = ImportResult(contribution.id, True)

    def _handling_id(self, item: ParsedItem) -> int:
        spec = _object_spec(self.spec, item, self.viewer.org_id)
        hid = self.handling_ids.get(spec)
        if hid is None:
            hid = self.handling_ids[spec] = handling_row(self.session, spec.validated()).id
        return hid

    def add(self, item: ParsedItem) -> None:
        self.pending.append((item, self._handling_id(item)))
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
        org_id = self.viewer.org_id
        keyed = []
        for item, hid in self.pending:
            obj = item.obj
            # SCOs have no timestamps: one fixed version, so the same SCO is stored once per owner.
            modified = _ts(obj, "modified") or _ts(obj, "created") or SCO_VERSION
            keyed.append((obj["id"], modified, item, hid))
        held = self._held([(k[0], k[1]) for k in keyed])
        objects: list[dict[str, Any]] = []
        observables: list[dict[str, Any]] = []
        seen: set[tuple[str, datetime]] = set()
        cid, now = self.contribution.id, self.now  # ORM attribute reads cost per row: read once
        for stix_id, modified, item, hid in keyed:
            if (stix_id, modified) in held or (stix_id, modified) in seen:
                self.result.skipped_versions += 1
                continue
            seen.add((stix_id, modified))
            obj = item.obj
            get = obj.get
            data = _canonical(obj)
            if "\\u0000" in data and contains_nul(obj):  # PostgreSQL text cannot hold U+0000
                raise InvalidInput(Problem(NUL_PROBLEM, file=self.contribution.file_name, location=item.location))
            otype = obj["type"]
            name = get("name")
            name = name if isinstance(name, str) else None  # "" stays ""
            search = " ".join([x for x in (name, _text(get("description")), _text(get("value")),
                                           _text(get("pattern"))) if x]).lower()[:4000] or None
            source_ref = get("source_ref") or get("sighting_of_ref")
            target_ref = get("target_ref")
            confidence = get("confidence")
            created = _ts(obj, "created")
            valid_from = _ts(obj, "valid_from")
            objects.append({
                "stix_id": stix_id, "type": otype, "spec_version": get("spec_version", "2.1"),
                "created": created, "modified": modified,
                "created_by_ref": get("created_by_ref"), "revoked": bool(get("revoked", False)),
                "valid_from": valid_from, "valid_until": _ts(obj, "valid_until"),
                "confidence": confidence if isinstance(confidence, int) else None,
                "labels": get("labels"), "name": name, "search_text": search,
                "source_ref": source_ref if isinstance(source_ref, str) else None,
                "target_ref": target_ref if isinstance(target_ref, str) else None,
                "data": data, "contribution_id": cid, "organisation_id": org_id,
                "handling_id": hid, "date_added": now,
            })
            seen_at = valid_from or _ts(obj, "first_observed") or created or modified
            for kind, val in observables_of(obj):
                start = end = None
                if kind in _IP_KINDS:
                    start, end = ip_range(val)
                observables.append({
                    "kind": kind, "value": val, "range_start": start, "range_end": end, "stix_id": stix_id,
                    "object_type": otype, "contribution_id": cid, "organisation_id": org_id,
                    "handling_id": hid, "seen_at": seen_at,
                })
        repository.insert_objects(self.session, objects)
        repository.insert_observables(self.session, observables)
        self.result.objects += len(objects)
        self.result.observables += len(observables)
        self.pending.clear()


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

    with _older_objects_frozen(), repository.import_page_cache(session):
        return _import(session, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name,
                       source_format=source_format, mapping=mapping, progress=progress, now=now)


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the cyclic collector's full passes off the objects that existed before the import.

    An import allocates millions of containers and keeps some (memo caches, batches), which sets
    off full collections; each walked the whole process heap (~90 ms each, 3-4 per 20,000
    indicators: 12-15% of import CPU, benchmarks/ingest.py). gc.freeze() sets the existing heap
    aside (O(1)), so those passes walk only what the import made; young collections still run,
    so memory stays bounded. Left alone when something froze the heap already (a pre-fork server,
    or another import in this process), since unfreeze() would undo theirs."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _import(session: Session, *, viewer: Viewer, path: Path, fmt: str, spec: HandlingSpec, file_name: str,
            source_format: str | None, mapping: dict[str, str] | None,
            progress: Callable[[int], None] | None, now: datetime) -> ImportResult:
    digest = file_digest(path)
    existing = repository.contribution_by_digest(session, org_id=viewer.org_id, digest=digest, now=now)
    if existing is not None:  # the same file again: not even parsed
        return ImportResult(existing.id, False, objects=existing.object_count)
    # The first batch (all of a file of up to BATCH objects: most API uploads) is parsed and
    # validated before the write lock is taken, so the lock is held for the writes (a
    # 100-indicator upload held SQLite's one write lock ~15% shorter; docs/operations.md).
    items = parse(fmt, path, file_name=file_name, errors=None, mapping=mapping, default_time=now)
    first = list(islice(items, BATCH))
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
    importer = Importer(session, viewer=viewer, contribution=contribution, spec=spec, now=added)
    for count, item in enumerate(chain(first, items), 1):
        importer.add(item)
        if progress and count % 1000 == 0:
            progress(count)
    importer.flush()
    if importer.result.objects == 0 and importer.result.skipped_versions == 0:
        raise InvalidInput(Problem(reason="contains no STIX objects", file=file_name))
    contribution.object_count = importer.result.objects
    session.flush()
    correlate.after_import(session, contribution=contribution, viewer=viewer, now=now)
    country_index.after_import(session, contribution=contribution, viewer=viewer, now=now)
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
