"""Retention: hide at the review date or hard expiry, delete after a grace period, warn owners early.

Reads never depend on this job having run: the policy gate hides a contribution by
its dates alone. The job makes the state explicit, removes the rows and tells owners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.fusion import correlate
from cyberfusion.intel import repository
from cyberfusion.intel.models import Contribution

NOTICE_BEFORE = timedelta(days=182)  # owners hear six months before the review date


@dataclass
class RetentionReport:
    notified: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    deleted_objects: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"notified": len(self.notified), "hidden": len(self.hidden), "deleted": len(self.deleted),
                "deleted_objects": self.deleted_objects, "contributions": {
                    "notified": self.notified, "hidden": self.hidden, "deleted": self.deleted}}


def run(session: Session, *, grace_days: int, now: datetime | None = None) -> RetentionReport:
    now = now or utcnow()
    report = RetentionReport()
    for c in repository.contributions_to_notify(session, before=now + NOTICE_BEFORE):
        c.review_notified_at = now
        report.notified.append(c.id)
        audit.record(session, action="retention.notify", organisation_id=c.organisation_id,
                     object_ids=[c.id], detail={"review_at": c.review_at.isoformat()})
    for c in repository.contributions_due(session, now=now):
        c.status, c.hidden_at = "hidden", now
        report.hidden.append(c.id)
        audit.record(session, action="retention.hide", organisation_id=c.organisation_id, object_ids=[c.id],
                     detail={"review_at": c.review_at.isoformat(),
                             "expires_at": c.expires_at.isoformat() if c.expires_at else None})
    for c in repository.hidden_before(session, cutoff=now - timedelta(days=grace_days)):
        report.deleted.append(c.id)
        report.deleted_objects += delete(session, contribution=c, now=now)
    session.flush()
    return report


def delete(session: Session, *, contribution: Contribution, now: datetime,
           superseded_by: str | None = None) -> int:
    """Remove a contribution's rows for good (it must be out of force already); returns the
    number of objects removed. ``superseded_by``: the owner contributed its data again before
    the grace period ended (the import that does so calls this), recorded in the audit entry."""
    c = contribution
    # The per-value aggregates (over-correlation guard) count contributions: take this one
    # out while its observables and terms still say which values it held.
    correlate.forget_contribution(session, contribution_id=c.id)
    objects, observables = repository.delete_contribution_rows(session, c.id)
    c.status = "deleted"
    c.hidden_at = c.hidden_at or now
    detail: dict[str, object] = {"objects": objects, "observables": observables}
    if superseded_by is not None:
        detail["superseded_by"] = superseded_by
    audit.record(session, action="retention.delete", organisation_id=c.organisation_id, object_ids=[c.id],
                 detail=detail)
    return objects
