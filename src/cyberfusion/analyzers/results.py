"""From an AnalyzerResult to stored intelligence, and the store as store-reading analyzers see it.

Results are stored as a contribution *of the input's owner*, with the input's handling row,
crime category, review date and expiry: the audience of a result is exactly the audience of
its input, never wider. They go through ``ingest.pipeline.import_file`` like any other
contribution (one transaction with the run, validated, indexed, audited). Object ids are
deterministic and object versions carry the analysis time of the cached result, so the
same analyzer on the same value stores its objects once per owner; a new analysis after
the cache expired is a new version of the same note.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.analyzers import repository
from cyberfusion.analyzers.base import (
    FIXED_TIME,
    Analyzer,
    AnalyzerError,
    AnalyzerResult,
    stable_id,
    subject,
)
from cyberfusion.analyzers.gate import org_viewer
from cyberfusion.config import get_settings
from cyberfusion.db import utcnow
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel import repository as intel_repo
from cyberfusion.intel.models import Contribution, StixObject
from cyberfusion.kit.timeutil import parse_ts
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing.handling import spec_of
from cyberfusion.sharing.markings import CLEAR, TLP2_MARKING_IDS, TLP_LEVELS
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer

SOURCE_FORMAT = "analyzer"


def identity(analyzer: type[Analyzer]) -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": stable_id("identity", "analyzer", analyzer.name),
            "created": FIXED_TIME, "modified": FIXED_TIME, "name": f"{analyzer.name} (analyzer)",
            "identity_class": "system", "description": analyzer.description or analyzer.name}


def note_id(analyzer: type[Analyzer], kind: str, value: str) -> str:
    return stable_id("note", analyzer.name, kind, value)


def build_objects(analyzer: type[Analyzer], *, kind: str, value: str, result: AnalyzerResult,
                  analysed_at: str, tlp: str) -> list[dict[str, Any]]:
    """The result as STIX objects: the analyzer's own, the subject, a note, the analyzer's identity,
    each marked with the input's TLP and carrying the analyzer's name and version."""
    who = identity(analyzer)
    subj = subject(kind, value)
    by_id: dict[str, dict[str, Any]] = {subj["id"]: subj}
    for obj in result.objects:
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str):
            raise AnalyzerError(f"{analyzer.name} returned an object without type and id")
        by_id.setdefault(obj["id"], dict(obj))
    refs = [subj["id"]] + sorted(i for i in by_id if i != subj["id"])
    by_id[note_id(analyzer, kind, value)] = {
        "type": "note", "spec_version": "2.1", "id": note_id(analyzer, kind, value),
        "abstract": f"{analyzer.name} {analyzer.version}: {result.summary}"[:500],
        "content": result.summary + "\n\n" + json.dumps(result.data, sort_keys=True, ensure_ascii=False, default=str),
        "object_refs": refs, "confidence": result.confidence, "x_cfc_analysis": result.data}
    provenance = {"name": analyzer.name, "version": analyzer.version}
    marking = TLP2_MARKING_IDS[tlp]
    out = [who]
    for obj in by_id.values():
        obj = dict(obj)
        obj.setdefault("spec_version", "2.1")
        obj["object_marking_refs"] = [marking]
        obj["x_cfc_analyzer"] = provenance
        if "created" in obj or obj["type"] in ("note", "relationship", "observed-data", "location",
                                               "vulnerability", "opinion", "grouping", "report"):
            obj.setdefault("created", analysed_at)
            obj.setdefault("modified", obj["created"] if obj["created"] == FIXED_TIME else analysed_at)
            obj["created_by_ref"] = who["id"]
            if obj["type"] != "relationship":
                obj.setdefault("confidence", result.confidence)
        out.append(obj)
    out[0] = dict(who, object_marking_refs=[marking], x_cfc_analyzer=provenance)
    return sorted(out, key=lambda o: o["id"])


@dataclass
class Stored:
    contribution_id: str | None
    ids: list[str]


def store(session: Session, *, analyzer: type[Analyzer], kind: str, value: str, result: AnalyzerResult,
          analysed_at: str, contribution: Contribution, handling: Handling, owner: Organisation) -> Stored:
    """Store the result as the input owner's contribution, under the input's handling."""
    objects = build_objects(analyzer, kind=kind, value=value, result=result, analysed_at=analysed_at,
                            tlp=TLP_LEVELS[handling.tlp])
    ids = [o["id"] for o in objects]
    versioned = [(o["id"], parse_ts(o["modified"])) for o in objects if "modified" in o]
    now = utcnow()  # what a contribution past its retention held may be stored again
    held_versions = {k for k, (_cid, in_force) in
                     intel_repo.existing_versions(session, org_id=owner.id, keys=versioned, now=now).items()
                     if in_force}
    held_any = repository.held_ids(session, org_id=owner.id, ids=[o["id"] for o in objects if "modified" not in o],
                                   now=now)
    new = [o for o in objects
           if ((o["id"], parse_ts(o["modified"])) not in held_versions if "modified" in o else o["id"] not in held_any)]
    if not new:
        return Stored(repository.contribution_holding(session, org_id=owner.id,
                                                      stix_id=note_id(analyzer, kind, value), now=now), ids)
    spec = replace(spec_of(handling), category=contribution.category, review_at=contribution.review_at,
                   expires_at=contribution.expires_at)
    viewer = replace(org_viewer(session, owner), member_id=None, may_contribute=True)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(sorted(o['id'] + o.get('modified', '') for o in new)))}",
              "objects": new}
    tmp_dir = get_settings().data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=tmp_dir, suffix=".json", encoding="utf-8") as tmp:
        json.dump(bundle, tmp, sort_keys=True, ensure_ascii=False)
        tmp.flush()
        imported = import_file(session, viewer=viewer, path=Path(tmp.name), fmt="stix", spec=spec,
                               file_name=f"{analyzer.name}-{analyzer.version}.json", source_format=SOURCE_FORMAT,
                               now=now)
    return Stored(imported.contribution_id, ids)


class StoreLinks:
    """The store as store-reading analyzers (CVE links, hash warning lists) may see it: objects
    read as the requester through the policy filter, narrowed to what every reader of the
    stored result may read as well; warning lists are public reference data."""

    def __init__(self, session: Session, *, viewer: Viewer, purpose: str, result_owner: int,
                 result_handling: Handling, result_category: str | None, input_id: str | None = None,
                 limit: int = 50) -> None:
        self.session, self.viewer, self.purpose, self.input_id = session, viewer, purpose, input_id
        self.owner, self.handling, self.category, self.limit = result_owner, result_handling, result_category, limit

    def _shareable(self, row: StixObject, contribution: Contribution, handling: Handling) -> bool:
        """Same owner, rules and category as the result, or open to every partner for its purposes."""
        if (row.organisation_id == self.owner and row.handling_id == self.handling.id
                and contribution.category == self.category):
            return True
        h = handling
        return (h.tlp == CLEAR and not h.recipients and not h.allowed_countries and not h.denied_countries
                and not h.allowed_kinds and not h.le_only and contribution.category is None
                and h.purposes & self.handling.purposes == self.handling.purposes)

    def warninglists(self, kind: str, value: str) -> list[str]:
        """Names of the enabled MISP warning lists holding this value (public reference data)."""
        from cyberfusion.fusion.warninglists import matcher  # fusion imports the ingest path too

        return matcher(self.session).match(kind, value)

    def linked(self, cve: str) -> list[dict[str, Any]]:
        s, v, p = self.session, self.viewer, self.purpose
        direct = intel_repo.search_objects(s, viewer=v, purpose=p, text=cve.lower(), values=[("cve", cve)],
                                           limit=self.limit)
        anchors = [r for r in direct if r.type != "vulnerability" or (r.name or "").upper() == cve]
        found: dict[str, StixObject] = {r.stix_id: r for r in anchors}
        for vuln in (r for r in anchors if r.type == "vulnerability"):
            for rel in intel_repo.relationships_of(s, viewer=v, purpose=p, stix_id=vuln.stix_id, limit=self.limit):
                other = rel.target_ref if rel.source_ref == vuln.stix_id else rel.source_ref
                if other and other not in found:
                    latest = intel_repo.versions(s, viewer=v, purpose=p, stix_id=other)
                    if latest:
                        found[other] = latest[0]
        rows = [r for r in found.values() if r.type not in ("relationship", "sighting") and r.stix_id != self.input_id]
        contributions = {c.id: c for c, _o, _h in intel_repo.contributions_with_owner(s, (r.contribution_id for r in rows))}
        handlings = intel_repo.handlings(s, (r.handling_id for r in rows))
        kept = [r for r in rows if self._shareable(r, contributions[r.contribution_id], handlings[r.handling_id])]
        return [{"id": r.stix_id, "type": r.type, "name": r.name}
                for r in sorted(kept, key=lambda r: (r.type, r.name or "", r.stix_id))][: self.limit]
