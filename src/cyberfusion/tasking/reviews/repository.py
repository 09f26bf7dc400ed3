"""All SQL of national cyber reviews. Review content is confidential to the requesting country's
organisation and the assigned reviewers: ``content_visible_to`` is the statement filter."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from cyberfusion.partners.models import Member
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.reviews.models import (
    Review,
    ReviewRecommendation,
    ReviewResponse,
    ReviewReviewer,
    ReviewScore,
)


def content_visible_to(viewer: Viewer) -> ColumnElement[bool]:
    return or_(Review.requesting_org_id == viewer.org_id,
               Review.id.in_(select(ReviewReviewer.review_id).where(ReviewReviewer.member_id == viewer.member_id)))


def get(session: Session, review_id: int) -> Review | None:
    return session.get(Review, review_id)


def get_content_visible(session: Session, *, viewer: Viewer, review_id: int) -> Review | None:
    return session.scalar(select(Review).where(Review.id == review_id, content_visible_to(viewer)))


def list_reviews(session: Session, *, viewer: Viewer | None) -> list[Review]:
    """Reviews whose content this viewer may see; every review when ``viewer`` is None (headers only)."""
    q = select(Review)
    if viewer is not None:
        q = q.where(content_visible_to(viewer))
    return list(session.scalars(q.order_by(Review.id)))


def open_for_country(session: Session, country: str) -> Review | None:
    return session.scalar(select(Review).where(Review.country == country,
                                               Review.state.in_(("requested", "in_review"))).limit(1))


def reviewers(session: Session, review_id: int) -> list[Member]:
    return list(session.scalars(select(Member).join(ReviewReviewer, ReviewReviewer.member_id == Member.id)
                                .where(ReviewReviewer.review_id == review_id).order_by(Member.email)))


def is_reviewer(session: Session, *, review_id: int, member_id: int) -> bool:
    return session.get(ReviewReviewer, (review_id, member_id)) is not None


def response(session: Session, *, review_id: int, question: str) -> ReviewResponse | None:
    return session.get(ReviewResponse, (review_id, question))


def responses(session: Session, review_id: int) -> list[ReviewResponse]:
    return list(session.scalars(select(ReviewResponse).where(ReviewResponse.review_id == review_id)
                                .order_by(ReviewResponse.question)))


def score(session: Session, *, review_id: int, area: str) -> ReviewScore | None:
    return session.get(ReviewScore, (review_id, area))


def scores(session: Session, review_id: int) -> list[ReviewScore]:
    return list(session.scalars(select(ReviewScore).where(ReviewScore.review_id == review_id)
                                .order_by(ReviewScore.area)))


def recommendations(session: Session, review_id: int) -> list[ReviewRecommendation]:
    return list(session.scalars(select(ReviewRecommendation).where(ReviewRecommendation.review_id == review_id)
                                .order_by(ReviewRecommendation.id)))
