"""What the tasking packages share: notifications, and intelligence references read through the gate."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput
from cyberfusion.intel.models import StixObject
from cyberfusion.intel.service import summary
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import repository
from cyberfusion.tasking.models import Notification

_STIX_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,60}--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
MAX_REFS = 500


def stix_ids(values: Iterable[str], field: str) -> list[str]:
    """Validated, de-duplicated STIX ids in the given order."""
    out: list[str] = []
    for v in values:
        v = (v or "").strip()
        if not _STIX_ID.match(v):
            raise InvalidInput(f"not a STIX id: {v!r}", field=field)
        if v not in out:
            out.append(v)
    if len(out) > MAX_REFS:
        raise InvalidInput(f"at most {MAX_REFS} references", field=field)
    return out


def require_readable(session: Session, *, viewer: Viewer, purpose: str, ids: list[str], field: str) -> None:
    """Only what the writer may read can be referenced; the same message whether unreadable or absent."""
    if not ids:
        return
    policy.require_purpose(viewer, purpose)
    readable = {r.stix_id for r in repository.readable_objects(session, viewer=viewer, purpose=purpose,
                                                               stix_ids=ids)}
    missing = [i for i in ids if i not in readable]
    if missing:
        raise InvalidInput(f"not readable by you for {purpose!r}, or no such object: {missing[0]}", field=field)


def read_references(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Iterable[str] = (),
                    contribution_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Summaries of the referenced objects this viewer may read for the purpose (the caller audits).

    Nothing is said about references the viewer may not read: not even how many there are.
    """
    if not viewer.may_receive or purpose not in viewer.agreement_purposes:
        return []
    rows = repository.readable_objects(session, viewer=viewer, purpose=purpose, stix_ids=stix_ids,
                                       contribution_ids=contribution_ids)
    return [summary(r) for r in rows]


def audit_read(session: Session, *, viewer: Viewer, action: str, purpose: str | None,
               objects: list[dict[str, Any]], detail: dict[str, Any]) -> None:
    """One audit entry per read, naming every intelligence object it returned."""
    audit.record(session, action=action, viewer=viewer, purpose=purpose,
                 object_ids=[o["id"] for o in objects], detail=detail)


def readable_rows(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Iterable[str],
                  disseminate: bool) -> list[StixObject]:
    if not viewer.may_receive or purpose not in viewer.agreement_purposes:
        return []
    return repository.readable_objects(session, viewer=viewer, purpose=purpose, stix_ids=stix_ids,
                                       disseminate=disseminate)


# --- notifications ---------------------------------------------------------------------------------

def notify(session: Session, *, organisation_id: int, member_id: int | None, kind: str, subject: str,
           body: str = "", ref: str = "", now: datetime | None = None) -> Notification:
    n = Notification(created_at=now or utcnow(), organisation_id=organisation_id, member_id=member_id, kind=kind,
                     subject=subject[:300], body=body, ref=ref)
    repository.add(session, n)
    return n


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    created_at: datetime
    kind: str
    subject: str
    body: str
    ref: str
    read: bool

    @classmethod
    def of(cls, n: Notification) -> NotificationView:
        return cls(n.id, n.created_at, n.kind, n.subject, n.body, n.ref, n.read_at is not None)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "kind": self.kind, "subject": self.subject,
                "body": self.body, "ref": self.ref, "read": self.read}


def my_notifications(session: Session, *, viewer: Viewer, unread_only: bool = False, after_id: int = 0,
                     limit: int = 100) -> list[NotificationView]:
    if not 1 <= limit <= 500:
        raise InvalidInput("must be between 1 and 500", field="limit")
    return [NotificationView.of(n) for n in repository.notifications_for(
        session, viewer=viewer, unread_only=unread_only, after_id=after_id, limit=limit)]


def mark_read(session: Session, *, viewer: Viewer, ids: list[int]) -> int:
    count = repository.mark_read(session, viewer=viewer, ids=ids, at=utcnow())
    audit.record(session, action="tasking.notifications.read", viewer=viewer, detail={"ids": ids[:100]})
    return count
