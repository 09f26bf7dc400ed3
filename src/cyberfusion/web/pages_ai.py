"""AI pages: analyse a document into the review queue, review suggestions (accept turns them into
intelligence through the one ingest path, reject records the decision), the model cards, the
responsible-AI register of use cases (risk from the questionnaire) and the resource bank."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from cyberfusion.ai import registry, review, similar
from cyberfusion.ai import service as ai
from cyberfusion.ai.documents import read_bytes
from cyberfusion.errors import Conflict, InvalidInput, Unavailable
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import nav
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(60, "AI review", "/ai/review", nav.roles("analyst", "contributor"))


def _review_page(request: Request, db: Session, viewer: Viewer, *, status: str, run: str | None,
                 errors: dict[str, str] | None = None, code: int = 200) -> Response:
    items = review.queue(db, viewer=viewer, status=status or None, run_id=run or None, limit=200)
    return page(request, "ai_review.html", {"items": items, "status": status, "run": run, "statuses": review.STATUSES,
                                            "tlps": TLP_LEVELS, "errors": errors or {}}, status=code,
                title="AI review queue")


@router.get("/ai/review")
def review_queue(request: Request, db: Db, viewer: CurrentViewer, status: str = "pending", run: str = "") -> Response:
    return _review_page(request, db, viewer, status=status, run=run)


@router.post("/ai/analyse")
async def analyse(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    form = await request.form()
    upload = form.get("file")
    text = str(form.get("text") or "")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            document = read_bytes(await upload.read(), name=upload.filename)
        elif text.strip():
            document = read_bytes(text.encode(), name="pasted text", fmt="text")
        else:
            raise InvalidInput("choose a file or paste text", field="file")
        result = await run_in_threadpool(lambda: review.analyse(db, viewer=viewer, document=document))
    except InvalidInput as exc:
        errors = {"file": exc.problems[0].reason}
        await run_in_threadpool(db.rollback)
        return await run_in_threadpool(lambda: _review_page(request, db, viewer, status="pending", run=None,
                                                            errors=errors, code=422))
    return RedirectResponse(f"/ai/review?run={result['run_id']}", status_code=303)


@router.post("/ai/review/decisions")
async def decide(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    form = await request.form()
    decision = str(form.get("decision") or "")
    note = str(form.get("note") or "").strip() or None
    tlp = str(form.get("tlp") or "amber")

    def work() -> Response:
        try:
            ids = [int(v) for v in form.getlist("ids")]
            result = review.decide(db, viewer=viewer, ids=ids, decision=decision, note=note,
                                   spec=HandlingSpec(tlp=tlp) if decision == "accept" else None)
        except ValueError:
            return _review_page(request, db, viewer, status="pending", run=None,
                                errors={"ids": "suggestion numbers only"}, code=422)
        except (InvalidInput, Conflict) as exc:
            db.rollback()
            field = exc.field if isinstance(exc, InvalidInput) else "ids"
            reason = exc.problems[0].reason if isinstance(exc, InvalidInput) else exc.detail
            return _review_page(request, db, viewer, status="pending", run=None, errors={field or "ids": reason},
                                code=422)
        notice = "saved"
        if result["contribution_id"]:
            return RedirectResponse(f"/ai/review?status=accepted&notice={notice}", status_code=303)
        return RedirectResponse(f"/ai/review?notice={notice}", status_code=303)

    return await run_in_threadpool(work)


@router.get("/ai/models")
def model_cards(request: Request, viewer: CurrentViewer) -> Response:
    return page(request, "ai_models.html", {"cards": ai.model_cards()}, title="Model cards")


@router.get("/ai/models/{card_id}")
def model_card(request: Request, card_id: str, viewer: CurrentViewer) -> Response:
    card: dict[str, Any] = ai.card_of(card_id)
    return page(request, "ai_model.html", {"card": card}, title=card.get("name", card_id))


# --- similar documents ---------------------------------------------------------------------------------------

nav.register(62, "Similar reports", "/ai/similar", nav.receives)


@router.get("/ai/similar")
def similar_documents(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, text: str = "",
                      stix_id: str = "", limit: int = 10) -> Response:
    """Reports, notes and other documents similar to a pasted text or to a stored document (its
    page links here), as the policy lets this viewer read them for this purpose: a document it may
    not read is neither listed nor counted. Suggestions with a score, for a person to judge."""
    context: dict[str, Any] = {"text": text, "stix_id": stix_id, "limit": limit, "purpose": purpose,
                               "result": None, "errors": {}}
    code = 200
    if text.strip() or stix_id:
        try:
            context["result"] = similar.find_similar(db, viewer=viewer, purpose=purpose, text=text.strip() or None,
                                                     stix_id=stix_id or None, limit=limit)
        except InvalidInput as exc:
            db.rollback()
            context["errors"] = {exc.problems[0].field or "text": exc.problems[0].reason}
            code = 422
        except Unavailable as exc:  # the optional 'ai' extra is not installed
            db.rollback()
            context["errors"] = {"text": exc.detail}
            code = 503
    return page(request, "ai_similar.html", context, status=code, title="Similar reports")


# --- the responsible-AI register and the resource bank ----------------------------------------------------

nav.register(61, "AI register", "/ai/register", nav.roles("analyst", "platform_admin", "auditor"))


def _register_page(request: Request, db: Session, viewer: Viewer, *, form: dict[str, Any] | None = None,
                   errors: dict[str, str] | None = None, code: int = 200) -> Response:
    return page(request, "ai_register.html", {
        "cases": registry.list_use_cases(db), "questions": registry.QUESTIONS, "statuses": registry.STATUSES,
        "can_edit": viewer.has_role("analyst", "platform_admin"), "form": form or {}, "errors": errors or {}},
        status=code, title="Responsible-AI register")


@router.get("/ai/register")
def register_list(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    return _register_page(request, db, viewer)


@router.post("/ai/register")
async def register_add(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}

    def work() -> Response:
        try:
            answers = {}
            for q in registry.QUESTIONS:
                if form.get(q.key) not in ("yes", "no"):
                    raise InvalidInput("answer yes or no", field=q.key)
                answers[q.key] = form[q.key] == "yes"
            registry.register_use_case(db, viewer=viewer, title=form.get("title", ""),
                                       description=form.get("description", ""), purpose=form.get("purpose", ""),
                                       data=form.get("data", ""), legal_basis=form.get("legal_basis", ""),
                                       answers=answers, oversight=form.get("oversight", ""),
                                       status=form.get("status") or "proposed")
        except InvalidInput as exc:
            db.rollback()
            return _register_page(request, db, viewer, form=form, errors={exc.field or "title": exc.problems[0].reason},
                                  code=422)
        return RedirectResponse("/ai/register?notice=saved", status_code=303)

    return await run_in_threadpool(work)


@router.post("/ai/register/{use_case_id}/status")
def register_status(request: Request, use_case_id: int, db: Db, viewer: CurrentViewer,
                    status: Annotated[str, Form()] = "") -> Response:
    try:
        registry.set_status(db, viewer=viewer, use_case_id=use_case_id, status=status)
    except InvalidInput as exc:
        db.rollback()
        return _register_page(request, db, viewer, errors={f"status-{use_case_id}": exc.problems[0].reason},
                              code=422)
    return RedirectResponse(f"/ai/register?notice=saved#uc-{use_case_id}", status_code=303)


def _resources_page(request: Request, db: Session, viewer: Viewer, *, q: str = "", tag: str = "", kind: str = "",
                    form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                    code: int = 200) -> Response:
    rows = registry.search_resources(db, text=q or None, tags=[tag] if tag else None, kind=kind or None)
    return page(request, "ai_resources.html", {
        "rows": rows, "q": q, "tag": tag, "kind": kind, "kinds": registry.RESOURCE_KINDS,
        "can_edit": viewer.has_role("analyst", "platform_admin"), "form": form or {}, "errors": errors or {}},
        status=code, title="AI resource bank")


@router.get("/ai/resources")
def resources(request: Request, db: Db, viewer: CurrentViewer, q: str = "", tag: str = "",
              kind: str = "") -> Response:
    return _resources_page(request, db, viewer, q=q, tag=tag, kind=kind)


@router.post("/ai/resources")
def resource_add(request: Request, db: Db, viewer: CurrentViewer, title: Annotated[str, Form()] = "",
                 kind: Annotated[str, Form()] = "guidance", summary: Annotated[str, Form()] = "",
                 tags: Annotated[str, Form()] = "", url: Annotated[str, Form()] = "") -> Response:
    form = {"title": title, "kind": kind, "summary": summary, "tags": tags, "url": url}
    try:
        if url and not url.startswith(("https://", "http://")):
            raise InvalidInput("a web address (https://…)", field="url")
        registry.add_resource(db, viewer=viewer, title=title, kind=kind, summary=summary,
                              tags=tags.replace(";", ",").split(","), url=url or None)
    except InvalidInput as exc:
        db.rollback()
        return _resources_page(request, db, viewer, form=form, errors={exc.field or "title": exc.problems[0].reason},
                               code=422)
    return RedirectResponse("/ai/resources?notice=saved", status_code=303)
