"""The review queue: every AI output is a suggestion a person accepts or rejects.

Suggestions are visible only inside the organisation that asked for them. Accepting turns
them into intelligence through the one ingest path (``ingest.pipeline.import_file``),
contributed by the reviewer, each object carrying its AI provenance; rejecting records the
decision. Every run and every decision is audited with the model versions involved.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.ai import classify, entities, extract, repository
from cyberfusion.ai.documents import Document
from cyberfusion.ai.models import AiSuggestion
from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, InvalidInput, NotFound
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel import repository as intel_repo
from cyberfusion.kit.observables import to_pattern
from cyberfusion.partners.service import require_role
from cyberfusion.sharing.handling import HandlingSpec, spec_of
from cyberfusion.sharing.viewer import Viewer

DECISIONS = ("accept", "reject")
STATUSES = ("pending", "accepted", "rejected")
_ROLES = ("analyst", "contributor")


def analyse(session: Session, *, viewer: Viewer, document: Document | None = None, stix_id: str | None = None,
            with_entities: bool = True) -> dict[str, Any]:
    """Run extraction, classification and entity matching; queue every output for review."""
    require_role(viewer, *_ROLES)
    source_pk = None
    if stix_id:
        rows = repository.ai_inputs(session, viewer=viewer, types=_TEXT_TYPES, stix_ids=[stix_id], limit=1)
        if not rows:
            raise NotFound(f"no document {stix_id} that may be processed by AI")
        obj = json.loads(rows[0].data)
        from cyberfusion.ai.similar import text_of
        text = text_of(obj)
        document = Document(stix_id, "stix", hashlib.sha256(text.encode()).hexdigest(), text)
        source_pk = rows[0].pk
    if document is None or not document.text.strip():
        raise InvalidInput("the document has no text", field="file")
    run_id = str(uuid.uuid4())
    now = utcnow()

    def suggestion(capability: str, kind: str, value: str, confidence: float, reason: str,
                   positions: Any, model_id: str, version: str) -> AiSuggestion:
        return AiSuggestion(run_id=run_id, organisation_id=viewer.org_id, requested_by=viewer.member_id,
                            created_at=now, source_name=document.name[:500], source_sha256=document.sha256,
                            source_object_pk=source_pk, capability=capability, kind=kind, value=value,
                            confidence=round(confidence, 3), reason=reason, positions=positions, model_id=model_id,
                            model_version=version, status="pending")

    rows_out = []
    for kind, items in extract.extract(document.text).by_kind().items():
        for item in items:
            rows_out.append(suggestion("observable", kind, item["value"], item["confidence"], item["reason"],
                                       item["positions"][:20], extract.MODEL_ID, extract.VERSION))
    crime = classify.classify(document.text)
    rows_out.append(suggestion("crime_type", "crime_type", crime.label, crime.confidence, crime.reason,
                               {"words": crime.as_dict()["words"], "passages": crime.passages},
                               classify.MODEL_ID, classify.VERSION))
    if with_entities:
        for match in entities.suggest(session, viewer=viewer, text=document.text):
            rows_out.append(suggestion("entity", match.type, match.stix_id, match.confidence, match.reason,
                                       [{"start": match.start, "end": match.end, "raw": match.matched}],
                                       entities.MODEL_ID, entities.VERSION))
    repository.add_all(session, rows_out)
    audit.record(session, action="ai.analyse", viewer=viewer, purpose=repository.AI_PURPOSE,
                 object_ids=[stix_id] if stix_id else [],
                 detail={"run_id": run_id, "input": {"name": document.name, "sha256": document.sha256,
                                                     "format": document.format, "stix_id": stix_id},
                         "models": {extract.MODEL_ID: extract.VERSION, classify.MODEL_ID: classify.VERSION,
                                    entities.MODEL_ID: entities.VERSION},
                         "output": [[s.id, s.kind, s.value, s.confidence] for s in rows_out]})
    return {"run_id": run_id, "source": document.source(), "suggestions": [as_dict(s) for s in rows_out]}


_TEXT_TYPES = ("report", "note", "incident", "grouping", "opinion")


def as_dict(s: AiSuggestion) -> dict[str, Any]:
    return {"id": s.id, "run_id": s.run_id, "capability": s.capability, "kind": s.kind, "value": s.value,
            "confidence": s.confidence, "reason": s.reason, "positions": s.positions,
            "model": {"id": s.model_id, "version": s.model_version}, "status": s.status,
            "source": {"name": s.source_name, "sha256": s.source_sha256}, "created_at": s.created_at,
            "decided_by": s.decided_by, "decided_at": s.decided_at, "decision_note": s.decision_note,
            "contribution_id": s.contribution_id}


def queue(session: Session, *, viewer: Viewer, status: str | None = "pending", run_id: str | None = None,
          after_id: int = 0, limit: int = 200, purpose: str = repository.AI_PURPOSE) -> list[dict[str, Any]]:
    """Suggestions of the viewer's organisation that the viewer may read for ``purpose``; other
    organisations' AI output is never listed. Every read is audited like a read of intelligence."""
    require_role(viewer, *_ROLES)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"{status!r} is not one of: {', '.join(STATUSES)}", field="status")
    if not 1 <= limit <= 1000:
        raise InvalidInput("must be between 1 and 1000", field="limit")
    rows = repository.suggestions(session, viewer=viewer, purpose=purpose, status=status, run_id=run_id,
                                  after_id=after_id, limit=limit)
    audit.record(session, action="ai.review.read", viewer=viewer, purpose=purpose,
                 object_ids=sorted({s.source_name for s in rows if s.source_object_pk is not None}),
                 detail={"status": status, "run_id": run_id, "after_id": after_id,
                         "suggestions": [s.id for s in rows]})
    return [as_dict(s) for s in rows]


