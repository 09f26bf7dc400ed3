"""Rules of national cyber reviews.

A member country's bureau or law-enforcement unit requests a review of its own country; a platform
admin assigns reviewers from other countries; the country answers the questionnaire; reviewers
score each area (0-5) with strengths and gaps and write recommendations; a reviewer completes the
review once every area is scored. Content is confidential to the requesting organisation and the
reviewers; platform admins see only who reviews which country and the state, to run the process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.kit.regions import country_name
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.reviews import repository
from cyberfusion.tasking.reviews.models import (
    RECOMMENDATION_PRIORITIES,
    Review,
    ReviewRecommendation,
    ReviewResponse,
    ReviewReviewer,
    ReviewScore,
)
from cyberfusion.tasking.reviews.questionnaire import (
    AREAS,
    QUESTIONS,
    SCORE_SCALE,
    questions_of,
)

REQUESTING_KINDS = ("national_bureau", "law_enforcement")


def _audit(session: Session, viewer: Viewer, action: str, review: Review, **detail: Any) -> None:
    audit.record(session, action=f"review.{action}", viewer=viewer, object_ids=[f"review:{review.id}"],
                 detail=detail)


def request_review(session: Session, *, viewer: Viewer, now: datetime | None = None) -> Review:
    if viewer.org_kind not in REQUESTING_KINDS or not viewer.has_role("analyst", "org_admin"):
        raise Forbidden("a national bureau or law-enforcement analyst or admin requests a review of its country")
    if repository.open_for_country(session, viewer.org_country):
        raise Conflict(f"a review of {viewer.org_country} is already under way", extra={"field": "country"})
    r = Review(country=viewer.org_country, requesting_org_id=viewer.org_id, requested_by=viewer.member_id,
               state="requested", created_at=now or utcnow())
    tasking_repo.add(session, r)
    _audit(session, viewer, "request", r, country=r.country)
    return r


def _content(session: Session, viewer: Viewer, review_id: int) -> Review:
    r = repository.get_content_visible(session, viewer=viewer, review_id=review_id)
    if r is None:
        raise NotFound(f"no review {review_id}")
    return r


def _open(r: Review) -> None:
    if r.state == "completed":
        raise Conflict(f"review {r.id} is completed", extra={"field": "state"})


def assign_reviewer(session: Session, *, viewer: Viewer, review_id: int, member: str) -> ReviewReviewer:
    partners.require_role(viewer, "platform_admin")
    r = repository.get(session, review_id)
    if r is None:
        raise NotFound(f"no review {review_id}")
    _open(r)
    try:
        m = partners.get_member(session, member)
    except NotFound:
        raise InvalidInput(f"no member {member!r}", field="member") from None
    org = partners_repo.org_by_id(session, m.organisation_id)
    if org is None or org.country == r.country or not m.active:
        raise InvalidInput("a reviewer is an active member from another country", field="member")
    if repository.is_reviewer(session, review_id=r.id, member_id=m.id):
        raise Conflict(f"{m.email} already reviews review {r.id}", extra={"field": "member"})
    link = ReviewReviewer(review_id=r.id, member_id=m.id, assigned_at=utcnow())
    tasking_repo.add(session, link)
    r.state = "in_review"
    session.flush()
    tasking.notify(session, organisation_id=m.organisation_id, member_id=m.id, kind="review.assigned",
                   subject=f"You review the national cyber review {r.id} ({country_name(r.country)})",
                   ref=f"review:{r.id}")
    _audit(session, viewer, "assign", r, member_id=m.id)
    return link


def answer(session: Session, *, viewer: Viewer, review_id: int, question: str, text: str) -> ReviewResponse:
    r = _content(session, viewer, review_id)
    if r.requesting_org_id != viewer.org_id or not viewer.has_role("analyst", "contributor", "org_admin"):
        raise Forbidden("the reviewed country answers the questionnaire")
    _open(r)
    common.choice(question, tuple(QUESTIONS), "question")
    text = common.text(text, "answer", max_len=50_000)
    row = repository.response(session, review_id=r.id, question=question)
    if row is None:
        row = ReviewResponse(review_id=r.id, question=question, answer=text, answered_by=viewer.member_id,
                             answered_at=utcnow())
        tasking_repo.add(session, row)
    else:
        row.answer, row.answered_by, row.answered_at = text, viewer.member_id, utcnow()
        session.flush()
    _audit(session, viewer, "answer", r, question=question)
    return row


def _reviewing(session: Session, viewer: Viewer, review_id: int) -> Review:
    r = _content(session, viewer, review_id)
    if not repository.is_reviewer(session, review_id=r.id, member_id=viewer.member_id):
        raise Forbidden(f"only the reviewers of review {r.id} score and recommend")
    _open(r)
    return r


def score(session: Session, *, viewer: Viewer, review_id: int, area: str, score: int, strengths: str = "",
          gaps: str = "") -> ReviewScore:
    r = _reviewing(session, viewer, review_id)
    common.choice(area, tuple(AREAS), "area")
    if score not in SCORE_SCALE:
        raise InvalidInput("a score is a whole number from 0 to 5", field="score")
    strengths = common.text(strengths, "strengths", max_len=20_000, required=False)
    gaps = common.text(gaps, "gaps", max_len=20_000, required=False)
    row = repository.score(session, review_id=r.id, area=area)
    if row is None:
        row = ReviewScore(review_id=r.id, area=area, score=score, strengths=strengths, gaps=gaps,
                          scored_by=viewer.member_id, scored_at=utcnow())
        tasking_repo.add(session, row)
    else:
        row.score, row.strengths, row.gaps, row.scored_by, row.scored_at = score, strengths, gaps, viewer.member_id, utcnow()
        session.flush()
    _audit(session, viewer, "score", r, area=area, score=score)
    return row


def recommend(session: Session, *, viewer: Viewer, review_id: int, area: str, text: str,
              priority: str = "medium") -> ReviewRecommendation:
    r = _reviewing(session, viewer, review_id)
    row = ReviewRecommendation(review_id=r.id, area=common.choice(area, tuple(AREAS), "area"),
                               text=common.text(text, "text", max_len=20_000),
                               priority=common.choice(priority, RECOMMENDATION_PRIORITIES, "priority"),
                               created_by=viewer.member_id, created_at=utcnow())
    tasking_repo.add(session, row)
    _audit(session, viewer, "recommend", r, area=area)
    return row


def complete(session: Session, *, viewer: Viewer, review_id: int, summary: str,
             now: datetime | None = None) -> Review:
    r = _reviewing(session, viewer, review_id)
    missing = [a for a in AREAS if a not in {s.area for s in repository.scores(session, r.id)}]
    if missing:
        raise InvalidInput(f"score every area first; missing: {', '.join(missing)}", field="scores")
    r.summary = common.text(summary, "summary", max_len=50_000)
    r.state, r.completed_at = "completed", now or utcnow()
    session.flush()
    _audit(session, viewer, "complete", r)
    return r


def header(session: Session, r: Review) -> dict[str, Any]:
    return {"id": r.id, "country": r.country, "country_name": country_name(r.country), "state": r.state,
            "requesting_org_id": r.requesting_org_id, "created_at": r.created_at, "completed_at": r.completed_at,
            "reviewers": [m.email for m in repository.reviewers(session, r.id)]}


def list_reviews(session: Session, *, viewer: Viewer) -> list[dict[str, Any]]:
    """Content-visible reviews; a platform admin lists every review's header to run the process."""
    rows = repository.list_reviews(session, viewer=None if viewer.has_role("platform_admin") else viewer)
    return [header(session, r) for r in rows]


