"""Rules of the deconfliction register: register and update activities, detect overlaps on shared
targets, and tell both owners whom to contact — nothing more about the other activity than its
handling.

Matching targets are observable values (one vocabulary, kit.observables), threat actors and
malware by name. Countries and crime types describe an activity's scope but are too broad to
signal duplicated work on their own, so they never make an overlap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.kit.observables import KINDS, detect, normalise
from cyberfusion.kit.refang import refang
from cyberfusion.kit.regions import country_code
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.sharing.markings import RED, TLP_LEVELS, tlp_level
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.deconfliction import repository
from cyberfusion.tasking.deconfliction.models import (
    ACTIVITY_KINDS,
    ACTIVITY_STATUSES,
    MATCHING_KINDS,
    SCOPE_KINDS,
    Activity,
    Overlap,
)

MAX_TARGETS = 1000
_SPACES = re.compile(r"\s+")


def _target(i: int, t: str | dict[str, str]) -> tuple[str, str]:
    field = f"targets.{i}"
    if not isinstance(t, dict):
        hit = detect(refang(str(t)))
        if hit is None:
            raise InvalidInput(f"not a recognised value; give {{kind, value}} for names: {t!r}", field=field)
        return hit
    kind = common.choice(str(t.get("kind", "")), (*MATCHING_KINDS, *SCOPE_KINDS), f"{field}.kind")
    raw = str(t.get("value", ""))
    try:
        if kind in KINDS:
            return kind, normalise(kind, raw)
        if kind == "country":
            return kind, country_code(raw, field=f"{field}.value")
        if kind == "crime_type":
            return kind, common.choice(raw, CATEGORIES, f"{field}.value")
    except InvalidInput as exc:
        raise InvalidInput(exc.problems[0].reason, field=f"{field}.value") from None
    name = _SPACES.sub(" ", raw).strip().casefold()  # actor and malware names: case and spacing do not matter
    if not name:
        raise InvalidInput("must not be empty", field=f"{field}.value")
    return kind, name[:2048]


def _targets(targets: Sequence[str | dict[str, str]]) -> list[tuple[str, str]]:
    if len(targets) > MAX_TARGETS:
        raise InvalidInput(f"at most {MAX_TARGETS} targets", field="targets")
    pairs = sorted({_target(i, t) for i, t in enumerate(targets)})
    if not any(k in MATCHING_KINDS for k, _ in pairs):
        raise InvalidInput("name at least one value, actor or malware: countries and crime types alone "
                           "cannot be deconflicted", field="targets")
    return pairs


def _counterpart_text(session: Session, other: Activity) -> str:
    if other.tlp == RED:
        host = partners_repo.host_centre(session)
        return (f"an activity under TLP:RED. Contact the deconfliction desk of "
                f"{host.name if host else 'the host centre'}")
    org = partners_repo.org_by_id(session, other.owner_org_id)
    return (f"an activity of {org.name if org else 'another organisation'} (TLP:{TLP_LEVELS[other.tlp].upper()}). "
            f"Contact: {other.contact}")


def _notify(session: Session, mine: Activity, other: Activity, now: datetime) -> None:
    tasking.notify(session, organisation_id=mine.owner_org_id, member_id=mine.owner_member_id,
                   kind="deconfliction.overlap", subject=f"Your activity {mine.id} overlaps another activity",
                   body=(f"Your activity {mine.id} ({mine.title}) shares targets with "
                         f"{_counterpart_text(session, other)}. No other details are shared."),
                   ref=f"activity:{mine.id}", now=now)


def _detect(session: Session, activity: Activity, now: datetime) -> list[int]:
    """Bring the activity's overlaps up to date; notify both owners of each new one. Returns new ids."""
    existing = {(o.activity_b_id if o.activity_a_id == activity.id else o.activity_a_id): o
                for o in repository.overlaps_of(session, activity.id)}
    found: set[int] = set()
    if activity.status == "active":
        pairs = [(t.kind, t.value) for t in repository.targets(session, activity.id) if t.kind in MATCHING_KINDS]
        found = set(repository.sharing_targets(session, pairs=pairs, other_than_org=activity.owner_org_id))
    for gone in set(existing) - found:
        tasking_repo.delete(session, existing[gone])
    new = sorted(found - set(existing))
    for other_id in new:
        other = repository.get(session, other_id)
        assert other is not None
        a, b = sorted((activity.id, other_id))
        tasking_repo.add(session, Overlap(activity_a_id=a, activity_b_id=b, detected_at=now))
        _notify(session, activity, other, now)
        _notify(session, other, activity, now)
    if new or set(existing) - found:
        audit.record(session, action="deconfliction.overlaps", organisation_id=activity.owner_org_id,
                     detail={"activity_id": activity.id, "new": new, "ended": sorted(set(existing) - found)})
    return new


