"""Executing analyzer runs in-process: gates again, cache, the call under a timeout, storage, audit.

``run_pending`` is what the CLI and the API call after queueing, and what a job queue will
call later: it claims queued rows (FOR UPDATE SKIP LOCKED on PostgreSQL), executes each one
to its end and flushes, never commits.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.analyzers import registry, repository, results
from cyberfusion.analyzers.base import Analyzer, AnalyzerError, AnalyzerResult, Observable
from cyberfusion.analyzers.gate import egress_refusal, org_viewer
from cyberfusion.analyzers.http import HttpAnalyzer
from cyberfusion.analyzers.models import AnalyzerConfig, AnalyzerRun
from cyberfusion.audit import service as audit
from cyberfusion.config import get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import CyberfusionError, NotFound
from cyberfusion.kit.timeutil import format_ts, parse_ts
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

STALE_MINUTES = 15  # a run still 'running' after this long was abandoned by a dead process


def is_enabled(cfg: AnalyzerConfig | None) -> bool:
    return cfg is None or cfg.enabled


def analyzer_instance(cls: type[Analyzer], cfg: AnalyzerConfig | None) -> Analyzer:
    if issubclass(cls, HttpAnalyzer):
        return cls(url=(cfg.options or {}).get("url") if cfg else None)
    return cls()


def handling_facts(session: Session, contribution_id: str, handling_id: int) -> policy.HandlingFacts:
    c, h = repository.input_facts(session, contribution_id=contribution_id, handling_id=handling_id)
    return policy.HandlingFacts(organisation_id=c.organisation_id, status=c.status, review_at=c.review_at,
                                expires_at=c.expires_at, category=c.category, handling=h)


def audit_run(session: Session, run: AnalyzerRun, requester: Viewer | None, egress: bool | None) -> None:
    audit.record(session, action="analyzer.run", viewer=requester if requester and requester.member_id else None,
                 member_id=run.requested_by, organisation_id=run.requested_org_id, purpose=run.purpose,
                 object_ids=[run.stix_id, *(run.result_ids or [])],
                 detail={"run_id": run.id, "analyzer": run.analyzer, "version": run.analyzer_version,
                         "trigger": run.trigger, "kind": run.kind, "status": run.status, "error": run.error,
                         "cached": run.cached, "duration_ms": run.duration_ms, "egress": egress,
                         "result_contribution_id": run.result_contribution_id})



@dataclass
class PendingReport:
    done: int = 0
    failed: int = 0
    refused: int = 0
    deferred: int = 0
    run_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": self.failed, "refused": self.refused, "deferred": self.deferred,
                "run_ids": self.run_ids}


def run_pending(session: Session, *, limit: int = 100, ids: list[int] | None = None) -> PendingReport:
    """Execute queued runs (all, or these ids) in this process; the caller commits."""
    report = PendingReport()
    now = utcnow()
    repository.purge(session, now=now)
    if ids is not None and not ids:
        return report
    stale = now - timedelta(minutes=STALE_MINUTES)
    for run in repository.claim_queued(session, limit=limit, ids=ids, stale_before=stale):
        outcome = _execute(session, run)
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.run_ids.append(run.id)
    return report


def _requester(session: Session, run: AnalyzerRun) -> Viewer | None:
    if run.requested_by:
        member = partners_repo.member_by_id(session, run.requested_by)
        return partners.access_state(session, member).viewer if member else None
    org = partners_repo.org_by_id(session, run.requested_org_id)
    return org_viewer(session, org) if org else None


def _call(instance: Analyzer, observable: Observable, *, timeout: float, threaded: bool) -> AnalyzerResult:
    """Call run(); in a worker thread bounded by the timeout unless it reads the store (same session)."""
    if not threaded:
        return instance.run(observable)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = instance.run(observable)
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"analyzer-{instance.name}", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)  # a little grace, so an analyzer's own timeout reports first
    if worker.is_alive():  # left to finish on its own; its answer is ignored
        raise AnalyzerError(f"{instance.name} did not finish within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def _checked(cls: type[Analyzer], result: Any) -> AnalyzerResult:
    if not isinstance(result, AnalyzerResult):
        raise AnalyzerError(f"{cls.name} returned {type(result).__name__}, not an AnalyzerResult")
    if not isinstance(result.summary, str) or not result.summary.strip():
        raise AnalyzerError(f"{cls.name} returned no summary")
    if isinstance(result.confidence, bool) or not isinstance(result.confidence, int) \
            or not 0 <= result.confidence <= 100:
        raise AnalyzerError(f"{cls.name} returned confidence {result.confidence!r} (needs 0-100)")
    try:
        json.dumps(result.as_dict())
    except (TypeError, ValueError) as exc:
        raise AnalyzerError(f"{cls.name} returned data that is not JSON: {exc}") from None
    return result


def cache_key(cls: type[Analyzer], kind: str, value: str, owner_id: int) -> str:
    return hashlib.sha256(f"{cls.name}\0{cls.version}\0{kind}\0{value}\0{owner_id}".encode()).hexdigest()


class _Stop(Exception):
    """Ends a run early with this status (``deferred`` leaves it queued)."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def _gates(session: Session, run: AnalyzerRun, requester: Viewer | None,
           now: datetime) -> tuple[type[Analyzer], AnalyzerConfig | None]:
    try:
        cls = registry.get(run.analyzer)
    except NotFound:
        raise _Stop("failed", f"analyzer {run.analyzer} is not installed any more") from None
    run.analyzer_version = cls.version
    cfg = repository.config(session, cls.name)
    if not is_enabled(cfg):
        raise _Stop("refused", f"analyzer {cls.name} is disabled")
    facts = handling_facts(session, run.contribution_id, run.handling_id)
    if requester is None or not policy.visible(requester, run.purpose, facts, now=now):
        raise _Stop("refused", f"the input is not readable by the requester for {run.purpose} any more")
    reason = egress_refusal(session, cls, facts, now=now)
    if reason is not None:
        raise _Stop("refused", f"not sent to {cls.name}: {reason}")
    return cls, cfg


