"""/api/v1/ai: extraction, classification, analysis into the review queue, decisions, similar
reports, entity suggestions, model cards, the responsible-AI register and the resource bank."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from cyberfusion.ai import registry, review, service, similar
from cyberfusion.ai.documents import read_bytes
from cyberfusion.ai.schemas import AnalyseIn, DecisionIn, ResourceIn, SimilarIn, StatusIn, TextIn, UseCaseIn
from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.errors import InvalidInput

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=SessionRoute)


async def _upload(request: Request) -> tuple[Any, dict[str, Any]]:
    """The request's document, not yet parsed: () -> Document, and the form fields."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("a multipart request needs a 'file' part", field="file")
        data, name = await upload.read(), upload.filename or "upload"
        return (lambda: read_bytes(data, name=name)), dict(form)
    try:
        body = TextIn.model_validate_json(await request.body())
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        raise InvalidInput(errors[0]["msg"] if errors else str(exc),
                           field=".".join(str(p) for p in errors[0]["loc"]) if errors else "text") from None
    return (lambda: read_bytes(body.text.encode(), name=body.name, fmt="text")), {}


# The body is read on the event loop; parsing documents, extraction and the database work run in
# the thread pool, so one large PDF never stalls the other requests of this process.

@router.post("/extract")
async def extract(request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Suggested observables per type (the documented shape of `cfc extract`); stores nothing."""
    document, form = await _upload(request)
    keep = str(form.get("keep_reserved", "")).lower() == "true"
    return await run_in_threadpool(lambda: service.extract_document(session, viewer=viewer, document=document(),
                                                                    keep_reserved=keep))


@router.post("/classify")
async def classify(request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    document, _ = await _upload(request)
    return await run_in_threadpool(lambda: service.classify_document(session, viewer=viewer, document=document()))


@router.post("/entities")
async def entities(request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    document, _ = await _upload(request)
    return await run_in_threadpool(lambda: service.suggest_entities(session, viewer=viewer, document=document()))


@router.post("/analyses", status_code=201)
async def analyse(request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Queue extraction, classification and entity suggestions for review (file, text or stix_id)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        document, _ = await _upload(request)
        return await run_in_threadpool(lambda: review.analyse(session, viewer=viewer, document=document()))
    body = AnalyseIn.model_validate_json(await request.body() or b"{}")

    def work() -> dict[str, Any]:
        document = read_bytes(body.text.encode(), name=body.name, fmt="text") if body.text else None
        return review.analyse(session, viewer=viewer, document=document, stix_id=body.stix_id,
                              with_entities=body.entities)

    return await run_in_threadpool(work)


@router.get("/review")
def review_queue(session: SessionDep, viewer: CurrentViewer, status: str | None = "pending",
                 run_id: str | None = None, after: int = 0, limit: int = 200,
                 purpose: str = "ai_processing") -> dict[str, Any]:
    items = review.queue(session, viewer=viewer, status=status or None, run_id=run_id, after_id=after, limit=limit,
                         purpose=purpose)
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post("/review/decisions")
def decide(body: DecisionIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    spec = body.handling.to_spec(session) if body.handling else None
    return review.decide(session, viewer=viewer, ids=body.ids, decision=body.decision, note=body.note, spec=spec)


@router.post("/similar")
def find_similar(body: SimilarIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return similar.find_similar(session, viewer=viewer, purpose=body.purpose, text=body.text, stix_id=body.stix_id,
                                limit=body.limit, min_score=body.min_score)


@router.post("/embeddings")
def index(session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return {"embedded": similar.index(session, viewer=viewer)}


@router.get("/model-cards")
def model_cards(viewer: CurrentViewer) -> dict[str, Any]:
    return {"items": service.model_cards()}


@router.get("/model-cards/{card_id}")
def model_card(card_id: str, viewer: CurrentViewer) -> dict[str, Any]:
    return service.card_of(card_id)


@router.get("/register/questionnaire")
def questionnaire(viewer: CurrentViewer) -> dict[str, Any]:
    return {"principles": list(registry.PRINCIPLES), "questions": registry.questionnaire()}


@router.get("/register")
def use_cases(session: SessionDep, viewer: CurrentViewer, status: str | None = None,
              risk: str | None = None) -> dict[str, Any]:
    return {"items": registry.list_use_cases(session, status=status, risk=risk)}


@router.post("/register", status_code=201)
def add_use_case(body: UseCaseIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    row = registry.register_use_case(session, viewer=viewer, **body.model_dump())
    return registry.use_case_dict(row)


@router.patch("/register/{use_case_id}")
def set_status(use_case_id: int, body: StatusIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return registry.use_case_dict(registry.set_status(session, viewer=viewer, use_case_id=use_case_id,
                                                      status=body.status))


@router.get("/resources")
def resources(session: SessionDep, viewer: CurrentViewer, q: str | None = None, tag: str | None = None,
              kind: str | None = None) -> dict[str, Any]:
    tags = [t for t in (tag or "").split(",") if t.strip()]
    return {"items": registry.search_resources(session, text=q, tags=tags, kind=kind)}


@router.post("/resources", status_code=201)
def add_resource(body: ResourceIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return registry.resource_dict(registry.add_resource(session, viewer=viewer, **body.model_dump()))
