"""The job kinds the platform runs in the background. Importing this module registers them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.config import get_settings
from cyberfusion.errors import InvalidInput
from cyberfusion.fusion import alerts  # noqa: F401 - registers fusion.alerts.deliver and fusion.alerts.send
from cyberfusion.intel import retention
from cyberfusion.jobs.service import enqueue, handler
from cyberfusion.sharing.viewer import Viewer


@handler("retention.run")
def run_retention(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    report = retention.run(session, grace_days=int(payload.get("grace_days", get_settings().retention_grace_days)))
    return {k: v for k, v in report.as_dict().items() if k != "contributions"}


@handler("analyzers.run")
def run_analyzers(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Queued analyzer runs (these ids, or any); runs deferred by a rate limit get a later job."""
    # Imported here: the analyzers import the ingest path, which queues this job.
    from cyberfusion.analyzers import repository as analyzer_runs
    from cyberfusion.analyzers.runs import run_pending

    ids = [int(i) for i in payload["ids"]] if payload.get("ids") is not None else None
    report = run_pending(session, ids=ids, limit=len(ids) if ids is not None else 100)
    if report.deferred:
        waiting = analyzer_runs.queued_among(session, ids=report.run_ids)
        enqueue(session, kind="analyzers.run", payload={"ids": waiting}, delay=timedelta(seconds=30))
    return report.as_dict()


def _member_viewer(session: Session, payload: dict[str, Any]) -> Viewer:
    """The member a job acts for (payload "member": e-mail), with today's access."""
    from cyberfusion.partners import repository as partners_repo
    from cyberfusion.partners import service as partners

    email = payload.get("member")
    member = partners_repo.member_by_email(session, email) if isinstance(email, str) else None
    if member is None:
        raise InvalidInput(f"payload 'member' must name an existing member's e-mail, got {email!r}", field="member")
    return partners.resolve_viewer(session, member)


@handler("correlation.rebuild")
def rebuild_correlation(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Recompute correlation terms and per-value aggregates from the observables index."""
    from cyberfusion.fusion import correlate

    return dict(correlate.rebuild(session))


@handler("ai.index")
def index_similar_reports(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Embed the reports the member may hand to the model that have none yet (similar-report links)."""
    from cyberfusion.ai import similar

    return {"embedded": similar.index(session, viewer=_member_viewer(session, payload))}


@handler("taxii.purge_status")
def purge_taxii_statuses(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Forget TAXII status resources older than CFC_TAXII_STATUS_DAYS (or payload "days")."""
    from cyberfusion.db import utcnow
    from cyberfusion.taxii import repository as taxii_repository

    days = int(payload.get("days", get_settings().taxii_status_days))
    if days < 1:
        raise InvalidInput("must be at least 1", field="days")
    return {"deleted": taxii_repository.purge_statuses(session, before=utcnow() - timedelta(days=days)),
            "kept_days": days}


@handler("reports.index")
def index_countries(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Locate the observables of contributions not yet in the country index (queued by imports),
    a bounded step per run: the rest is queued as the next run."""
    from cyberfusion.products import country_index

    after = payload.get("after", 0)
    return country_index.index_step(session, contribution_id=payload.get("contribution"),
                                    after_pk=after if isinstance(after, int) else 0)


@handler("search.index")
def index_search_text(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Add the rows imports left above the search index's watermark (SQLite), a bounded step per
    run: the rest is queued as the next run."""
    from cyberfusion.intel import search_index

    return search_index.index_step(session)


@handler("collectors.run")
def run_collectors(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    """Pull the due partner TAXII collections and MISP feeds (or payload "names"); queues the next run."""
    from cyberfusion.taxii import collectors

    settings = get_settings()
    return collectors.run_job(session, payload, secret=settings.effective_secret_key(),
                              tmp_dir=settings.data_dir / "tmp")
