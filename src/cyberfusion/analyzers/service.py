"""Running analyzers on stored intelligence, under the owner's handling rules: queueing,
listing runs, configuration.

A run is a record (queued → running → done | failed; refused when a gate says no) that
``runs.run_pending`` executes. The CLI and the API run it right after queueing unless asked
not to wait; automatic runs on ingest (``analyze_contribution``, called by
``ingest.pipeline.import_file``) are queued together with an ``analyzers.run`` job in the
same transaction, so ``cfc worker`` (or the server's in-process worker) runs them. Claims
are FOR UPDATE SKIP LOCKED on PostgreSQL, and every step flushes, never commits.

Gates, in order, at queueing and again at execution (handling and access may change):
  1. the requester reads the input through the policy filter for the stated purpose;
  2. for an analyzer with egress, ``gate.egress_refusal`` (policy with the owner's viewer).
Every run that ends (done, failed, refused) leaves an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.analyzers import registry, repository, results
from cyberfusion.analyzers.base import Analyzer
from cyberfusion.analyzers.gate import egress_refusal, org_viewer
from cyberfusion.analyzers.http import HttpAnalyzer
from cyberfusion.analyzers.models import AnalyzerConfig, AnalyzerRun
from cyberfusion.analyzers.runs import (
    PendingReport,
    audit_run,
    handling_facts,
    is_enabled,
    run_pending,
)
from cyberfusion.audit import service as audit
from cyberfusion.config import get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.intel import repository as intel_repo
from cyberfusion.intel.models import Contribution
from cyberfusion.kit.observables import detect
from cyberfusion.kit.refang import refang
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer

MAX_INPUTS = 20  # holders of one value (distinct contribution and handling) analysed per request
AUTO_PURPOSE = "investigation"
RUN_ROLES = ("analyst", "contributor")


# --- analyzers and their configuration -----------------------------------------------------------

def _describe(cls: type[Analyzer], cfg: AnalyzerConfig | None) -> dict[str, Any]:
    out = {"name": cls.name, "version": cls.version, "description": cls.description,
           "owner": cls.owner or "host centre", "accepts": sorted(cls.accepts), "egress": cls.egress,
           "rate_limit": f"{cls.rate_limit[0]}/{cls.rate_limit[1]:g}s" if cls.rate_limit else None,
           "timeout": cls.timeout, "enabled": is_enabled(cfg), "auto_kinds": list(cfg.auto_kinds) if cfg else [],
           "budget": cfg.budget if cfg and cfg.budget else get_settings().analyzer_budget,
           "cache_hours": cfg.cache_hours if cfg and cfg.cache_hours is not None
           else get_settings().analyzer_cache_hours}
    if issubclass(cls, HttpAnalyzer):
        out["url"] = ((cfg.options or {}) if cfg else {}).get("url") or cls.url
    return out


def list_analyzers(session: Session) -> list[dict[str, Any]]:
    cfgs = repository.configs(session)
    return [_describe(cls, cfgs.get(cls.name)) for cls in registry.all_analyzers()]


def configure(session: Session, *, name: str, enabled: bool | None = None, auto_kinds: list[str] | None = None,
              budget: int | None = None, cache_hours: int | None = None, url: str | None = None,
              actor: Viewer | None = None) -> dict[str, Any]:
    """Change an analyzer's operator settings (absent arguments keep their value)."""
    cls = registry.get(name)
    if auto_kinds is not None and (bad := sorted(set(auto_kinds) - cls.accepts)):
        raise InvalidInput(f"{name} does not accept {', '.join(bad)} (it accepts {', '.join(sorted(cls.accepts))})",
                           field="auto_kinds")
    if budget is not None and budget < 1:
        raise InvalidInput("must be at least 1", field="budget")
    if cache_hours is not None and cache_hours < 0:
        raise InvalidInput("must not be negative", field="cache_hours")
    if url is not None:
        if not issubclass(cls, HttpAnalyzer):
            raise InvalidInput(f"{name} is not an HTTP analyzer", field="url")
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("must start with http:// or https://", field="url")
    cfg = repository.config(session, name)
    if cfg is None:
        cfg = AnalyzerConfig(name=name, enabled=True, auto_kinds=[], options={}, updated_at=utcnow())
        repository.add(session, cfg)
    if enabled is not None:
        cfg.enabled = enabled
    if auto_kinds is not None:
        cfg.auto_kinds = sorted(set(auto_kinds))
    if budget is not None:
        cfg.budget = budget
    if cache_hours is not None:
        cfg.cache_hours = cache_hours
    if url is not None:
        cfg.options = {**(cfg.options or {}), "url": url}
    cfg.updated_at = utcnow()
    session.flush()
    audit.record(session, action="analyzer.configure", viewer=actor,
                 detail={"analyzer": name, "enabled": cfg.enabled, "auto_kinds": cfg.auto_kinds,
                         "budget": cfg.budget, "cache_hours": cfg.cache_hours, "url": url})
    return _describe(cls, cfg)


