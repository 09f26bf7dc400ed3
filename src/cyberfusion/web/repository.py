"""All SQL of the web workspace: sessions, the sign-in back-off, background imports, and the
policy-filtered faceted search and "my organisation's contributions" lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cyberfusion.intel.models import Contribution, StixObject
from cyberfusion.intel.repository import latest_only, objects_readable, text_or_values_match
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web.models import LoginThrottle, WebImport, WebSession

# --- sessions ----------------------------------------------------------------------------------


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def web_session(session: Session, session_id: str) -> WebSession | None:
    return session.get(WebSession, session_id)


def delete_session(session: Session, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))


def delete_sessions_of(session: Session, member_id: int) -> int:
    return session.execute(delete(WebSession).where(WebSession.member_id == member_id)).rowcount or 0


def delete_expired_sessions(session: Session, *, now: datetime) -> int:
    return session.execute(delete(WebSession).where(WebSession.expires_at <= now)).rowcount or 0


# --- sign-in back-off ----------------------------------------------------------------------------


def throttles(session: Session, keys: Sequence[str]) -> list[LoginThrottle]:
    return list(session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))))


def count_failure(session: Session, *, key: str, now: datetime, window_start: datetime) -> int:
    """Add one failure to the key (restarting the count after a quiet window); the new count.

    One UPDATE … RETURNING, so two processes failing at once both count.
    """
    stmt = (update(LoginThrottle).where(LoginThrottle.key == key)
            .values(failures=case((LoginThrottle.last_failure_at < window_start, 1),
                                  else_=LoginThrottle.failures + 1),
                    last_failure_at=now)
            .returning(LoginThrottle.failures))
    count = session.execute(stmt).scalar()
    if count is not None:
        return int(count)
    try:
        with session.begin_nested():
            session.add(LoginThrottle(key=key, failures=1, last_failure_at=now, locked_until=None))
        return 1
    except IntegrityError:  # another process inserted the row first
        return int(session.execute(stmt).scalar() or 1)


def lock(session: Session, *, key: str, until: datetime) -> None:
    session.execute(update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=until))


def clear_throttle(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


# --- background imports ------------------------------------------------------------------------


def web_import(session: Session, *, import_id: str, session_id: str) -> WebImport | None:
    return session.scalar(select(WebImport).where(WebImport.id == import_id, WebImport.session_id == session_id))


def update_import(session: Session, *, import_id: str, values: dict[str, Any]) -> None:
    session.execute(update(WebImport).where(WebImport.id == import_id).values(**values))


def delete_imports_before(session: Session, *, cutoff: datetime) -> int:
    return session.execute(delete(WebImport).where(WebImport.updated_at < cutoff)).rowcount or 0


# --- my organisation's contributions ----------------------------------------------------------


def contributions_of(session: Session, *, org_id: int, limit: int = 10) -> list[tuple[Contribution, Handling]]:
    """The organisation's own contributions, newest first (their metadata is its own)."""
    return list(session.execute(
        select(Contribution, Handling).join(Handling, Contribution.handling_id == Handling.id)
        .where(Contribution.organisation_id == org_id)
        .order_by(Contribution.created_at.desc(), Contribution.id).limit(limit)))


# --- faceted search (policy-filtered) ------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilter:
    text: str | None = None
    values: tuple[tuple[str, str], ...] = ()
    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tlps: tuple[int, ...] = ()
    countries: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def _joined(*columns: Any) -> Any:
    return (select(*columns).select_from(StixObject)
            .join(Contribution, StixObject.contribution_id == Contribution.id)
            .join(Handling, StixObject.handling_id == Handling.id)
            .join(Organisation, StixObject.organisation_id == Organisation.id))


def matching(session: Session, viewer: Viewer, purpose: str, f: SearchFilter) -> list[Any]:
    """Conditions for the readable latest versions matching the query text/value and time window.

    Built once per search and shared by the page query and the facet query (building the
    policy conditions is most of a search's cost; the text asks the trigram index once here).
    """
    conds = [objects_readable(viewer, purpose), latest_only(viewer, purpose)]
    match = text_or_values_match(session, viewer=viewer, purpose=purpose, text=f.text, values=f.values)
    if match is not None:
        conds.append(match)
    if f.since:
        conds.append(StixObject.modified >= f.since)
    if f.until:
        conds.append(StixObject.modified < f.until)
    return conds


FACET_COLUMNS = {"type": StixObject.type, "category": Contribution.category, "tlp": Handling.tlp,
                 "country": Organisation.country, "source_kind": Organisation.kind}


def _facet_values(f: SearchFilter) -> dict[str, tuple[Any, ...]]:
    return {"type": f.types, "category": f.categories, "tlp": f.tlps, "country": f.countries,
            "source_kind": f.source_kinds}


def search_objects(session: Session, *, conds: list[Any], f: SearchFilter, after: tuple[datetime, int] | None,
                   limit: int) -> list[tuple[StixObject, str | None, int]]:
    """(object, crime category, TLP level) for ``matching(...)`` and the chosen facets, newest first,
    keyset-paged on (date_added, pk)."""
    q = _joined(StixObject, Contribution.category, Handling.tlp).where(*conds)
    for name, chosen in _facet_values(f).items():
        if chosen:
            q = q.where(FACET_COLUMNS[name].in_(list(chosen)))
    if after:
        q = q.where(tuple_(StixObject.date_added, StixObject.pk) < tuple_(*after))
    q = q.order_by(StixObject.date_added.desc(), StixObject.pk.desc()).limit(limit)
    return [(o, c, t) for o, c, t in session.execute(q)]


def facet_table(session: Session, *, conds: list[Any], limit: int = 5000) -> list[tuple[Any, ...]]:
    """(type, category, tlp, country, source kind, count) over ``matching(...)``: every facet's
    counts come from this one grouped query."""
    cols = list(FACET_COLUMNS.values())
    q = _joined(*cols, func.count()).where(*conds).group_by(*cols).limit(limit)
    return [tuple(row) for row in session.execute(q)]


def object_labels(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Sequence[str]) -> dict[str, str]:
    """Name (or type) of the readable objects among ``stix_ids``; unreadable ones are absent."""
    if not stix_ids:
        return {}
    rows = session.execute(select(StixObject.stix_id, StixObject.type, StixObject.name)
                           .where(StixObject.stix_id.in_(list(stix_ids)), objects_readable(viewer, purpose),
                                  latest_only(viewer, purpose)))
    return {sid: name or otype for sid, otype, name in rows}


def relationship_types(session: Session, *, viewer: Viewer, purpose: str, stix_ids: Sequence[str]) -> dict[str, str]:
    """relationship_type of the readable relationships among ``stix_ids`` (latest readable version)."""
    if not stix_ids:
        return {}
    rows = session.execute(select(StixObject.stix_id, StixObject.data).where(
        StixObject.stix_id.in_(list(stix_ids)), StixObject.type == "relationship",
        objects_readable(viewer, purpose), latest_only(viewer, purpose)))
    out = {}
    for sid, data in rows:
        kind = json.loads(data).get("relationship_type")
        if isinstance(kind, str):
            out[sid] = kind
    return out
