"""All SQL of the AI package. Inputs to any model are selected through the policy gate with the
purpose ``ai_processing`` *and* a handling that permits that purpose (even for the viewer's
own organisation, which the policy otherwise lets read everything it owns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from cyberfusion.ai.models import AiEmbedding, AiResource, AiSuggestion, AiUseCase
from cyberfusion.intel.models import StixObject
from cyberfusion.intel.repository import latest_only, objects_readable
from cyberfusion.sharing import policy
from cyberfusion.sharing.markings import purpose_bit
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer

AI_PURPOSE = "ai_processing"


def _permits_ai(handling_col: Any) -> Any:
    return handling_col.in_(select(Handling.id).where(Handling.purposes.op("&")(purpose_bit(AI_PURPOSE)) != 0))


def ai_inputs(session: Session, *, viewer: Viewer, types: Sequence[str], stix_ids: Sequence[str] = (),
              limit: int = 1000) -> list[StixObject]:
    """Latest object versions the viewer may hand to a model."""
    q = select(StixObject).where(StixObject.type.in_(list(types)), objects_readable(viewer, AI_PURPOSE),
                                 _permits_ai(StixObject.handling_id), latest_only(viewer, AI_PURPOSE))
    if stix_ids:
        q = q.where(StixObject.stix_id.in_(list(stix_ids)))
    return list(session.scalars(q.order_by(StixObject.date_added, StixObject.pk).limit(limit)))


def unembedded(session: Session, *, viewer: Viewer, types: Sequence[str], model_version: str,
               limit: int = 500) -> list[StixObject]:
    done = select(AiEmbedding.object_pk).where(AiEmbedding.model_version == model_version)
    q = select(StixObject).where(StixObject.type.in_(list(types)), objects_readable(viewer, AI_PURPOSE),
                                 _permits_ai(StixObject.handling_id), ~StixObject.pk.in_(done))
    return list(session.scalars(q.order_by(StixObject.pk).limit(limit)))


def add_all(session: Session, rows: Sequence[Any]) -> None:
    session.add_all(rows)
    session.flush()


def readable_embeddings(session: Session, *, viewer: Viewer, purpose: str, model_version: str,
                        exclude_stix_id: str | None = None) -> list[tuple[AiEmbedding, StixObject]]:
    """Embeddings of the latest versions the viewer may read for ``purpose``; the filter runs in SQL
    before any score is computed, so nothing unreadable is ever compared or counted."""
    q = (select(AiEmbedding, StixObject).join(StixObject, StixObject.pk == AiEmbedding.object_pk)
         .where(AiEmbedding.model_version == model_version,
                policy.readable_by(viewer, purpose, contribution_col=AiEmbedding.contribution_id,
                                   handling_col=AiEmbedding.handling_id, org_col=AiEmbedding.organisation_id),
                _permits_ai(AiEmbedding.handling_id), latest_only(viewer, purpose)))
    if exclude_stix_id:
        q = q.where(AiEmbedding.stix_id != exclude_stix_id)
    return [(e, o) for e, o in session.execute(q)]


def embedding_count(session: Session, *, contribution_id: str | None = None) -> int:
    q = select(func.count()).select_from(AiEmbedding)
    if contribution_id:
        q = q.where(AiEmbedding.contribution_id == contribution_id)
    return session.scalar(q) or 0


def delete_embeddings_of(session: Session, *, contribution_id: str) -> int:
    return session.execute(delete(AiEmbedding).where(AiEmbedding.contribution_id == contribution_id)).rowcount


def purge_orphans(session: Session) -> int:
    """Embeddings whose contribution is no longer active (hidden or deleted by retention)."""
    from cyberfusion.intel.models import Contribution
    gone = select(Contribution.id).where(Contribution.status != "active")
    return session.execute(delete(AiEmbedding).where(AiEmbedding.contribution_id.in_(gone))).rowcount


# --- review queue ------------------------------------------------------------------------------

def suggestions(session: Session, *, viewer: Viewer, purpose: str = AI_PURPOSE, status: str | None = None,
                run_id: str | None = None, ids: Sequence[int] = (), after_id: int = 0,
                limit: int = 200) -> list[AiSuggestion]:
    """The viewer's organisation's suggestions. One made from a stored object is listed only while the
    viewer may read that object for ``purpose`` and its handling permits ai_processing: what a model
    said about a document is as confidential as the document."""
    readable_sources = select(StixObject.pk).where(objects_readable(viewer, purpose),
                                                   _permits_ai(StixObject.handling_id))
    q = select(AiSuggestion).where(AiSuggestion.organisation_id == viewer.org_id, AiSuggestion.id > after_id,
                                   or_(AiSuggestion.source_object_pk.is_(None),
                                       AiSuggestion.source_object_pk.in_(readable_sources)))
    if status:
        q = q.where(AiSuggestion.status == status)
    if run_id:
        q = q.where(AiSuggestion.run_id == run_id)
    if ids:
        q = q.where(AiSuggestion.id.in_(list(ids)))
    return list(session.scalars(q.order_by(AiSuggestion.id).limit(limit)))


# --- register and resource bank ---------------------------------------------------------------

def use_cases(session: Session, *, status: str | None = None, risk: str | None = None) -> list[AiUseCase]:
    q = select(AiUseCase)
    if status:
        q = q.where(AiUseCase.status == status)
    if risk:
        q = q.where(AiUseCase.risk_level == risk)
    return list(session.scalars(q.order_by(AiUseCase.id)))


def use_case(session: Session, use_case_id: int) -> AiUseCase | None:
    return session.get(AiUseCase, use_case_id)


def resources(session: Session, *, text: str | None = None, tags: Sequence[str] = (), kind: str | None = None,
              limit: int = 100) -> list[AiResource]:
    q = select(AiResource)
    if text:
        like = f"%{text.lower()}%"
        q = q.where(or_(func.lower(AiResource.title).like(like), func.lower(AiResource.summary).like(like),
                        AiResource.tags.like(like)))
    if tags:
        q = q.where(and_(*(AiResource.tags.contains(f",{t},", autoescape=True) for t in tags)))
    if kind:
        q = q.where(AiResource.kind == kind)
    return list(session.scalars(q.order_by(AiResource.id).limit(limit)))


def handling_ids_of(session: Session, object_pks: Sequence[int]) -> list[int]:
    return list(session.scalars(select(StixObject.handling_id).where(StixObject.pk.in_(list(object_pks)))))
