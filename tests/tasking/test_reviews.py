"""National cyber reviews: questionnaire, reviewers, scores, recommendations, report, confidentiality."""

from __future__ import annotations

import pytest
from tasking.tasking_support import act, headers

from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.reviews import report
from cyberfusion.tasking.reviews import service as reviews
from cyberfusion.tasking.reviews.questionnaire import AREAS, QUESTIONS

SCORES = {"legislation": 4, "capabilities": 3, "international_cooperation": 2, "public_private_partnership": 3,
          "training": 1}


@pytest.fixture
def review(world):
    """France's review, reviewed by the GB unit, questionnaire answered, every area scored."""
    r = act(world, "ncb_fr", reviews.request_review)
    act(world, "admin", reviews.assign_reviewer, review_id=r.id, member="le_gb@example.org")
    for q in QUESTIONS:
        act(world, "ncb_fr", reviews.answer, review_id=r.id, question=q, text=f"Answer to {q} <b>bold</b>")
    for area, score in SCORES.items():
        act(world, "le_gb", reviews.score, review_id=r.id, area=area, score=score, strengths=f"{area} strengths",
            gaps=f"{area} gaps")
    act(world, "le_gb", reviews.recommend, review_id=r.id, area="training", text="Train prosecutors on e-evidence",
        priority="high")
    return r.id


def test_review_flow_scores_and_overall(world, review):
    with pytest.raises(Conflict, match="a review of FR is already under way"):
        act(world, "ncb_fr", reviews.request_review)
    act(world, "le_gb", reviews.complete, review_id=review, summary="Solid laws, thin training.")
    out = act(world, "ncb_fr", reviews.get_review, review_id=review)
    assert (out["state"], out["country"], out["reviewers"], out["overall_score"]) == (
        "completed", "FR", ["le_gb@example.org"], 2.6)
    assert [(a["area"], a["score"], a["level"]) for a in out["areas"]] == [
        ("legislation", 4, "advanced"), ("capabilities", 3, "established"),
        ("international_cooperation", 2, "developing"), ("public_private_partnership", 3, "established"),
        ("training", 1, "initial")]
    assert sum(len(a["questions"]) for a in out["areas"]) == len(QUESTIONS)
    assert out["recommendations"] == [{"id": 1, "area": "training", "text": "Train prosecutors on e-evidence",
                                       "priority": "high"}]
    with pytest.raises(Conflict, match=f"review {review} is completed"):
        act(world, "le_gb", reviews.score, review_id=review, area="training", score=5)
    inbox = [n.kind for n in act(world, "le_gb", tasking.my_notifications)]
    assert inbox == ["review.assigned"]
    # Completion needs every area scored.
    rid = act(world, "ncb_fr", reviews.request_review).id
    act(world, "admin", reviews.assign_reviewer, review_id=rid, member="le_gb@example.org")
    act(world, "le_gb", reviews.score, review_id=rid, area="legislation", score=3)
    with pytest.raises(InvalidInput) as e:
        act(world, "le_gb", reviews.complete, review_id=rid, summary="early")
    assert e.value.detail == ("field 'scores': score every area first; missing: capabilities, "
                              "international_cooperation, public_private_partnership, training")
    with pytest.raises(InvalidInput) as e:
        act(world, "le_gb", reviews.score, review_id=rid, area="training", score=6)
    assert e.value.field == "score"


def test_review_data_is_confidential_and_the_report_renders(client, world, review):
    for outsider in ("ncb_ru", "vendor", "analyst", "bank"):
        with pytest.raises(NotFound):
            act(world, outsider, reviews.get_review, review_id=review)
        assert act(world, outsider, reviews.list_reviews) == []
    # A platform admin runs the process: it sees who reviews which country, never the content.
    admin = act(world, "admin", reviews.get_review, review_id=review)
    assert set(admin) == {"id", "country", "country_name", "state", "requesting_org_id", "created_at",
                          "completed_at", "reviewers"}
    with pytest.raises(NotFound):
        act(world, "admin", report.render_html, review_id=review)
    with pytest.raises(Forbidden, match="the reviewed country answers"):
        act(world, "le_gb", reviews.answer, review_id=review, question="training.judiciary", text="x")
    with pytest.raises(Forbidden, match="only the reviewers"):
        act(world, "ncb_fr", reviews.score, review_id=review, area="training", score=5)
    with pytest.raises(InvalidInput, match="another country"):
        act(world, "admin", reviews.assign_reviewer, review_id=review, member="ncb_fr@example.org")
    # The same over the API.
    r = client.get(f"/api/v1/reviews/{review}/report.html", headers=headers(world, "ncb_fr"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert client.get(f"/api/v1/reviews/{review}", headers=headers(world, "vendor")).status_code == 404
    r = client.put(f"/api/v1/reviews/{review}/answers", headers=headers(world, "ncb_fr"),
                   json={"question": "nope", "answer": "x"})
    assert (r.status_code, r.json()["field"]) == (422, "question")
    q = client.get("/api/v1/reviews/questionnaire", headers=headers(world, "vendor")).json()
    assert len(q["questions"]) == len(QUESTIONS) and list(q["areas"]) == list(AREAS)
    # The report escapes what the country wrote; the PDF renders offline.
    html = act(world, "le_gb", report.render_html, review_id=review)
    assert "National cyber review: France (FR)" in html
    assert "Answer to training.judiciary &lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html
    assert "Draft: the review is in review." in html
    for title in AREAS.values():
        assert f"<h2>{title}</h2>" in html
    pytest.importorskip("weasyprint")
    pdf = act(world, "ncb_fr", report.render_pdf, review_id=review)
    assert pdf.startswith(b"%PDF-")


def test_pdf_rendering_fetches_nothing():
    with pytest.raises(ValueError, match="does not fetch 'http://example.com/x.png'"):
        report._local_only("http://example.com/x.png")
    with pytest.raises(ValueError, match="does not fetch 'file:///etc/passwd'"):
        report._local_only("file:///etc/passwd")
