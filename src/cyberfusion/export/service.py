"""Exports of readable intelligence in STIX, MISP, CSV and blocklist form, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.errors import InvalidInput
from cyberfusion.export import formats
from cyberfusion.export.stix import write_bundle
from cyberfusion.ingest.observables import observables_of
from cyberfusion.intel import repository
from cyberfusion.kit.observables import KINDS
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import describe
from cyberfusion.sharing.viewer import Viewer

EXPORT_FORMATS = ("stix", "misp", "csv", "blocklist")


def _objects(session: Session, viewer: Viewer, purpose: str, **filters: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    cache: dict[int, dict[str, Any]] = {}
    for row in repository.iter_readable_objects(session, viewer=viewer, purpose=purpose, **filters):
        if row.handling_id not in cache:
            cache.update({k: describe(h) for k, h in repository.handlings(session, [row.handling_id]).items()})
        yield json.loads(row.data), cache[row.handling_id], row.stix_id


def export(session: Session, *, viewer: Viewer, purpose: str, fmt: str, out: TextIO,
           kinds: list[str] | None = None, types: list[str] | None = None,
           contribution_id: str | None = None, since: datetime | None = None) -> int:
    """Write the export to ``out``; returns how many objects/values were written."""
    policy.require_purpose(viewer, purpose)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; one of: {', '.join(EXPORT_FORMATS)}", field="format")
    for k in kinds or ():
        if k not in KINDS:
            raise InvalidInput(f"unknown observable kind {k!r}; one of: {', '.join(KINDS)}", field="kinds")
    filters: dict[str, Any] = {"contribution_id": contribution_id, "types": types or (), "since": since}
    exported_ids: list[str] = []

    def tracked() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for obj, handling, stix_id in _objects(session, viewer, purpose, **filters):
            exported_ids.append(stix_id)
            yield obj, handling

    def value_rows() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        for obj, handling in tracked():
            for kind, value in observables_of(obj):
                if not kinds or kind in kinds:
                    yield kind, value, obj["id"], handling

    if fmt == "stix":
        count = write_bundle(out, tracked())
    elif fmt == "csv":
        count = formats.write_csv(out, value_rows())
    elif fmt == "misp":
        out.write(formats.misp_event(value_rows(), info=f"cyberfusion export for {viewer.org_name}",
                                     org_name=viewer.org_name))
        count = len(exported_ids)
    else:
        wanted = [k for k in (kinds or formats.BLOCKLIST_KINDS) if k in formats.BLOCKLIST_KINDS]
        values = (v for k, v in repository.readable_observables(session, viewer=viewer, purpose=purpose,
                                                                 kinds=wanted))
        count = formats.write_blocklist(out, values)
    audit.record(session, action="intel.export", viewer=viewer, purpose=purpose, object_ids=exported_ids,
                 detail={"format": fmt, "count": count, "kinds": kinds, "types": types,
                         "contribution_id": contribution_id})
    return count
