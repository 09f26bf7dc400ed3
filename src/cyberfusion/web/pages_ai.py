"""AI pages: analyse a document into the review queue, review suggestions (accept turns them into
intelligence through the one ingest path, reject records the decision), and the model cards."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from cyberfusion.ai import review
from cyberfusion.ai import service as ai
from cyberfusion.ai.documents import read_bytes
from cyberfusion.errors import Conflict, InvalidInput
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import nav
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, WebRoute

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
