"""All SQL of trend monitoring: events the viewer may read, through the policy gate."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, select
from sqlalchemy.orm import Session

from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.intel.repository import objects_readable, observables_readable
from cyberfusion.sharing.viewer import Viewer


def indicator_observables(session: Session, *, viewer: Viewer, purpose: str, since: datetime, until: datetime,
                          disseminate: bool = False) -> Iterator[Row[Any]]:
    """(stix_id, kind, value, seen_at, organisation_id, category) of readable indicators seen in the window."""
    o = Observable
    q = (select(o.stix_id, o.kind, o.value, o.seen_at, o.organisation_id, Contribution.category)
         .join(Contribution, Contribution.id == o.contribution_id)
         .where(observables_readable(viewer, purpose, disseminate=disseminate), o.object_type == "indicator",
                o.seen_at >= since, o.seen_at < until))
    yield from session.execute(q.execution_options(yield_per=20_000))


def objects_created(session: Session, *, viewer: Viewer, purpose: str, types: Sequence[str], since: datetime,
                    until: datetime, disseminate: bool = False) -> Iterator[Row[Any]]:
    """(stix_id, type, created, organisation_id, category, data) of readable objects created in the window."""
    s = StixObject
    q = (select(s.stix_id, s.type, s.created, s.organisation_id, Contribution.category, s.data)
         .join(Contribution, Contribution.id == s.contribution_id)
         .where(objects_readable(viewer, purpose, disseminate=disseminate), s.type.in_(list(types)),
                s.created >= since, s.created < until))
    yield from session.execute(q.execution_options(yield_per=5_000))


def targeting(session: Session, *, viewer: Viewer, purpose: str,
              disseminate: bool = False) -> list[tuple[str, str, str]]:
    """(source_ref, target identity id, relationship JSON) of readable relationships to identities."""
    s = StixObject
    q = select(s.source_ref, s.target_ref, s.data).where(
        objects_readable(viewer, purpose, disseminate=disseminate), s.type == "relationship",
        s.target_ref.like("identity--%"))
    return [(r[0], r[1], r[2]) for r in session.execute(q)]


def identities(session: Session, *, viewer: Viewer, purpose: str, ids: Sequence[str],
               disseminate: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    ids = sorted(set(ids))
    for i in range(0, len(ids), 500):
        q = select(StixObject.stix_id, StixObject.data).where(
            and_(StixObject.stix_id.in_(ids[i:i + 500]), objects_readable(viewer, purpose, disseminate=disseminate)))
        out.update((r[0], r[1]) for r in session.execute(q))
    return out