def register(session: Session, *, viewer: Viewer, title: str, kind: str, targets: Sequence[str | dict[str, str]],
             description: str = "", contact: str | None = None, tlp: str = "amber",
             now: datetime | None = None) -> Activity:
    partners.require_role(viewer, "analyst", "contributor")
    now = now or utcnow()
    pairs = _targets(targets)
    a = Activity(title=common.text(title, "title"), kind=common.choice(kind, ACTIVITY_KINDS, "kind"),
                 description=common.text(description, "description", max_len=20_000, required=False),
                 owner_org_id=viewer.org_id, owner_member_id=viewer.member_id,
                 contact=common.text(contact or viewer.email, "contact", max_len=300), tlp=tlp_level(tlp),
                 status="active", created_at=now, updated_at=now)
    tasking_repo.add(session, a)
    repository.replace_targets(session, activity_id=a.id, pairs=pairs)
    audit.record(session, action="deconfliction.register", viewer=viewer,
                 detail={"activity_id": a.id, "targets": len(pairs)})
    _detect(session, a, now)
    return a


def update(session: Session, *, viewer: Viewer, activity_id: int, title: str | None = None,
           description: str | None = None, targets: Sequence[str | dict[str, str]] | None = None,
           contact: str | None = None, tlp: str | None = None, status: str | None = None,
           now: datetime | None = None) -> Activity:
    a = repository.get(session, activity_id, for_update=True)
    if a is None or a.owner_org_id != viewer.org_id:
        raise NotFound(f"no activity {activity_id} of your organisation")
    partners.require_role(viewer, "analyst", "contributor")
    now = now or utcnow()
    if title is not None:
        a.title = common.text(title, "title")
    if description is not None:
        a.description = common.text(description, "description", max_len=20_000, required=False)
    if contact is not None:
        a.contact = common.text(contact, "contact", max_len=300)
    if tlp is not None:
        a.tlp = tlp_level(tlp)
    if status is not None:
        a.status = common.choice(status, ACTIVITY_STATUSES, "status")
    if targets is not None:
        repository.replace_targets(session, activity_id=a.id, pairs=_targets(targets))
    a.updated_at = now
    session.flush()
    audit.record(session, action="deconfliction.update", viewer=viewer, detail={"activity_id": a.id})
    _detect(session, a, now)
    return a


def summary(a: Activity) -> dict[str, Any]:
    return {"id": a.id, "title": a.title, "kind": a.kind, "status": a.status, "tlp": TLP_LEVELS[a.tlp],
            "owner_org_id": a.owner_org_id, "contact": a.contact, "updated_at": a.updated_at}


def list_activities(session: Session, *, viewer: Viewer, status: str | None = None, after_id: int = 0,
                    limit: int = 100) -> list[dict[str, Any]]:
    if status:
        common.choice(status, ACTIVITY_STATUSES, "status")
    return [summary(a) for a in repository.list_visible(session, viewer=viewer, status=status,
                                                        after_id=after_id, limit=limit)]


def get_activity(session: Session, *, viewer: Viewer, activity_id: int) -> dict[str, Any]:
    """An activity with its targets and overlaps. Its owner learns of each counterpart only what the
    notification said; the host centre's staff see both sides."""
    a = repository.get_visible(session, viewer=viewer, activity_id=activity_id)
    if a is None:
        raise NotFound(f"no activity {activity_id}")
    desk = common.is_host_analyst(viewer) and viewer.secondment_id is None
    overlaps = []
    for o in repository.overlaps_of(session, a.id):
        other = repository.get(session, o.activity_b_id if o.activity_a_id == a.id else o.activity_a_id)
        assert other is not None
        item: dict[str, Any] = {"detected_at": o.detected_at, "counterpart": _counterpart_text(session, other)}
        if desk:
            item["activity_id"] = other.id
        overlaps.append(item)
    audit.record(session, action="deconfliction.read", viewer=viewer, detail={"activity_id": a.id})
    return summary(a) | {"description": a.description,
                         "targets": [{"kind": t.kind, "value": t.value} for t in repository.targets(session, a.id)],
                         "overlaps": overlaps}