# --- runs as their requesters see them --------------------------------------------------------------

def run_view(run: AnalyzerRun, viewer: Viewer) -> dict[str, Any]:
    return {"id": run.id, "analyzer": run.analyzer, "version": run.analyzer_version, "trigger": run.trigger,
            "kind": run.kind, "value": run.value, "input": run.stix_id, "purpose": run.purpose,
            "status": run.status, "error": run.error, "summary": run.summary, "confidence": run.confidence,
            "cached": run.cached, "results": run.result_ids or [],
            # A contribution id is shown to its owner only, as on object pages.
            "result_contribution_id": run.result_contribution_id if viewer.org_id == run.organisation_id else None,
            "requested_by_you": viewer.org_id == run.requested_org_id,
            "created_at": run.created_at, "finished_at": run.finished_at, "duration_ms": run.duration_ms}


def list_runs(session: Session, *, viewer: Viewer, purpose: str, status: str | None = None,
              analyzer: str | None = None, stix_id: str | None = None, mine: bool = False,
              before: int | None = None, limit: int = 50) -> dict[str, Any]:
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= 500:
        raise InvalidInput("must be between 1 and 500", field="limit")
    rows = repository.list_runs(session, viewer=viewer, purpose=purpose, status=status, analyzer=analyzer,
                                stix_id=stix_id, mine=mine, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    audit.record(session, action="analyzer.runs.read", viewer=viewer, purpose=purpose,
                 object_ids=sorted({r.stix_id for r in rows}), detail={"runs": [r.id for r in rows]})
    return {"items": [run_view(r, viewer) for r in rows], "next": rows[-1].id if more and rows else None}


def get_run(session: Session, *, viewer: Viewer, purpose: str, run_id: int) -> dict[str, Any]:
    policy.require_purpose(viewer, purpose)
    run = repository.run_readable(session, viewer=viewer, purpose=purpose, run_id=run_id)
    if run is None:
        raise NotFound(f"no analyzer run {run_id}")
    audit.record(session, action="analyzer.runs.read", viewer=viewer, purpose=purpose, object_ids=[run.stix_id],
                 detail={"runs": [run.id]})
    return run_view(run, viewer)


# --- queueing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Input:
    kind: str
    value: str
    stix_id: str
    contribution_id: str
    handling_id: int
    organisation_id: int


def _queue(session: Session, *, cls: type[Analyzer], inp: _Input, requester: Viewer, purpose: str,
           trigger: str, now: datetime) -> AnalyzerRun:
    """A queued run, the one already waiting for the same work, or a refused one saying why."""
    existing = repository.open_run(session, analyzer=cls.name, version=cls.version, kind=inp.kind, value=inp.value,
                                   contribution_id=inp.contribution_id, handling_id=inp.handling_id,
                                   requested_org_id=requester.org_id)
    if existing is not None:
        return existing
    run = AnalyzerRun(analyzer=cls.name, analyzer_version=cls.version, trigger=trigger, kind=inp.kind,
                      value=inp.value, stix_id=inp.stix_id, contribution_id=inp.contribution_id,
                      handling_id=inp.handling_id, organisation_id=inp.organisation_id, purpose=purpose,
                      requested_by=requester.member_id or None, requested_org_id=requester.org_id,
                      status="queued", cached=False, created_at=now)
    reason = egress_refusal(session, cls, handling_facts(session, inp.contribution_id, inp.handling_id), now=now)
    if reason is not None:
        run.status, run.error, run.finished_at, run.duration_ms = "refused", f"not sent to {cls.name}: {reason}", now, 0
    repository.add(session, run)
    if run.status == "refused":
        audit_run(session, run, requester, cls.egress)
    return run


def _chosen(kind: str, analyzer: str | None, cfgs: dict[str, AnalyzerConfig]) -> list[type[Analyzer]]:
    if analyzer:
        cls = registry.get(analyzer)
        registry.require_accepts(cls, kind)
        if not is_enabled(cfgs.get(cls.name)):
            raise InvalidInput(f"analyzer {analyzer} is disabled", field="analyzer")
        return [cls]
    return [cls for cls in registry.for_kind(kind) if is_enabled(cfgs.get(cls.name))]


def _start(session: Session, viewer: Viewer, purpose: str) -> None:
    policy.require_purpose(viewer, purpose)
    partners.require_role(viewer, *RUN_ROLES)


def _finish_request(session: Session, *, viewer: Viewer, purpose: str, runs: list[AnalyzerRun],
                    execute: bool) -> list[dict[str, Any]]:
    audit.record(session, action="analyzer.request", viewer=viewer, purpose=purpose,
                 object_ids=sorted({r.stix_id for r in runs}), detail={"runs": [r.id for r in runs]})
    _dispatch(session, [r.id for r in runs if r.status == "queued"], execute=execute)
    return [run_view(r, viewer) for r in runs]


JOB_KIND = "analyzers.run"


def _dispatch(session: Session, queued: list[int], *, execute: bool) -> None:
    """Run these queued runs now, or hand them to the job queue (same transaction)."""
    if not queued:
        return
    if execute:
        run_pending(session, ids=queued)
        return
    from cyberfusion.jobs import handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.jobs.service import enqueue

    enqueue(session, kind=JOB_KIND, payload={"ids": queued})


def analyze_value(session: Session, *, viewer: Viewer, purpose: str, value: str, analyzer: str | None = None,
                  trigger: str = "manual", execute: bool = True) -> list[dict[str, Any]]:
    """Run analyzers on a value the viewer may read for this purpose, once per holder's handling."""
    _start(session, viewer, purpose)
    hit = detect(refang(value or ""))
    if hit is None:
        raise InvalidInput(f"not an observable value: {value!r}", field="value")
    kind, canonical = hit
    chosen = _chosen(kind, analyzer, repository.configs(session))
    if not chosen:
        raise InvalidInput(f"no enabled analyzer accepts {kind}", field="value")
    holders = repository.inputs_for_value(session, viewer=viewer, purpose=purpose, kind=kind, value=canonical,
                                          limit=MAX_INPUTS)
    if not holders:
        raise NotFound(f"no intelligence you may read for {purpose} holds {canonical}")
    now = utcnow()
    runs = [_queue(session, cls=cls, inp=_Input(kind, canonical, *h), requester=viewer, purpose=purpose,
                   trigger=trigger, now=now) for cls in chosen for h in holders]
    return _finish_request(session, viewer=viewer, purpose=purpose, runs=runs, execute=execute)


def analyze_object(session: Session, *, viewer: Viewer, purpose: str, stix_id: str, analyzer: str | None = None,
                   trigger: str = "api", execute: bool = True) -> list[dict[str, Any]]:
    """Run analyzers on every observable of the latest version of an object the viewer may read."""
    _start(session, viewer, purpose)
    versions = intel_repo.versions(session, viewer=viewer, purpose=purpose, stix_id=stix_id)
    if not versions:
        raise NotFound(f"no object {stix_id}")
    row = versions[0]
    cfgs = repository.configs(session)
    pairs = repository.observables_of_version(session, row)
    if analyzer:
        registry.get(analyzer)
        pairs = [(k, v) for k, v in pairs if k in registry.get(analyzer).accepts]
        if not pairs:
            raise InvalidInput(f"analyzer {analyzer} accepts none of this object's observables", field="analyzer")
    if not pairs:
        raise InvalidInput("this object holds no observable to analyse", field="stix_id")
    now = utcnow()
    runs = [_queue(session, cls=cls, inp=_Input(k, v, row.stix_id, row.contribution_id, row.handling_id,
                                                row.organisation_id),
                   requester=viewer, purpose=purpose, trigger=trigger, now=now)
            for k, v in pairs for cls in _chosen(k, analyzer, cfgs)]
    return _finish_request(session, viewer=viewer, purpose=purpose, runs=runs, execute=execute)


def _owner_viewer(session: Session, contribution: Contribution) -> Viewer:
    member = partners_repo.member_by_id(session, contribution.member_id) if contribution.member_id else None
    if member is not None:
        state = partners.access_state(session, member)
        if state.viewer is not None:
            return state.viewer
    org = partners_repo.org_by_id(session, contribution.organisation_id)
    assert org is not None
    return org_viewer(session, org)


def analyze_contribution(session: Session, contribution_id: str, *, viewer: Viewer | None = None,
                         purpose: str = AUTO_PURPOSE, execute: bool = False) -> dict[str, Any]:
    """Queue the configured automatic runs for a new contribution (per kind, within each budget).

    ``import_file`` calls it in the import's transaction; the runs happen in an ``analyzers.run``
    job, or now with ``execute``. Results of analyzers are not analysed again.
    """
    contribution = _contribution(session, contribution_id)
    if contribution.source_format == results.SOURCE_FORMAT:
        return {"queued": 0, "run_ids": [], "over_budget": {}}
    requester = viewer or _owner_viewer(session, contribution)
    default_budget = get_settings().analyzer_budget
    now = utcnow()
    runs: list[AnalyzerRun] = []
    over: dict[str, int] = {}
    for name, cfg in sorted(repository.configs(session).items()):
        if not cfg.enabled or not cfg.auto_kinds:
            continue
        try:
            cls = registry.get(name)
        except NotFound:
            continue
        rows = repository.contribution_observables(session, contribution_id=contribution_id,
                                                   kinds=sorted(set(cfg.auto_kinds) & cls.accepts))
        budget = cfg.budget or default_budget
        if len(rows) > budget:
            over[name] = len(rows) - budget
        for kind, value, stix_id, handling_id in rows[:budget]:
            inp = _Input(kind, value, stix_id, contribution_id, handling_id, contribution.organisation_id)
            runs.append(_queue(session, cls=cls, inp=inp, requester=requester, purpose=purpose, trigger="ingest",
                               now=now))
    queued = [r.id for r in runs if r.status == "queued"]
    _dispatch(session, queued, execute=execute)
    return {"queued": len(queued), "run_ids": [r.id for r in runs], "over_budget": over}


def _contribution(session: Session, contribution_id: str) -> Contribution:
    contribution = session.get(Contribution, contribution_id)
    if contribution is None:
        raise NotFound(f"no contribution {contribution_id}")
    return contribution


__all__ = ["PendingReport", "analyze_contribution", "analyze_object", "analyze_value", "configure",
           "get_run", "list_analyzers", "list_runs", "run_pending", "run_view"]