def _analyse(session: Session, run: AnalyzerRun, cls: type[Analyzer], cfg: AnalyzerConfig | None,
             requester: Viewer, key: str, now: datetime) -> tuple[AnalyzerResult, str]:
    """(result, analysis time): from the cache while it is valid, else from the analyzer."""
    hit = repository.cache_get(session, key)
    if hit is not None and hit.expires_at > now:
        run.cached = True
        return AnalyzerResult.from_dict(hit.result), hit.result["analysed_at"]
    if cls.rate_limit:
        calls, per = cls.rate_limit
        if repository.calls_since(session, analyzer=cls.name, since=now - timedelta(seconds=per)) >= calls:
            raise _Stop("deferred", f"deferred: rate limit of {calls} calls per {per:g} s reached")
    run.status, run.called_at = "running", now
    session.flush()
    store = None
    if cls.reads_store and not cls.egress:
        contribution, handling = repository.input_facts(session, contribution_id=run.contribution_id,
                                                        handling_id=run.handling_id)
        store = results.StoreLinks(session, viewer=requester, purpose=run.purpose,
                                   result_owner=run.organisation_id, result_handling=handling,
                                   result_category=contribution.category, input_id=run.stix_id)
    try:
        result = _call(analyzer_instance(cls, cfg), Observable(run.kind, run.value, store=store), timeout=cls.timeout,
                       threaded=store is None)
        return _checked(cls, result), format_ts(now)
    except AnalyzerError as exc:
        raise _Stop("failed", str(exc)[:2000]) from None
    except Exception as exc:  # noqa: BLE001 - a plug-in's bug fails its run, not the batch
        raise _Stop("failed", f"{cls.name} raised {type(exc).__name__}: {str(exc)[:500]}") from None


def _execute(session: Session, run: AnalyzerRun) -> str:
    """One run to its end; returns the outcome: done, failed, refused or deferred."""
    clock = time.monotonic()
    now = utcnow()
    run.started_at = now
    session.flush()  # opens the transaction before the savepoint below (pysqlite)
    requester = _requester(session, run)
    cls: type[Analyzer] | None = None
    try:
        cls, cfg = _gates(session, run, requester, now)
        assert requester is not None
        key = cache_key(cls, run.kind, run.value, run.organisation_id)
        result, analysed_at = _analyse(session, run, cls, cfg, requester, key, now)
        contribution, handling = repository.input_facts(session, contribution_id=run.contribution_id,
                                                        handling_id=run.handling_id)
        owner = partners_repo.org_by_id(session, run.organisation_id)
        assert owner is not None
        try:
            with session.begin_nested():
                stored = results.store(session, analyzer=cls, kind=run.kind, value=run.value, result=result,
                                       analysed_at=analysed_at, contribution=contribution, handling=handling,
                                       owner=owner)
        except (CyberfusionError, AnalyzerError) as exc:
            detail = exc.detail if isinstance(exc, CyberfusionError) else str(exc)
            raise _Stop("failed", f"the result could not be stored: {detail}"[:2000]) from None
    except _Stop as stop:
        if stop.status == "deferred":
            run.error = stop.error
            session.flush()
            return "deferred"
        return _end(session, run, requester, cls, clock, stop.status, stop.error)
    if not run.cached:  # only results that could be stored are reused
        hours = cfg.cache_hours if cfg and cfg.cache_hours is not None else get_settings().analyzer_cache_hours
        repository.cache_put(session, key=key, analyzer=cls.name, version=cls.version,
                             organisation_id=run.organisation_id,
                             result=result.as_dict() | {"analysed_at": analysed_at},
                             created_at=parse_ts(analysed_at), expires_at=now + timedelta(hours=hours))
    run.summary, run.confidence = result.summary, result.confidence
    run.result_ids, run.result_contribution_id = stored.ids, stored.contribution_id
    return _end(session, run, requester, cls, clock, "done", None)


def _end(session: Session, run: AnalyzerRun, requester: Viewer | None, cls: type[Analyzer] | None,
         clock: float, status: str, error: str | None) -> str:
    run.status, run.error, run.finished_at = status, error, utcnow()
    run.duration_ms = int((time.monotonic() - clock) * 1000)
    session.flush()
    audit_run(session, run, requester, cls.egress if cls else None)
    return status