def overall(scores: list[ReviewScore]) -> float | None:
    return round(sum(s.score for s in scores) / len(scores), 1) if scores else None


def get_review(session: Session, *, viewer: Viewer, review_id: int) -> dict[str, Any]:
    """The whole review for the country and its reviewers; only its header for a platform admin."""
    r = repository.get_content_visible(session, viewer=viewer, review_id=review_id)
    if r is None:
        admin_view = repository.get(session, review_id) if viewer.has_role("platform_admin") else None
        if admin_view is None:
            raise NotFound(f"no review {review_id}")
        return header(session, admin_view)
    scores = repository.scores(session, r.id)
    answers = {a.question: a for a in repository.responses(session, r.id)}
    by_area = {s.area: s for s in scores}
    _audit(session, viewer, "read", r)
    return header(session, r) | {
        "summary": r.summary, "overall_score": overall(scores),
        "areas": [{"area": key, "title": title,
                   "questions": [{"key": q, "question": text, "answer": answers[q].answer if q in answers else None}
                                 for q, text in questions_of(key)],
                   "score": by_area[key].score if key in by_area else None,
                   "level": SCORE_SCALE[by_area[key].score] if key in by_area else None,
                   "strengths": by_area[key].strengths if key in by_area else "",
                   "gaps": by_area[key].gaps if key in by_area else ""} for key, title in AREAS.items()],
        "recommendations": [{"id": x.id, "area": x.area, "text": x.text, "priority": x.priority}
                            for x in repository.recommendations(session, r.id)]}
