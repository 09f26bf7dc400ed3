"""The per-observable country index: which country each stored value points at, decided once.

Locating a value (IP geolocation in the packaged GeoLite2 data, ccTLD, IBAN and phone country
codes) costs microseconds, but doing it for every stored observable on every report run made
reports scale with the whole store. So it is done once per observable, set-based per
contribution, by a ``reports.index`` job that every import queues (``after_import``, called by
the import pipeline next to fusion's hook), and a report reads ``observable_countries`` by country and period through its
index, joined back to the observables whose policy keys the gate decides.

Observables stored before the index existed are back-filled on first use (``ensure_indexed``,
called by every report run: contributions never indexed) or by ``cfc report reindex``
(``reindex``: also observables added to a contribution afterwards, or ``full`` to rebuild
after the geolocation data changed). Links stated in the data (a ``location`` related to the
object) are not indexed: they depend on who may read the relationship and are resolved per
recipient at read time.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.intel.models import Contribution, Observable
from cyberfusion.jobs import repository as job_repository
from cyberfusion.products import geo, repository
from cyberfusion.sharing.viewer import Viewer

PAGE = 20_000


def _index_contribution(session: Session, contribution_id: str, after_pk: int,
                        limit: int | None = None) -> tuple[int, int, bool, int]:
    """Locate the contribution's observables after ``after_pk``, stopping after the page that
    reaches ``limit`` rows read; returns (observables linked, last pk read, complete, rows read).
    Complete, its state row says so; not complete, only the caller knows how far it got."""
    linked = 0
    after = after_pk
    read = 0
    page = PAGE if limit is None else max(1, min(PAGE, limit))
    while rows := repository.observables_to_locate(session, contribution_id=contribution_id, after_pk=after,
                                                   kinds=geo.LOCATABLE_KINDS, limit=page):
        batch: list[dict[str, Any]] = []
        last = None
        for r in rows:
            if r.pk == last:  # another version of the same object: the newest came first
                continue
            last = r.pk
            loc = geo.locate(r.kind, r.value)
            if loc is not None:
                batch.append({"country": loc.country, "seen_at": r.seen_at, "observable_pk": r.pk,
                              "basis": loc.basis, "detail": loc.detail[:200], "kind": r.kind, "value": r.value,
                              "stix_id": r.stix_id, "contribution_id": r.contribution_id,
                              "handling_id": r.handling_id, "organisation_id": r.organisation_id,
                              "confidence": r.confidence, "labels": r.labels or None, "name": r.name})
        repository.insert_countries(session, batch)
        linked += len(batch)
        read += len(rows)
        # A page ending inside one observable's versions loses only older versions (the newest
        # comes first and was taken): resuming after its pk is right.
        after = rows[-1].pk
        if limit is not None and read >= limit and len(rows) == page:
            return linked, after, False, read
    top = session.scalar(select(func.max(Observable.pk)).where(Observable.contribution_id == contribution_id))
    repository.set_indexed(session, contribution_id=contribution_id, max_pk=int(top or 0))
    return linked, after, True, read


JOB_KIND = "reports.index"


def after_import(session: Session, *, contribution: Contribution, viewer: Viewer,
                 now: datetime | None = None) -> None:
    """The import pipeline's hook: queue one ``reports.index`` job (one waiting job serves every
    import before it), in the import's transaction. Locating is not done in the import itself:
    it was 22% of import CPU (cProfile, 20k indicators), and a report run back-fills whatever
    the job has not reached yet (``ensure_indexed``), so reports are complete either way."""
    from cyberfusion.jobs import handlers  # noqa: F401 - registers the job kinds
    from cyberfusion.jobs.service import enqueue

    enqueue(session, kind=JOB_KIND, unique=True)


def index_contribution(session: Session, contribution_id: str) -> int:
    """Index one contribution now (tests, tools); returns how many observables were linked."""
    return _index_contribution(session, contribution_id, 0)[0]


# What one run of the job locates at most. The job's transaction holds SQLite's one write lock
# from its first insert to its commit; locating a whole large contribution in one transaction
# (1M observables: minutes) made every write of the API wait out its busy timeout and fail with
# 503 (benchmarks/load.py, 2026-11-27). A run now stops after a step and queues the rest; a
# step's lock is held for its inserts only (the rows are read and located before them).
JOB_STEP = 5_000
# And for how long it goes on to the next contribution: from the first contribution's first
# insert to the commit, the lock is held through the next ones' reads and locating too. A run
# over the contributions of several uploads held it 27 ms p50, 105 ms p99 at 1M under load
# (benchmarks/load.py --trace-lock, 2026-11-27); each contribution after this long is a run of its own.
STEP_SECONDS = 0.01


def in_progress(session: Session) -> dict[str, int]:
    """Contributions a queued or running job is part way through: contribution -> pk reached."""
    return {str(p["contribution"]): int(p.get("after", 0))
            for p in job_repository.payloads_of_kind(session, JOB_KIND, statuses=("queued", "running"))
            if p.get("contribution")}


def index_step(session: Session, *, contribution_id: str | None = None, after_pk: int = 0,
               limit: int | None = None) -> dict[str, Any]:
    """One run of the ``reports.index`` job: about ``limit`` observables — the rest of the
    contribution the payload names, then contributions never indexed that no other job is part
    way through — and queue what is left (the rest of a contribution, or the next ones)."""
    from cyberfusion.jobs.service import enqueue

    limit = JOB_STEP if limit is None else limit
    if contribution_id is not None and (repository.index_state(session, contribution_id) is not None
                                        or not repository.contribution_exists(session, contribution_id)):
        contribution_id = None  # completed meanwhile (a report run back-fills too), or deleted (retention)
    busy = in_progress(session)
    todo = [(contribution_id, after_pk)] if contribution_id is not None else []
    todo += [(cid, 0) for cid, _after in repository.contributions_to_index(session, full=False)
             if cid != contribution_id and cid not in busy]
    linked, budget, visited = 0, limit, []
    started = time.monotonic()
    for i, (cid, after) in enumerate(todo):
        n, reached, done, read = _index_contribution(session, cid, after, limit=budget)
        linked, budget = linked + n, budget - read
        visited.append(cid)
        if not done:
            enqueue(session, kind=JOB_KIND, payload={"contribution": cid, "after": reached})
            break
        if (budget <= 0 or time.monotonic() - started >= STEP_SECONDS) and i + 1 < len(todo):
            enqueue(session, kind=JOB_KIND, unique=True)
            break
    return {"contributions": visited, "linked": linked}


def ensure_indexed(session: Session) -> int:
    """Back-fill contributions never indexed (data imported before the index existed, or whose
    job has not finished): from where a job got to, so nothing is located twice."""
    busy = in_progress(session)
    return sum(_index_contribution(session, cid, busy.get(cid, after))[0] for cid, after in
               repository.contributions_to_index(session, full=False))


def reindex(session: Session, *, full: bool = False) -> dict[str, int]:
    """Index whatever is missing (``full``: drop the index and rebuild it, e.g. after the
    geolocation data changed). Returns contributions visited and observables linked."""
    if full:
        repository.clear_country_index(session)
    busy = {} if full else in_progress(session)
    todo = repository.contributions_to_index(session, full=True)
    linked = sum(_index_contribution(session, cid, max(after, busy.get(cid, 0)))[0] for cid, after in todo)
    return {"contributions": len(todo), "linked": linked}
