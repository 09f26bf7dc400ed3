"""Demo data for tasking and collaboration, on top of the demo fusion centre (cyberfusion.demo).

RFIs in every state (one breached and escalated, one answered with references to demo intelligence
and released), teams, a project with deliverables, overlapping activities, the seeded groups with
members, posts and a meeting, and a national review under way. Deterministic; loading twice adds
nothing. Call it at the end of ``cyberfusion.demo._load``: ``load_tasking_demo(session)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.db import utcnow
from cyberfusion.partners import service as partners
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking.deconfliction import service as activities
from cyberfusion.tasking.groups import service as groups
from cyberfusion.tasking.projects import service as projects
from cyberfusion.tasking.reviews import service as reviews
from cyberfusion.tasking.rfi import release
from cyberfusion.tasking.rfi import service as rfis
from cyberfusion.tasking.rfi.models import Rfi

ANALYST, EXPERT, ADMIN = "analyst@cfc.example", "expert@cfc.example", "admin@cfc.example"
LYON, ABUJA = "officer@ncb-lyon.example", "officer@ncb-abuja.example"
SENTINEL, BANK, TELECOM = ("contributor@sentinel-vector.example", "contributor@first-meridian.example",
                           "contributor@meridian-telecom.example")
ICSS = "reader@icss.example"
H = timedelta(hours=1)


def load_tasking_demo(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Load the tasking demo once (needs the demo members); returns what it holds."""
    if session.scalar(select(func.count()).select_from(Rfi)):
        return _summary(session)
    now = now or utcnow()
    viewers: dict[str, Viewer] = {}

    def v(email: str) -> Viewer:
        if email not in viewers:
            viewers[email] = partners.resolve_viewer(session, partners.get_member(session, email),
                                                     today=now.date())
        return viewers[email]

    groups.seed_groups(session)
    rfi_ids = _rfis(session, v, now)
    _project(session, v, now, rfi_ids)
    _activities(session, v, now)
    _communities(session, v, now)
    _review(session, v)
    return _summary(session)


def _summary(session: Session) -> dict[str, Any]:
    rows = session.execute(select(Rfi.state, func.count()).group_by(Rfi.state))
    return {"rfis": {state: n for state, n in rows}}


def _some_intelligence(session: Session, viewer: Viewer, n: int) -> list[str]:
    """Indicators the requester may read (and so may the centre, which sees every demo contribution)."""
    rows = tasking_repo.readable_objects(session, viewer=viewer, purpose="investigation",
                                         contribution_ids=_contribution_ids(session), limit=200)
    return [r.stix_id for r in rows if r.type == "indicator"][:n]


def _contribution_ids(session: Session) -> list[str]:
    from cyberfusion.intel.models import Contribution
    return list(session.scalars(select(Contribution.id).order_by(Contribution.created_at)))


