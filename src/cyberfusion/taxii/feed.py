"""Feeds of one collection as a member may read it: a MISP feed directory and a STIX 2.1 bundle.

MISP feed (what MISP's "Feeds" subscribe to, as PyMISP's feed generator writes it):
``manifest.json`` (event uuid → Orgc, Tag, info, date, analysis, threat_level_id,
timestamp), ``hashes.csv`` (``md5(value),event uuid`` per attribute) and one
``<uuid>.json`` per event. One event per contribution: its observables as attributes with
the TLP of their handling as tags; the creator organisation is the source as the
contributor's attribution mode lets the reader see it. The event uuid is derived from the
reader's organisation, the collection and the contribution, so it is stable between
exports (subscribers fetch only what changed, by timestamp) and says nothing to anyone else.
Objects without observables (reports, malware, relationships ...) are only in the STIX feed.

STIX: one bundle with every readable object of the collection, marked with its handling as
the STIX export marks it, plus the marking definitions it references.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.export.formats import MISP_CATEGORY, MISP_TYPES
from cyberfusion.export.stix import write_bundle
from cyberfusion.ingest.observables import observables_of
from cyberfusion.intel import repository as intel_repo
from cyberfusion.partners import repository as partners_repo
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import describe
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.taxii import repository
from cyberfusion.taxii.collections import CollectionDef
from cyberfusion.taxii.repository import Query

FEED_NS = uuid.UUID("5d0e3c52-87a1-4d6e-9f21-3b8c0e7d4a15")
_EVENT_FILE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json$")


def _rows(session: Session, viewer: Viewer, collection: CollectionDef, batch: int = 2000) -> Iterator[Any]:
    """The latest readable version of every object in the collection, in (date_added, pk) order."""
    after = None
    while True:
        rows = repository.page(session, viewer=viewer, purpose=collection.purpose, m=collection.membership,
                               q=Query(), after=after, limit=batch, columns="feed")
        yield from rows
        if len(rows) < batch:
            return
        after = (repository.as_utc(rows[-1][1]), rows[-1][0])


class _Handlings:
    def __init__(self, session: Session) -> None:
        self.session, self.cache = session, {}

    def __call__(self, handling_id: int) -> dict[str, Any]:
        if handling_id not in self.cache:
            self.cache[handling_id] = describe(repository.handling_rows(self.session, [handling_id])[handling_id])
        return self.cache[handling_id]


def write_stix(session: Session, *, viewer: Viewer, collection: CollectionDef, out: TextIO) -> int:
    policy.require_purpose(viewer, collection.purpose)
    handling = _Handlings(session)
    ids: list[str] = []

    def items() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for r in _rows(session, viewer, collection):
            ids.append(r[2])
            yield json.loads(r[4]), handling(r[3])

    count = write_bundle(out, items())
    audit.record(session, action="taxii.feed_export", viewer=viewer, purpose=collection.purpose, object_ids=ids,
                 detail={"collection": collection.alias, "format": "stix", "count": count})
    return count


def _source(session: Session, viewer: Viewer, contribution_id: str, cache: dict[str, tuple[str, datetime]]) -> tuple[str, datetime]:
    if contribution_id not in cache:
        host = partners_repo.host_centre(session)
        host_name = host.name if host else "host centre"
        for contribution, org, h in intel_repo.contributions_with_owner(session, [contribution_id]):
            label = policy.source_label(viewer, owner_id=org.id, owner_name=org.name, owner_kind=org.kind,
                                        owner_sector=org.sector, owner_region=org.region,
                                        attribution=h.attribution, host_centre_name=host_name)
            cache[contribution_id] = (label, contribution.created_at)
    return cache[contribution_id]


def _event(event_uuid: str, source: str, created: datetime, stamp: datetime,
           values: list[tuple[str, str, str, dict[str, Any]]]) -> Any:
    from pymisp import MISPEvent, MISPOrganisation

    event = MISPEvent()
    event.uuid = event_uuid
    event.info = f"cyberfusion intelligence from {source}"
    event.distribution = 0  # the handling tags say who may receive it; MISP must not pass it on
    event.analysis = 2
    event.threat_level_id = 4
    event.date = created.date()
    event.timestamp = stamp
    event.published = True
    org = MISPOrganisation()
    org.name, org.uuid = source, str(uuid.uuid5(FEED_NS, f"org:{source}"))
    event.Orgc = org
    strictest = 0
    seen: set[tuple[str, str]] = set()
    for kind, value, stix_id, handling in values:
        if (kind, value) in seen:
            continue
        seen.add((kind, value))
        strictest = max(strictest, TLP_LEVELS.index(handling["tlp"]))
        attr = event.add_attribute(MISP_TYPES[kind], value, category=MISP_CATEGORY.get(kind, "Network activity"),
                                   to_ids=kind != "cve", comment=stix_id,
                                   uuid=str(uuid.uuid5(FEED_NS, f"{event_uuid}:{kind}:{value}")))
        attr.timestamp = stamp
        attr.add_tag(f"tlp:{handling['tlp']}")
        if handling["no_further_dissemination"]:
            attr.add_tag("cyberfusion:no-further-dissemination")
    event.add_tag(f"tlp:{TLP_LEVELS[strictest]}")
    return event


def write_misp_feed(session: Session, *, viewer: Viewer, collection: CollectionDef, out_dir: Path) -> dict[str, int]:
    """Write (or refresh) a MISP feed directory; event files no longer in the feed are removed."""
    policy.require_purpose(viewer, collection.purpose)
    out_dir.mkdir(parents=True, exist_ok=True)
    handling = _Handlings(session)
    sources: dict[str, tuple[str, datetime]] = {}
    manifest: dict[str, Any] = {}
    hashes: list[str] = []
    ids: list[str] = []
    open_events: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
    current_added: Any = None
    last_stamp: dict[str, datetime] = {}

    def flush() -> None:
        for contribution_id, values in open_events.items():
            if not values:
                continue
            source, created = _source(session, viewer, contribution_id, sources)
            event_uuid = str(uuid.uuid5(FEED_NS, f"{viewer.org_id}:{collection.id}:{contribution_id}"))
            event = _event(event_uuid, source, created, last_stamp[contribution_id], values)
            feed = event.to_feed(with_meta=True)["Event"]
            manifest.update(feed.pop("_manifest"))
            hashes.extend(f"{h},{event_uuid}" for h in feed.pop("_hashes"))
            (out_dir / f"{event_uuid}.json").write_text(json.dumps({"Event": feed}, ensure_ascii=False, indent=1))
        open_events.clear()

    # Rows of one contribution share its date_added: an event is complete when date_added moves on.
    for r in _rows(session, viewer, collection):
        if r[1] != current_added:
            flush()
            current_added = r[1]
        ids.append(r[2])
        h = handling(r[3])
        values = open_events.setdefault(r[5], [])
        last_stamp[r[5]] = repository.as_utc(r[1])
        values.extend((kind, value, r[2], h) for kind, value in observables_of(json.loads(r[4])))
    flush()
    for stale in out_dir.iterdir():
        if _EVENT_FILE.match(stale.name) and stale.name[:-5] not in manifest:
            stale.unlink()
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    (out_dir / "hashes.csv").write_text("".join(f"{h}\n" for h in hashes))
    audit.record(session, action="taxii.feed_export", viewer=viewer, purpose=collection.purpose, object_ids=ids,
                 detail={"collection": collection.alias, "format": "misp-feed", "events": len(manifest),
                         "attributes": len(hashes)})
    return {"events": len(manifest), "attributes": len(hashes), "objects": len(ids)}
