"""Entry points of the AI capabilities for the API and the CLI: each audited, each a suggestion.

Extraction and classification of a caller's own document run here; analysis into the review
queue is in ``review``, similar reports in ``similar``, entity matching in ``entities`` and
the responsible-AI register in ``registry``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.ai import classify, entities, extract
from cyberfusion.ai.documents import Document
from cyberfusion.audit import service as audit
from cyberfusion.errors import NotFound
from cyberfusion.partners.service import require_role
from cyberfusion.sharing.viewer import Viewer


def extract_document(session: Session, *, viewer: Viewer, document: Document, keep_reserved: bool = False,
                     min_confidence: float = extract.DEFAULT_MIN_CONFIDENCE) -> dict[str, Any]:
    result = extract.as_json(extract.extract(document.text, keep_reserved=keep_reserved,
                                             min_confidence=min_confidence), source=document.source())
    audit.record(session, action="ai.extract", viewer=viewer,
                 detail={"model": extract.MODEL_ID, "version": extract.VERSION,
                         "input": {"name": document.name, "sha256": document.sha256},
                         "output": {k: [i["value"] for i in v] for k, v in result["observables"].items() if v}})
    return result


def classify_document(session: Session, *, viewer: Viewer, document: Document) -> dict[str, Any]:
    result = classify.classify(document.text).as_dict()
    audit.record(session, action="ai.classify", viewer=viewer,
                 detail={"model": classify.MODEL_ID, "version": classify.VERSION,
                         "input": {"name": document.name, "sha256": document.sha256},
                         "output": {"label": result["label"], "confidence": result["confidence"]}})
    return result


def suggest_entities(session: Session, *, viewer: Viewer, document: Document) -> dict[str, Any]:
    require_role(viewer, "analyst", "contributor", "reader")
    items = [m.as_dict() for m in entities.suggest(session, viewer=viewer, text=document.text)]
    audit.record(session, action="ai.entities", viewer=viewer, purpose="ai_processing",
                 object_ids=[i["id"] for i in items],
                 detail={"model": entities.MODEL_ID, "version": entities.VERSION,
                         "input": {"name": document.name, "sha256": document.sha256}})
    return {"items": items, "model": {"id": entities.MODEL_ID, "version": entities.VERSION}}


@cache
def _static_cards() -> dict[str, dict[str, Any]]:
    base = resources.files("cyberfusion.ai").joinpath("model_cards")
    cards = {}
    for item in base.iterdir():
        if item.name.endswith(".json"):
            card = json.loads(item.read_text("utf-8"))
            cards[card["id"]] = card
    return cards


@cache
def _measured() -> dict[str, dict[str, Any]]:
    from cyberfusion.ai import evaluate
    ext = evaluate.evaluate_extraction()
    cls = evaluate.evaluate_classification()
    return {extract.MODEL_ID: {"micro": ext["micro"], "per_type": ext["per_type"], "fairness": ext["fairness"],
                               "dataset": ext["dataset"]},
            classify.MODEL_ID: {"macro_f1": cls["macro_f1"], "accuracy": cls["accuracy"],
                                "per_type": cls["per_type"], "fairness": cls["fairness"],
                                "method": cls["method"], "dataset": cls["dataset"]}}


def model_cards() -> list[dict[str, Any]]:
    """Every model card, with the accuracy measured now on the shipped labelled sets."""
    return [card_of(card_id) for card_id in sorted(_static_cards())]


def card_of(card_id: str) -> dict[str, Any]:
    card = _static_cards().get(card_id)
    if card is None:
        raise NotFound(f"no model card {card_id!r}")
    measured = _measured().get(card_id)
    return {**card, "measured": measured} if measured else dict(card)


__all__ = ["extract_document", "classify_document", "suggest_entities", "model_cards", "card_of"]
