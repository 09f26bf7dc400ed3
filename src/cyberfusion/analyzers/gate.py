"""The egress gate: what may leave the platform towards an analyzer's owner.

Decided by the policy module (``policy.visible`` with a viewer that represents the
analyzer's owner organisation, for dissemination), plus the two conditions the analyzer
rules state outright: TLP:RED never leaves, and the handling must permit network defence
or investigation — also for the owner's own data, which the policy would otherwise show
it for any purpose.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from cyberfusion.analyzers.base import Analyzer
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners.models import Organisation
from cyberfusion.sharing import policy
from cyberfusion.sharing.markings import PURPOSES, RED, TLP_LEVELS, purposes_mask
from cyberfusion.sharing.viewer import Viewer

EGRESS_PURPOSES = ("network_defence", "investigation")


def org_viewer(session: Session, org: Organisation, *, today: date | None = None) -> Viewer:
    """The organisation itself as a viewer (no member): its vetting and agreement, nothing else."""
    today = today or date.today()
    host = org.kind == "host_centre"
    agreement = None if host else partners_repo.valid_agreement(session, org_id=org.id, today=today)
    in_force = org.vetting_status == "approved" and (host or agreement is not None)
    return Viewer(
        member_id=0, email="", roles=frozenset({"contributor"}), org_id=org.id, org_name=org.name,
        org_kind=org.kind, org_sector=org.sector, org_country=org.country, org_region=org.region,
        may_receive=in_force, may_contribute=in_force,
        tlp_ceiling=len(TLP_LEVELS) - 1 if agreement is None else agreement.tlp_ceiling,
        receive_categories=None if agreement is None else frozenset(agreement.receive_categories),
        contribute_categories=None,
        agreement_purposes=frozenset(PURPOSES if agreement is None else agreement.purposes), today=today)


def owner_org(session: Session, analyzer: type[Analyzer]) -> Organisation | None:
    if analyzer.owner is None:
        return partners_repo.host_centre(session)
    return partners_repo.org_by_name(session, analyzer.owner)


def egress_refusal(session: Session, analyzer: type[Analyzer], facts: policy.HandlingFacts, *,
                   now: datetime | None = None) -> str | None:
    """Why this input may not be sent to the analyzer, or None when it may."""
    if not analyzer.egress:
        return None
    if facts.handling.tlp >= RED:
        return "TLP:RED intelligence is never sent off the platform"
    if not facts.handling.purposes & purposes_mask(EGRESS_PURPOSES):
        return "its handling permits neither network_defence nor investigation"
    org = owner_org(session, analyzer)
    if org is None:
        return f"the analyzer's owner organisation {analyzer.owner!r} is not registered"
    owner = org_viewer(session, org)
    if not owner.may_receive:
        return f"the owner organisation {org.name} may not receive intelligence (vetting or agreement not in force)"
    if not any(policy.visible(owner, p, facts, disseminate=True, now=now) for p in EGRESS_PURPOSES):
        return f"its handling does not allow sharing it with the owner organisation {org.name}"
    return None
