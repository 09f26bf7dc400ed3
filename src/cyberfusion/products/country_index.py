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

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.intel.models import Contribution, Observable
from cyberfusion.products import geo, repository
from cyberfusion.sharing.viewer import Viewer

PAGE = 20_000


def _index_contribution(session: Session, contribution_id: str, after_pk: int) -> int:
    """Locate the contribution's observables after ``after_pk``; returns how many were linked."""
    linked = 0
    after = after_pk
    while rows := repository.observables_to_locate(session, contribution_id=contribution_id, after_pk=after,
                                                   kinds=geo.LOCATABLE_KINDS, limit=PAGE):
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
        after = rows[-1].pk
    top = session.scalar(select(func.max(Observable.pk)).where(Observable.contribution_id == contribution_id))
    repository.set_indexed(session, contribution_id=contribution_id, max_pk=int(top or 0))
    return linked


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
    return _index_contribution(session, contribution_id, 0)


def ensure_indexed(session: Session) -> int:
    """Back-fill contributions never indexed (data imported before the index existed)."""
    return sum(_index_contribution(session, cid, after) for cid, after in
               repository.contributions_to_index(session, full=False))


def reindex(session: Session, *, full: bool = False) -> dict[str, int]:
    """Index whatever is missing (``full``: drop the index and rebuild it, e.g. after the
    geolocation data changed). Returns contributions visited and observables linked."""
    if full:
        repository.clear_country_index(session)
    todo = repository.contributions_to_index(session, full=True)
    linked = sum(_index_contribution(session, cid, after) for cid, after in todo)
    return {"contributions": len(todo), "linked": linked}
