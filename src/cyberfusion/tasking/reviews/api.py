"""/api/v1/reviews: national cyber reviews, confidential to the country and its reviewers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.tasking.reviews import report, service
from cyberfusion.tasking.reviews.questionnaire import AREAS, QUESTIONS, SCORE_SCALE
from cyberfusion.tasking.reviews.schemas import (
    AnswerIn,
    CompleteIn,
    RecommendationIn,
    ReviewerIn,
    ScoreIn,
)

router = APIRouter(prefix="/api/v1/reviews", tags=["tasking: national cyber reviews"], route_class=SessionRoute)


@router.get("/questionnaire")
def questionnaire(viewer: CurrentViewer) -> dict[str, Any]:
    return {"areas": AREAS, "scale": SCORE_SCALE,
            "questions": [{"key": k, "area": a, "question": q} for k, (a, q) in QUESTIONS.items()]}


@router.post("", status_code=201)
def request_review(session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.header(session, service.request_review(session, viewer=viewer))


@router.get("")
def list_reviews(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.list_reviews(session, viewer=viewer)


@router.get("/{review_id}")
def get_review(review_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.get_review(session, viewer=viewer, review_id=review_id)


@router.post("/{review_id}/reviewers", status_code=201)
def assign(review_id: int, body: ReviewerIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.assign_reviewer(session, viewer=viewer, review_id=review_id, member=body.member)
    return {"review_id": link.review_id, "member_id": link.member_id}


@router.put("/{review_id}/answers")
def answer(review_id: int, body: AnswerIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    row = service.answer(session, viewer=viewer, review_id=review_id, question=body.question, text=body.answer)
    return {"question": row.question, "answer": row.answer, "answered_at": row.answered_at}


@router.put("/{review_id}/scores")
def score(review_id: int, body: ScoreIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    row = service.score(session, viewer=viewer, review_id=review_id, **body.model_dump())
    return {"area": row.area, "score": row.score, "strengths": row.strengths, "gaps": row.gaps}


@router.post("/{review_id}/recommendations", status_code=201)
def recommend(review_id: int, body: RecommendationIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    row = service.recommend(session, viewer=viewer, review_id=review_id, **body.model_dump())
    return {"id": row.id, "area": row.area, "text": row.text, "priority": row.priority}


@router.post("/{review_id}/complete")
def complete(review_id: int, body: CompleteIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.header(session, service.complete(session, viewer=viewer, review_id=review_id,
                                                    summary=body.summary))


@router.get("/{review_id}/report.html", response_class=HTMLResponse)
def report_html(review_id: int, session: SessionDep, viewer: CurrentViewer) -> HTMLResponse:
    return HTMLResponse(report.render_html(session, viewer=viewer, review_id=review_id))


@router.get("/{review_id}/report.pdf", response_class=Response)
def report_pdf(review_id: int, session: SessionDep, viewer: CurrentViewer) -> Response:
    return Response(report.render_pdf(session, viewer=viewer, review_id=review_id), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="review-{review_id}.pdf"'})