def _rfis(session: Session, v: Any, now: datetime) -> dict[str, int]:
    rfis.create_team(session, viewer=v(ANALYST), name="Financial crime desk",
                     description="BEC, payment fraud and money mules")
    rfis.add_team_member(session, viewer=v(ANALYST), team="Financial crime desk", member=EXPERT)
    rfis.create_team(session, viewer=v(ANALYST), name="Ransomware desk", description="Ransomware and extortion")
    rfis.add_team_member(session, viewer=v(ANALYST), team="Ransomware desk", member=ANALYST)

    def filed(who: str, title: str, hours_ago: float, **kw: Any) -> int:
        kw.setdefault("question", f"{title}: what does the centre know?")
        return rfis.file_rfi(session, viewer=v(who), title=title, now=now - hours_ago * H, **kw).id

    def assigned(rid: int, hours_ago: float, **kw: Any) -> None:
        rfis.triage(session, viewer=v(ANALYST), rfi_id=rid, reason="in scope", now=now - hours_ago * H)
        rfis.assign(session, viewer=v(ANALYST), rfi_id=rid, now=now - (hours_ago - 0.5) * H, **kw)

    ids = {"new": filed(LYON, "Ransomware negotiator e-mail addresses", 1, priority="priority",
                        crime_type="ransomware", countries=["FR"], related_values=["negotiation@lockmail.top"]),
           "triaged": filed(BANK, "Mule accounts receiving BEC proceeds", 5, priority="routine", crime_type="bec",
                            countries=["GB", "NG"], tlp="amber")}
    rfis.triage(session, viewer=v(ANALYST), rfi_id=ids["triaged"], reason="financial desk", now=now - 4 * H)
    ids["assigned"] = filed(ABUJA, "Phishing kit sold on Telegram", 10, priority="urgent", crime_type="phishing",
                            countries=["NG"])
    assigned(ids["assigned"], 9, member=ANALYST, reason="on duty")
    ids["in_progress"] = filed(LYON, "Hospital ransomware: decryptor availability", 30, priority="urgent",
                               crime_type="ransomware", countries=["FR"], tlp="amber+strict")
    assigned(ids["in_progress"], 29, team="Ransomware desk", member=ANALYST)
    rfis.start(session, viewer=v(ANALYST), rfi_id=ids["in_progress"], now=now - 28 * H)
    # Filed 30 hours ago as urgent (24 h): past its due time, so the SLA check breaches and escalates it.
    rfis.check_sla(session, viewer=v(ANALYST), now=now)
    ids["immediate"] = filed(ABUJA, "Live extortion of a minister's office", 0.5, priority="immediate",
                             crime_type="fraud", countries=["NG"], tlp="red")
    assigned(ids["immediate"], 0.4, member=ANALYST)

    ids["answered"] = filed(ABUJA, "Infrastructure behind card-testing bots", 60, priority="priority",
                            crime_type="fraud", countries=["NG"])
    assigned(ids["answered"], 58, team="Financial crime desk", member=EXPERT)
    rfis.start(session, viewer=v(EXPERT), rfi_id=ids["answered"], now=now - 50 * H)
    rfis.answer(session, viewer=v(EXPERT), rfi_id=ids["answered"], now=now - 40 * H,
                object_refs=_some_intelligence(session, v(ABUJA), 3),
                text="The bots use residential proxies; the indicators below are attributed with medium confidence.")
    ids["closed"] = filed(SENTINEL, "C2 servers of a loader campaign", 120, priority="routine",
                          crime_type="malware", tlp="green")
    assigned(ids["closed"], 110, member=ANALYST)
    rfis.start(session, viewer=v(ANALYST), rfi_id=ids["closed"], now=now - 100 * H)
    rfis.answer(session, viewer=v(ANALYST), rfi_id=ids["closed"], now=now - 90 * H,
                object_refs=_some_intelligence(session, v(SENTINEL), 2),
                text="Two C2 servers confirmed by several partners.")
    release.release(session, viewer=v(ANALYST), rfi_id=ids["closed"], now=now - 89 * H)
    rfis.close(session, viewer=v(SENTINEL), rfi_id=ids["closed"], reason="thanks", now=now - 80 * H)
    ids["rejected"] = filed(TELECOM, "Subscriber data for a phone number", 20, priority="routine")
    rfis.reject(session, viewer=v(ANALYST), rfi_id=ids["rejected"], now=now - 19 * H,
                reason="subscriber data comes from the operator under national law, not from the centre")
    ids["withdrawn"] = filed(LYON, "Owner of a bulletproof hosting range", 48, priority="priority")
    rfis.withdraw(session, viewer=v(LYON), rfi_id=ids["withdrawn"], reason="answered by a national partner",
                  now=now - 47 * H)
    return ids


def _project(session: Session, v: Any, now: datetime, rfi_ids: dict[str, int]) -> None:
    p = projects.create_project(session, viewer=v(ANALYST), name="Operation Sandstorm", kind="operation",
                                objective="Identify and disrupt a BEC and money-mule network in West Africa and Europe",
                                countries=["NG", "GB", "FR"], start_date=now.date() - timedelta(days=40))
    projects.add_member(session, viewer=v(ANALYST), project_id=p.id, member=EXPERT,
                        tasks="Trace mule accounts and payment flows")
    projects.add_member(session, viewer=v(ANALYST), project_id=p.id, member=ABUJA,
                        tasks="Liaise with national units in Nigeria")
    for org in ("NCB Abuja", "First Meridian Bank"):
        projects.add_organisation(session, viewer=v(ANALYST), project_id=p.id, organisation=org)
    projects.add_deliverable(session, viewer=v(ANALYST), project_id=p.id, title="Target package",
                             due_date=now.date() + timedelta(days=14), owner=EXPERT)
    projects.add_deliverable(session, viewer=v(ANALYST), project_id=p.id, title="Action day plan",
                             due_date=now.date() + timedelta(days=45))
    projects.link_rfi(session, viewer=v(ANALYST), project_id=p.id, rfi_id=rfi_ids["triaged"])
    for stix_id in _some_intelligence(session, v(ANALYST), 2):
        projects.link_object(session, viewer=v(ANALYST), project_id=p.id, stix_id=stix_id, purpose="investigation")


