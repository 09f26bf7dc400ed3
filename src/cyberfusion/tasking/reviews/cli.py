"""`cfc review ...`: national cyber reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cyberfusion.clikit import FormatOpt, OutputFormat, emit, handled, session_scope
from cyberfusion.tasking.clihelp import AsOpt, viewer
from cyberfusion.tasking.reviews import report, service

app = typer.Typer(no_args_is_help=True, help="National cyber reviews (confidential to the country and reviewers).")


@app.command("request")
@handled
def request_cmd(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """Request a review of your country's legal and technical frameworks against cybercrime."""
    with session_scope() as session:
        emit(service.header(session, service.request_review(session, viewer=viewer(session, as_member))), fmt)


@app.command("list")
@handled
def list_cmd(as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.list_reviews(session, viewer=viewer(session, as_member)), fmt,
             columns=["id", "country", "state", "reviewers", "created_at"])


@app.command("show")
@handled
def show_cmd(review_id: int, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.get_review(session, viewer=viewer(session, as_member), review_id=review_id), fmt)


@app.command("assign")
@handled
def assign_cmd(review_id: int, member: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        link = service.assign_reviewer(session, viewer=viewer(session, as_member), review_id=review_id, member=member)
        emit({"review_id": link.review_id, "member_id": link.member_id}, fmt)


@app.command("answer")
@handled
def answer_cmd(review_id: int, question: str, answer: str, as_member: str = AsOpt,
               fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        row = service.answer(session, viewer=viewer(session, as_member), review_id=review_id, question=question,
                             text=answer)
        emit({"question": row.question, "answered_at": row.answered_at}, fmt)


@app.command("score")
@handled
def score_cmd(review_id: int, area: str, score: int, as_member: str = AsOpt, strengths: str = "", gaps: str = "",
              fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        row = service.score(session, viewer=viewer(session, as_member), review_id=review_id, area=area, score=score,
                            strengths=strengths, gaps=gaps)
        emit({"area": row.area, "score": row.score}, fmt)


@app.command("recommend")
@handled
def recommend_cmd(review_id: int, area: str, text: str, as_member: str = AsOpt, priority: str = "medium",
                  fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        row = service.recommend(session, viewer=viewer(session, as_member), review_id=review_id, area=area,
                                text=text, priority=priority)
        emit({"id": row.id, "area": row.area, "priority": row.priority}, fmt)


@app.command("complete")
@handled
def complete_cmd(review_id: int, as_member: str = AsOpt, summary: str = typer.Option(...),
                 fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        emit(service.header(session, service.complete(session, viewer=viewer(session, as_member),
                                                      review_id=review_id, summary=summary)), fmt)


@app.command("report")
@handled
def report_cmd(review_id: int, as_member: str = AsOpt,
               output: Path = typer.Option(..., "--output", "-o", help="file; .pdf renders a PDF"),
               fmt: OutputFormat = FormatOpt) -> None:
    """Write the review report as HTML, or as PDF when the file name ends in .pdf."""
    with session_scope() as session:
        v = viewer(session, as_member)
        if output.suffix.lower() == ".pdf":
            data: Optional[bytes] = report.render_pdf(session, viewer=v, review_id=review_id)
        else:
            data = report.render_html(session, viewer=v, review_id=review_id).encode("utf-8")
    assert data is not None
    output.write_bytes(data)
    emit({"file": str(output), "bytes": len(data)}, fmt)
