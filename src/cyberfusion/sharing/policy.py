"""The one place that decides what a viewer may read, and for which purpose.

Every read path of intelligence — search, object pages, API, CLI, TAXII, exports,
reports, alerts, statistics, AI — calls ``readable_by`` (as a SQL filter, so lists,
counts and pages are right by construction) or ``visible`` (the same rules in
memory for a row already loaded). Nothing else holds a sharing rule.

Rules, all of which must hold for a viewer V reading a contribution C for purpose P:
  * V's organisation is vetted (approved) and has a valid data-sharing agreement
    (the host centre needs none); a seconded expert is inside the term and has
    acknowledged confidentiality (resolved into ``Viewer.may_receive``).
  * C is active: not hidden by retention, before its review date and hard expiry
    (time alone hides it, whether or not the retention job has run yet).
  * P is among V's agreement purposes.
  * V's own organisation's contributions are visible to it (for any purpose).
  * Otherwise: P is permitted by C's handling; TLP ≤ V's agreement ceiling;
    AMBER+STRICT only to the host centre and named recipients; RED only to named
    recipients; allowed/denied countries, allowed organisation kinds,
    law-enforcement only, named recipients (when listed, only they) all hold; C's crime
    category is among those V's agreement lets it receive.
  * With ``disseminate=True`` (products sent onwards: country reports, released
    answers) content marked "no further dissemination" is left out unless V owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, false, literal, or_, select, true

from cyberfusion.errors import Forbidden
from cyberfusion.intel.models import Contribution
from cyberfusion.partners.models import ORG_KINDS
from cyberfusion.sharing.markings import AMBER_STRICT, PURPOSES, RED, purpose_bit
from cyberfusion.sharing.models import Handling
from cyberfusion.sharing.viewer import Viewer

LAW_ENFORCEMENT_KINDS = frozenset({"law_enforcement", "national_bureau", "host_centre"})


def kind_bit(kind: str) -> int:
    return 1 << ORG_KINDS.index(kind)


def kinds_mask(kinds: list[str] | tuple[str, ...]) -> int:
    mask = 0
    for k in kinds:
        mask |= kind_bit(k)
    return mask


def _purpose_allowed(viewer: Viewer, purpose: str) -> bool:
    purpose_bit(purpose)  # unknown purpose -> InvalidInput
    return viewer.may_receive and purpose in viewer.agreement_purposes


def require_purpose(viewer: Viewer, purpose: str) -> None:
    """Raise Forbidden when the viewer may not read anything at all for this purpose."""
    if not viewer.may_receive:
        raise Forbidden("your organisation may not receive intelligence "
                        "(vetting, agreement or secondment not in force)")
    if not _purpose_allowed(viewer, purpose):
        raise Forbidden(f"your organisation's agreement does not permit the purpose {purpose!r}")


def _readable_handling(viewer: Viewer, purpose: str, disseminate: bool) -> ColumnElement[bool]:
    h = Handling
    # contains() is LIKE '%' || :value || '%': the same test as LIKE :pattern, but SQLite re-prepares
    # a statement at every execution when a LIKE pattern is a bare bound parameter (it may enable
    # the LIKE optimisation); on the policy-filtered TAXII page query that was 0.12 ms per execution
    # (2026-11-27).
    org = f",{viewer.org_id},"
    country = f",{viewer.org_country},"
    tlp_ok = or_(and_(h.tlp < AMBER_STRICT, or_(h.recipients == "", h.recipients.contains(org))),
                 and_(h.tlp == AMBER_STRICT,
                      or_(h.recipients.contains(org), true() if viewer.org_kind == "host_centre" else false())),
                 and_(h.tlp == RED, h.recipients.contains(org)))
    conds = [
        h.purposes.op("&")(purpose_bit(purpose)) != 0,
        h.tlp <= viewer.tlp_ceiling,
        tlp_ok,
        or_(h.allowed_countries == "", h.allowed_countries.contains(country)),
        ~h.denied_countries.contains(country),
        or_(h.allowed_kinds == 0, h.allowed_kinds.op("&")(kind_bit(viewer.org_kind)) != 0),
    ]
    if viewer.org_kind not in LAW_ENFORCEMENT_KINDS:
        conds.append(h.le_only.is_(False))
    if disseminate:
        conds.append(h.no_further_dissemination.is_(False))
    return and_(*conds)


def contributions_in_force(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """SQL condition on Contribution: still within its retention (active, before its review date
    and hard expiry). Outside it a contribution is invisible to every read and holds nothing:
    the same data may be contributed again (see ingest.pipeline)."""
    c = Contribution
    conds = [c.status == "active", c.review_at > now, or_(c.expires_at.is_(None), c.expires_at > now)]
    return and_(*conds)


def readable_by(viewer: Viewer, purpose: str, *, contribution_col: Any, handling_col: Any,
                org_col: Any, disseminate: bool = False,
                now: datetime | None = None) -> ColumnElement[bool]:
    """SQL condition on any table that carries (contribution_id, handling_id, organisation_id).

    Without ``now`` the time is a parameter taken when the statement runs, and the condition
    is built once per viewer, purpose and columns of a mapped class (not of an alias, which is
    new at each call): building it cost as much CPU as a search's own query (benchmarks/load.py).
    A Viewer is immutable: a changed agreement, secondment or vetting makes a new one."""
    if not _purpose_allowed(viewer, purpose):
        return false()
    if now is None:
        if any(getattr(getattr(col, "parent", None), "is_aliased_class", True)
               for col in (contribution_col, handling_col, org_col)):
            return _readable(viewer, purpose, contribution_col, handling_col, org_col, disseminate, _now_param())
        return _readable_now(viewer, purpose, contribution_col, handling_col, org_col, disseminate)
    return _readable(viewer, purpose, contribution_col, handling_col, org_col, disseminate, now)


def _now_param() -> BindParameter[datetime]:
    return bindparam("policy_now", unique=True, callable_=_utcnow)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1024)
def _readable_now(viewer: Viewer, purpose: str, contribution_col: Any, handling_col: Any, org_col: Any,
                  disseminate: bool) -> ColumnElement[bool]:
    return _readable(viewer, purpose, contribution_col, handling_col, org_col, disseminate, _now_param())


def _readable(viewer: Viewer, purpose: str, contribution_col: Any, handling_col: Any, org_col: Any,
              disseminate: bool, now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    c = Contribution
    contribution_ok = select(c.id).where(contributions_in_force(now))
    if viewer.receive_categories is not None:
        contribution_ok = contribution_ok.where(
            # One bound parameter per category, not an 'expanding' list: the statement then compiles
            # once and is not re-rendered at each execution (a third of a one-value lookup's query).
            or_(c.category.is_(None), c.category.in_([literal(x) for x in sorted(viewer.receive_categories)]),
                c.organisation_id == viewer.org_id))
    handling_ok = select(Handling.id).where(_readable_handling(viewer, purpose, disseminate))
    own = org_col == viewer.org_id
    return and_(contribution_col.in_(contribution_ok), or_(own, handling_col.in_(handling_ok)))


@dataclass(frozen=True, slots=True)
class HandlingFacts:
    """The facts about one contribution/object that the in-memory check needs."""

    organisation_id: int
    status: str
    review_at: datetime
    expires_at: datetime | None
    category: str | None
    handling: Handling


def visible(viewer: Viewer, purpose: str, facts: HandlingFacts, *, disseminate: bool = False,
            now: datetime | None = None) -> bool:
    """The rules of ``readable_by`` for one loaded row (e.g. before an analyzer run or alert)."""
    if not _purpose_allowed(viewer, purpose):
        return False
    now = now or datetime.now(UTC)
    if (facts.status != "active" or facts.review_at <= now
            or (facts.expires_at is not None and facts.expires_at <= now)):
        return False
    if facts.organisation_id == viewer.org_id:
        return True
    if (viewer.receive_categories is not None and facts.category is not None
            and facts.category not in viewer.receive_categories):
        return False
    h = facts.handling
    recipients = {int(x) for x in h.recipients.strip(",").split(",") if x}
    checks = (
        h.purposes & purpose_bit(purpose),
        h.tlp <= viewer.tlp_ceiling,
        (h.tlp < AMBER_STRICT and (not recipients or viewer.org_id in recipients))
        or (h.tlp == AMBER_STRICT and (viewer.org_kind == "host_centre" or viewer.org_id in recipients))
        or (h.tlp == RED and viewer.org_id in recipients),
        not h.allowed_countries or f",{viewer.org_country}," in h.allowed_countries,
        f",{viewer.org_country}," not in h.denied_countries,
        not h.allowed_kinds or h.allowed_kinds & kind_bit(viewer.org_kind),
        not h.le_only or viewer.org_kind in LAW_ENFORCEMENT_KINDS,
        not (disseminate and h.no_further_dissemination),
    )
    return all(checks)


def source_label(viewer: Viewer, *, owner_id: int, owner_name: str, owner_kind: str,
                 owner_sector: str | None, owner_region: str, attribution: str,
                 host_centre_name: str) -> str:
    """How the source of a contribution is shown to this viewer, per its attribution mode."""
    if owner_id == viewer.org_id or attribution == "named":
        return owner_name
    if attribution == "sector":
        what = f"{owner_sector.replace('_', ' ')} sector" if owner_kind == "private" and owner_sector \
            else owner_kind.replace("_", " ")
        return f"{what}, {owner_region}"
    return host_centre_name


def suppress_small_cells(rows: list[dict[str, Any]], *, k: int,
                         sources_key: str = "sources") -> tuple[list[dict[str, Any]], int]:
    """Drop statistics cells built from fewer than k contributing organisations.

    Returns the kept rows (without the sources count) and how many were suppressed.
    """
    kept = [{key: v for key, v in r.items() if key != sources_key}
            for r in rows if r[sources_key] >= k]
    return kept, len(rows) - len(kept)


__all__ = ["readable_by", "visible", "require_purpose", "source_label", "suppress_small_cells",
           "HandlingFacts", "kind_bit", "kinds_mask", "LAW_ENFORCEMENT_KINDS", "PURPOSES"]