def _activities(session: Session, v: Any, now: datetime) -> None:
    """Two overlapping pairs (a shared domain and malware; a shared IBAN and actor) and one on its own."""
    def reg(who: str, title: str, kind: str, targets: list[Any], **kw: Any) -> None:
        activities.register(session, viewer=v(who), title=title, kind=kind, targets=targets, now=now, **kw)

    reg(LYON, "Investigation into a ransomware affiliate", "investigation",
        ["lockbit-support.top", {"kind": "malware", "value": "LockBit"}, {"kind": "country", "value": "FR"}],
        contact="Cyber desk, NCB Lyon", tlp="amber")
    reg(SENTINEL, "Takedown of ransomware leak-site mirrors", "takedown",
        ["lockbit-support.top", {"kind": "malware", "value": "lockbit"}], contact="takedowns@sentinel-vector.example",
        tlp="green")
    reg(ABUJA, "BEC ring targeting oil-sector suppliers", "investigation",
        [{"kind": "iban", "value": "GB33BUKB20201555555555"}, {"kind": "actor", "value": "Silver Heron"}],
        contact="Cybercrime unit, NCB Abuja", tlp="amber+strict")
    reg(BANK, "Mule account offboarding", "operation",
        [{"kind": "iban", "value": "GB33 BUKB 2020 1555 5555 55"}], contact="fincrime@first-meridian.example")
    reg(TELECOM, "SIM-swap awareness for customers", "outreach", [{"kind": "actor", "value": "SIM Reapers"}])


def _communities(session: Session, v: Any, now: datetime) -> None:
    ids = {g["name"]: g["id"] for g in groups.list_groups(session, viewer=v(ADMIN))}
    expert_group = ids[groups.EXPERT_GROUP]
    europe = ids["Europe Working Group of Heads of Cybercrime Units"]
    africa = ids["Africa Working Group of Heads of Cybercrime Units"]
    for gid, email, role in ((expert_group, ANALYST, "chair"), (expert_group, SENTINEL, "member"),
                             (expert_group, ICSS, "member"), (europe, LYON, "chair"), (europe, ANALYST, "member"),
                             (africa, ABUJA, "chair"), (africa, LYON, "member")):
        groups.add_member(session, viewer=v(ADMIN), group_id=gid, member=email, role=role)
    groups.add_post(session, viewer=v(SENTINEL), group_id=expert_group, kind="good_practice",
                    title="Preserve before you take down",
                    body="Request preservation of hosting data before a takedown so evidence survives.")
    groups.add_post(session, viewer=v(LYON), group_id=europe, kind="note", title="24/7 points of contact",
                    body="Updated list circulated at the plenary.")
    m = groups.schedule_meeting(session, viewer=v(ABUJA), group_id=africa, title="Regional plenary",
                                starts_at=now - timedelta(days=7), location="Abuja",
                                agenda="1. BEC trends\n2. Joint operation planning\n3. Training needs")
    groups.update_meeting(session, viewer=v(ABUJA), meeting_id=m.id,
                          minutes="Agreed to share mule-account indicators through the working group.")


def _review(session: Session, v: Any) -> None:
    r = reviews.request_review(session, viewer=v(ABUJA))
    reviews.assign_reviewer(session, viewer=v(ADMIN), review_id=r.id, member=LYON)
    reviews.answer(session, viewer=v(ABUJA), review_id=r.id, question="legislation.substantive",
                   text="The Cybercrimes Act defines illegal access, interference, fraud and related offences.")
    reviews.answer(session, viewer=v(ABUJA), review_id=r.id, question="capabilities.units",
                   text="A national cybercrime centre and state-level units.")
    reviews.score(session, viewer=v(LYON), review_id=r.id, area="legislation", score=4,
                  strengths="Comprehensive substantive law", gaps="Data retention periods are short")
    reviews.recommend(session, viewer=v(LYON), review_id=r.id, area="training",
                      text="Extend e-evidence training to prosecutors", priority="high")