def _provenance(s: AiSuggestion, viewer: Viewer, now: Any) -> dict[str, Any]:
    return {"suggestion_id": s.id, "run_id": s.run_id, "model": s.model_id, "model_version": s.model_version,
            "confidence": s.confidence, "reason": s.reason, "source_sha256": s.source_sha256,
            "reviewed_by": viewer.email, "reviewed_at": now.isoformat().replace("+00:00", "Z")}


def _bundle(chosen: list[AiSuggestion], viewer: Viewer, now: Any) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    objects: list[dict[str, Any]] = []
    refs: list[str] = []
    labels: list[str] = []
    for s in chosen:
        if s.capability == "observable":
            obj = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                   "created": stamp, "modified": stamp, "name": f"{s.kind} {s.value}",
                   "pattern": to_pattern(s.kind, s.value), "pattern_type": "stix", "valid_from": stamp,
                   "confidence": int(round(s.confidence * 100)), "labels": ["ai-assisted"],
                   "x_cfc_ai_provenance": _provenance(s, viewer, now)}
            objects.append(obj)
            refs.append(obj["id"])
        elif s.capability == "entity":
            refs.append(s.value)
        else:
            labels.append(s.value)
    source = chosen[0].source_name
    report = {"type": "report", "spec_version": "2.1", "id": f"report--{uuid.uuid4()}", "created": stamp,
              "modified": stamp, "published": stamp, "name": f"AI-assisted analysis of {source}"[:250],
              "report_types": ["threat-report"], "labels": ["ai-assisted", *labels],
              "object_refs": refs or [objects[0]["id"]] if refs or objects else [],
              "x_cfc_ai_provenance": {"run_id": chosen[0].run_id, "suggestion_ids": [s.id for s in chosen],
                                      "reviewed_by": viewer.email}}
    if report["object_refs"]:
        objects.append(report)
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}


def decide(session: Session, *, viewer: Viewer, ids: list[int], decision: str, note: str | None = None,
           spec: HandlingSpec | None = None) -> dict[str, Any]:
    """Accept (creating intelligence) or reject pending suggestions of the viewer's organisation."""
    require_role(viewer, *_ROLES)
    if decision not in DECISIONS:
        raise InvalidInput(f"{decision!r} is not one of: {', '.join(DECISIONS)}", field="decision")
    if not ids:
        raise InvalidInput("name at least one suggestion", field="ids")
    chosen = repository.suggestions(session, viewer=viewer, ids=sorted(set(ids)), limit=len(set(ids)))
    missing = sorted(set(ids) - {s.id for s in chosen})
    if missing:
        raise NotFound(f"no suggestions {missing} in your organisation's queue")
    decided = [s.id for s in chosen if s.status != "pending"]
    if decided:
        raise Conflict(f"suggestions {decided} were already decided", extra={"field": "ids"})
    now = utcnow()
    contribution_id = None
    if decision == "accept":
        contribution_id = _accept(session, viewer=viewer, chosen=chosen, spec=spec, now=now)
    for s in chosen:
        s.status = "accepted" if decision == "accept" else "rejected"
        s.decided_by, s.decided_at, s.decision_note, s.contribution_id = viewer.member_id, now, note, contribution_id
    session.flush()
    audit.record(session, action=f"ai.review.{decision}", viewer=viewer,
                 object_ids=[contribution_id] if contribution_id else [],
                 detail={"suggestions": [[s.id, s.kind, s.value, s.model_id, s.model_version] for s in chosen],
                         "decision": decision, "note": note, "contribution_id": contribution_id})
    return {"decision": decision, "suggestions": [as_dict(s) for s in chosen], "contribution_id": contribution_id}


def _accept(session: Session, *, viewer: Viewer, chosen: list[AiSuggestion], spec: HandlingSpec | None,
            now: Any) -> str | None:
    spec = spec or HandlingSpec()
    sources = {s.source_object_pk for s in chosen if s.source_object_pk}
    if sources:
        # Derived from stored intelligence: the new contribution keeps the source's handling, so
        # accepting can never widen who may read what the source's owner shared.
        source_handling = intel_repo.handlings(session, [h for h in repository.handling_ids_of(session, sources)])
        strictest = max(source_handling.values(), key=lambda h: h.tlp)
        spec = replace(spec_of(strictest), category=spec.category)
    crime = [s.value for s in chosen if s.capability == "crime_type"]
    if crime and spec.category is None:
        spec = replace(spec, category=crime[0])
    if not any(s.capability in ("observable", "entity") for s in chosen):
        return None
    bundle = _bundle(chosen, viewer, now)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ai-review-{chosen[0].run_id}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        result = import_file(session, viewer=viewer, path=path, fmt="stix", spec=spec, source_format="ai",
                             file_name=f"AI-assisted analysis of {chosen[0].source_name}", now=now)
    return result.contribution_id


__all__ = ["analyse", "queue", "decide", "as_dict", "DECISIONS", "STATUSES"]
