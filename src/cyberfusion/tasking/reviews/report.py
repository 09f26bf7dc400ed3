"""The review report as HTML (Jinja2, autoescaped) and as PDF (WeasyPrint).

PDF rendering uses WeasyPrint with a URL fetcher that refuses everything but inline ``data:``
URLs, so a report never reaches the network or the file system while it is rendered.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from cyberfusion.db import utcnow
from cyberfusion.errors import ConfigurationError, NotFound
from cyberfusion.partners import repository as partners_repo
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.reviews import repository, service
from cyberfusion.tasking.reviews.questionnaire import SCORE_SCALE


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def render_html(session: Session, *, viewer: Viewer, review_id: int) -> str:
    """The report for the country and its reviewers (a draft until the review is completed)."""
    if repository.get_content_visible(session, viewer=viewer, review_id=review_id) is None:
        raise NotFound(f"no review {review_id}")  # platform admins included: the report is content
    data: dict[str, Any] = service.get_review(session, viewer=viewer, review_id=review_id)
    org = partners_repo.org_by_id(session, data["requesting_org_id"])
    host = partners_repo.host_centre(session)
    return _env().get_template("review_report.html").render(
        review=data, requesting_org=org.name if org else "", host=host.name if host else "the host centre",
        scale=SCORE_SCALE, generated_at=utcnow().strftime("%Y-%m-%d %H:%M UTC"))


def _local_only(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher
        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"report rendering does not fetch {url!r}")


def render_pdf(session: Session, *, viewer: Viewer, review_id: int) -> bytes:
    html = render_html(session, viewer=viewer, review_id=review_id)
    try:
        from weasyprint import HTML
    except ImportError:
        raise ConfigurationError("PDF reports need WeasyPrint (a dependency of cyberfusion): reinstall it") from None
    return HTML(string=html, base_url=None, url_fetcher=_local_only).write_pdf()
