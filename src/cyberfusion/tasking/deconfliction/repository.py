"""All SQL of the deconfliction register. Others' activities are read only to find overlaps;
who may see an activity is a statement filter (``visible_to``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, or_, select, true
from sqlalchemy.orm import Session

from cyberfusion.db import for_update as locked
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking.common import is_host_analyst
from cyberfusion.tasking.deconfliction.models import Activity, ActivityTarget, Overlap


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """The owner organisation; the host centre's own staff run the register and see every activity
    (seconded experts do not see partners' activities)."""
    conds: list[ColumnElement[bool]] = [Activity.owner_org_id == viewer.org_id]
    if is_host_analyst(viewer) and viewer.secondment_id is None:
        conds.append(true())
    return or_(*conds)


def get(session: Session, activity_id: int, *, for_update: bool = False) -> Activity | None:
    q = select(Activity).where(Activity.id == activity_id)
    return session.scalar(locked(session, q) if for_update else q)


def get_visible(session: Session, *, viewer: Viewer, activity_id: int) -> Activity | None:
    return session.scalar(select(Activity).where(Activity.id == activity_id, visible_to(viewer)))


def list_visible(session: Session, *, viewer: Viewer, status: str | None, after_id: int,
                 limit: int) -> list[Activity]:
    q = select(Activity).where(visible_to(viewer), Activity.id > after_id)
    if status:
        q = q.where(Activity.status == status)
    return list(session.scalars(q.order_by(Activity.id).limit(limit)))


def targets(session: Session, activity_id: int) -> list[ActivityTarget]:
    return list(session.scalars(select(ActivityTarget).where(ActivityTarget.activity_id == activity_id)
                                .order_by(ActivityTarget.kind, ActivityTarget.value)))


def replace_targets(session: Session, *, activity_id: int, pairs: Sequence[tuple[str, str]]) -> None:
    session.execute(delete(ActivityTarget).where(ActivityTarget.activity_id == activity_id))
    session.add_all([ActivityTarget(activity_id=activity_id, kind=k, value=v) for k, v in pairs])
    session.flush()


def sharing_targets(session: Session, *, pairs: Sequence[tuple[str, str]], other_than_org: int) -> list[int]:
    """Active activities of other organisations holding any of these (kind, value) targets.

    The targets are looked up through the (kind, value) index first (kind IN … AND value IN …, then
    the exact pairs), so the cost follows the matches, not the size of the register.
    """
    if not pairs:
        return []
    wanted = set(pairs)
    rows = session.execute(select(ActivityTarget.activity_id, ActivityTarget.kind, ActivityTarget.value)
                           .where(ActivityTarget.kind.in_(sorted({k for k, _ in wanted})),
                                  ActivityTarget.value.in_(sorted({v for _, v in wanted}))))
    ids = sorted({a for a, k, v in rows if (k, v) in wanted})
    if not ids:
        return []
    return list(session.scalars(select(Activity.id).where(Activity.id.in_(ids), Activity.status == "active",
                                                          Activity.owner_org_id != other_than_org)
                                .order_by(Activity.id)))


def overlaps_of(session: Session, activity_id: int) -> list[Overlap]:
    return list(session.scalars(select(Overlap).where(or_(Overlap.activity_a_id == activity_id,
                                                          Overlap.activity_b_id == activity_id))
                                .order_by(Overlap.id)))
