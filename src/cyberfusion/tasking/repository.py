"""SQL shared by the tasking packages: notifications, and policy-gated reads of referenced intelligence.

Every read of intelligence here takes the viewer and purpose and applies the policy gate
(``intel.repository.objects_readable``), so a reference never shows more than the reader may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, false, or_, select, update
from sqlalchemy.orm import Session, aliased

from cyberfusion.intel.models import StixObject
from cyberfusion.intel.repository import objects_readable
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.models import Notification


def add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def add_all(session: Session, rows: Iterable[object]) -> None:
    session.add_all(list(rows))
    session.flush()


def delete(session: Session, row: object) -> None:
    session.delete(row)
    session.flush()


# --- intelligence referenced by RFIs, projects and groups ------------------------------------------

def _latest(viewer: Viewer, purpose: str, disseminate: bool):  # type: ignore[no-untyped-def]
    newer = aliased(StixObject)
    return ~exists().where(newer.stix_id == StixObject.stix_id, newer.modified > StixObject.modified,
                           objects_readable(viewer, purpose, newer, disseminate=disseminate))


def readable_objects(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Iterable[str] = (),
                     contribution_ids: Iterable[str] = (), disseminate: bool = False,
                     limit: int = 1000) -> list[StixObject]:
    """Latest readable versions among the given ids or contributions, in (type, stix_id) order."""
    ids, contributions = sorted(set(stix_ids)), sorted(set(contribution_ids))
    if not ids and not contributions:
        return []
    q = select(StixObject).where(objects_readable(viewer, purpose, disseminate=disseminate),
                                 _latest(viewer, purpose, disseminate))
    q = q.where(or_(StixObject.stix_id.in_(ids) if ids else false(),
                    StixObject.contribution_id.in_(contributions) if contributions else false()))
    rows = list(session.scalars(q.order_by(StixObject.type, StixObject.stix_id, StixObject.pk).limit(limit)))
    seen: set[str] = set()
    out = []
    for r in rows:  # two owners may hold the same version: show it once
        if r.stix_id not in seen:
            seen.add(r.stix_id)
            out.append(r)
    return out


# --- notifications ---------------------------------------------------------------------------------

def _addressed_to(viewer: Viewer):  # type: ignore[no-untyped-def]
    return (Notification.organisation_id == viewer.org_id) & or_(
        Notification.member_id.is_(None), Notification.member_id == viewer.member_id)


def notifications_for(session: Session, *, viewer: Viewer, unread_only: bool, after_id: int = 0,
                      limit: int = 100) -> list[Notification]:
    q = select(Notification).where(_addressed_to(viewer), Notification.id > after_id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    return list(session.scalars(q.order_by(Notification.id).limit(limit)))


def notifications_by_ref(session: Session, ref: str) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.ref == ref).order_by(Notification.id)))


def mark_read(session: Session, *, viewer: Viewer, ids: list[int], at: datetime) -> int:
    result = session.execute(update(Notification).where(_addressed_to(viewer), Notification.id.in_(ids),
                                                         Notification.read_at.is_(None)).values(read_at=at))
    return int(result.rowcount or 0)
