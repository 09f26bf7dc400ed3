"""Rules for requests for information: filing, the workflow, the queue, service levels and breaches.

Every transition is checked against the state machine (``workflow``), recorded as an event (who,
when, from, to, why) and audited. Services flush and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.config import get_settings
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.kit.observables import KINDS, detect, normalise
from cyberfusion.kit.refang import refang
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES, Member
from cyberfusion.sharing import policy
from cyberfusion.sharing.markings import PURPOSES, TLP_LEVELS, tlp_level
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.rfi import repository, workflow
from cyberfusion.tasking.rfi.models import (
    OPEN_STATES,
    PRIORITIES,
    STATES,
    Rfi,
    RfiAnswer,
    RfiEvent,
    Team,
    TeamMember,
)

MAX_PAGE = 500


def current_sla() -> dict[str, timedelta]:
    s = get_settings()
    return {"immediate": timedelta(hours=s.rfi_sla_immediate_hours),
            "urgent": timedelta(hours=s.rfi_sla_urgent_hours),
            "priority": timedelta(hours=s.rfi_sla_priority_hours),
            "routine": timedelta(hours=s.rfi_sla_routine_hours)}


def _values(values: Iterable[str | dict[str, str]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, v in enumerate(values):
        field = f"related_values.{i}"
        if isinstance(v, dict):
            kind = common.choice(str(v.get("kind", "")), KINDS, f"{field}.kind")
            try:
                value = normalise(kind, str(v.get("value", "")))
            except InvalidInput as exc:
                raise InvalidInput(exc.problems[0].reason, field=f"{field}.value") from None
        else:
            hit = detect(refang(str(v)))
            if hit is None:
                raise InvalidInput(f"not a recognised value (IP, domain, URL, hash, wallet, ...): {v!r}",
                                   field=field)
            kind, value = hit
        if {"kind": kind, "value": value} not in out:
            out.append({"kind": kind, "value": value})
    return out


def _orgs(session: Session, refs: Iterable[str | int], field: str) -> list[int]:
    ids = []
    for r in refs:
        try:
            ids.append(partners.get_org(session, r).id)
        except NotFound:
            raise InvalidInput(f"no organisation {r!r}", field=field) from None
    return sorted(set(ids))


def record_event(session: Session, rfi: Rfi, *, viewer: Viewer | None, action: str, from_state: str | None,
            reason: str = "", detail: dict[str, Any] | None = None, now: datetime) -> None:
    session.add(RfiEvent(rfi_id=rfi.id, at=now, actor_member_id=viewer.member_id if viewer else None,
                         action=action, from_state=from_state, to_state=rfi.state, reason=reason,
                         detail=detail or {}))
    rfi.updated_at = now
    session.flush()
    audit.record(session, action=f"rfi.{action}", viewer=viewer, object_ids=[f"rfi:{rfi.id}"],
                 detail={"from": from_state, "to": rfi.state, "reason": reason, **(detail or {})})


def file_rfi(session: Session, *, viewer: Viewer, title: str, question: str, context: str = "",
             crime_type: str | None = None, countries: Sequence[str] = (),
             related_values: Sequence[str | dict[str, str]] = (), related_objects: Sequence[str] = (),
             purpose: str = "investigation", priority: str = "routine",
             requested_by: datetime | date | None = None, tlp: str = "amber",
             shared_with: Sequence[str | int] = (), staff_only: bool = False,
             now: datetime | None = None, sla: dict[str, timedelta] | None = None) -> Rfi:
    """A bureau, partner or analyst asks the centre a question; the service level sets the due time."""
    partners.require_role(viewer, "analyst", "contributor")
    now = now or utcnow()
    common.choice(purpose, PURPOSES, "purpose")
    policy.require_purpose(viewer, purpose)
    level = tlp_level(tlp)
    deadline = common.aware(requested_by, "requested_by")
    if deadline is not None and deadline <= now:
        raise InvalidInput("must be in the future", field="requested_by")
    objects = tasking.stix_ids(related_objects, "related_objects")
    tasking.require_readable(session, viewer=viewer, purpose=purpose, ids=objects, field="related_objects")
    rfi = Rfi(
        title=common.text(title, "title"), question=common.text(question, "question", max_len=20_000),
        context=common.text(context, "context", max_len=20_000, required=False),
        crime_type=common.choice(crime_type, CATEGORIES, "crime_type") if crime_type else None,
        countries=common.countries(countries), related_values=_values(related_values), related_objects=objects,
        purpose=purpose, priority=common.choice(priority, PRIORITIES, "priority"),
        queue_class=workflow.queue_class(priority), tlp=level,
        shared_with=common.csv(_orgs(session, shared_with, "shared_with")), staff_only=staff_only,
        requester_member_id=viewer.member_id, requester_org_id=viewer.org_id, requested_by=deadline,
        created_at=now, due_at=workflow.due_at(filed_at=now, priority=priority, sla=sla or current_sla(),
                                               requested_by=deadline),
        state="new", updated_at=now)
    tasking_repo.add(session, rfi)
    record_event(session, rfi, viewer=viewer, action="file", from_state=None,
            detail={"priority": priority, "due_at": rfi.due_at.isoformat(), "tlp": TLP_LEVELS[level]}, now=now)
    return rfi


def get_visible(session: Session, *, viewer: Viewer, rfi_id: int) -> Rfi:
    rfi = repository.get_visible(session, viewer=viewer, rfi_id=rfi_id)
    if rfi is None:
        raise NotFound(f"no RFI {rfi_id}")
    return rfi


def answer_visible(viewer: Viewer, rfi: Rfi) -> bool:
    """The answer goes to the requester, the organisations the request names, and the centre."""
    if viewer.org_id == rfi.requester_org_id or f",{viewer.org_id}," in rfi.shared_with:
        return True
    return common.is_host_analyst(viewer) and (
        viewer.secondment_id is None or not rfi.staff_only or rfi.assignee_member_id == viewer.member_id)


def _is_requester(viewer: Viewer, rfi: Rfi) -> bool:
    return viewer.org_id == rfi.requester_org_id and viewer.has_role("analyst", "contributor", "org_admin")


def _is_assignee(session: Session, viewer: Viewer, rfi: Rfi) -> bool:
    if rfi.assignee_member_id == viewer.member_id:
        return True
    return rfi.assignee_team_id is not None and repository.is_team_member(
        session, team_id=rfi.assignee_team_id, member_id=viewer.member_id)


def _move(session: Session, rfi: Rfi, *, viewer: Viewer, to: str, action: str, reason: str,
          detail: dict[str, Any] | None = None, now: datetime) -> Rfi:
    workflow.check_transition(rfi.id, rfi.state, to)
    reason = common.text(reason, "reason", max_len=5000, required=to in workflow.NEEDS_REASON)
    before = rfi.state
    rfi.state = to
    record_event(session, rfi, viewer=viewer, action=action, from_state=before, reason=reason, detail=detail, now=now)
    return rfi


def _load(session: Session, viewer: Viewer, rfi_id: int) -> Rfi:
    rfi = repository.get_visible(session, viewer=viewer, rfi_id=rfi_id, for_update=True)
    if rfi is None:
        raise NotFound(f"no RFI {rfi_id}")
    return rfi


def triage(session: Session, *, viewer: Viewer, rfi_id: int, priority: str | None = None, reason: str = "",
           now: datetime | None = None, sla: dict[str, timedelta] | None = None) -> Rfi:
    """The centre accepts the request, and may set its priority (the due time follows)."""
    common.require_host_analyst(viewer, "triaging an RFI")
    now = now or utcnow()
    rfi = _load(session, viewer, rfi_id)
    detail: dict[str, Any] = {}
    workflow.check_transition(rfi.id, rfi.state, "triaged")
    if priority is not None and priority != rfi.priority:
        common.choice(priority, PRIORITIES, "priority")
        detail = {"priority": priority, "previous_priority": rfi.priority}
        rfi.priority, rfi.queue_class = priority, workflow.queue_class(priority)
        rfi.due_at = workflow.due_at(filed_at=rfi.created_at, priority=priority, sla=sla or current_sla(),
                                     requested_by=rfi.requested_by)
        detail["due_at"] = rfi.due_at.isoformat()
    return _move(session, rfi, viewer=viewer, to="triaged", action="triage", reason=reason, detail=detail, now=now)


def _assignee(session: Session, email: str, rfi: Rfi, today: date) -> Member:
    try:
        member = partners.get_member(session, email)
    except NotFound:
        raise InvalidInput(f"no member {email!r}", field="member") from None
    host = partners_repo.host_centre(session)
    if host is None or member.organisation_id != host.id or "analyst" not in member.roles or not member.active:
        raise InvalidInput(f"{email} is not an active host-centre analyst", field="member")
    if rfi.staff_only and partners_repo.current_secondment(session, member_id=member.id, today=today):
        raise InvalidInput(f"RFI {rfi.id} is for staff only: a seconded expert cannot take it", field="member")
    return member


def assign(session: Session, *, viewer: Viewer, rfi_id: int, member: str | None = None,
           team: str | None = None, reason: str = "", now: datetime | None = None) -> Rfi:
    """Give the request to a member, a team, or a member within a team (re-assigning is allowed)."""
    common.require_host_analyst(viewer, "assigning an RFI")
    now = now or utcnow()
    rfi = _load(session, viewer, rfi_id)
    workflow.check_transition(rfi.id, rfi.state, "assigned")
    if not member and not team:
        raise InvalidInput("name a member, a team or both", field="member")
    assignee = _assignee(session, member, rfi, now.date()) if member else None
    team_row = repository.team_by_name(session, team) if team else None
    if team and team_row is None:
        raise InvalidInput(f"no team {team!r}", field="team")
    rfi.assignee_member_id = assignee.id if assignee else None
    rfi.assignee_team_id = team_row.id if team_row else None
    _move(session, rfi, viewer=viewer, to="assigned", action="assign", reason=reason,
          detail={"member": assignee.email if assignee else None, "team": team_row.name if team_row else None},
          now=now)
    if assignee:
        tasking.notify(session, organisation_id=assignee.organisation_id, member_id=assignee.id,
                       kind="rfi.assigned", subject=f"RFI {rfi.id} ({rfi.priority}) is assigned to you",
                       body=f"Due {rfi.due_at.isoformat()}: {rfi.title}", ref=f"rfi:{rfi.id}", now=now)
    return rfi


def start(session: Session, *, viewer: Viewer, rfi_id: int, reason: str = "", now: datetime | None = None) -> Rfi:
    now = now or utcnow()
    rfi = _load(session, viewer, rfi_id)
    if not _is_assignee(session, viewer, rfi):
        raise Forbidden(f"only the assignee of RFI {rfi.id} (or a member of its team) works on it")
    return _move(session, rfi, viewer=viewer, to="in_progress", action="start", reason=reason, now=now)


def answer(session: Session, *, viewer: Viewer, rfi_id: int, text: str, object_refs: Sequence[str] = (),
           now: datetime | None = None) -> RfiAnswer:
    """Answer with text and references to intelligence the answerer may read for the RFI's purpose."""
    now = now or utcnow()
    rfi = _load(session, viewer, rfi_id)
    if not _is_assignee(session, viewer, rfi):
        raise Forbidden(f"only the assignee of RFI {rfi.id} (or a member of its team) answers it")
    workflow.check_transition(rfi.id, rfi.state, "answered")
    refs = tasking.stix_ids(object_refs, "object_refs")
    tasking.require_readable(session, viewer=viewer, purpose=rfi.purpose, ids=refs, field="object_refs")
    row = RfiAnswer(rfi_id=rfi.id, author_member_id=viewer.member_id,
                    text=common.text(text, "text", max_len=100_000), created_at=now)
    tasking_repo.add(session, row)
    repository.add_answer_refs(session, answer_id=row.id, stix_ids=refs)
    late = rfi.due_at < now
    if late and rfi.breached_at is None:
        rfi.breached_at = now  # answered after the due time: flagged, nothing left to escalate
    _move(session, rfi, viewer=viewer, to="answered", action="answer", reason="",
          detail={"answer_id": row.id, "references": len(refs), "late": late}, now=now)
    tasking.notify(session, organisation_id=rfi.requester_org_id, member_id=rfi.requester_member_id,
                   kind="rfi.answered", subject=f"RFI {rfi.id} is answered", body=rfi.title,
                   ref=f"rfi:{rfi.id}", now=now)
    return row


def close(session: Session, *, viewer: Viewer, rfi_id: int, reason: str = "", now: datetime | None = None) -> Rfi:
    rfi = _load(session, viewer, rfi_id)
    if not (_is_requester(viewer, rfi) or common.is_host_analyst(viewer)):
        raise Forbidden(f"only the requester or a host-centre analyst closes RFI {rfi.id}")
    return _move(session, rfi, viewer=viewer, to="closed", action="close", reason=reason, now=now or utcnow())


def reopen(session: Session, *, viewer: Viewer, rfi_id: int, reason: str, now: datetime | None = None) -> Rfi:
    """The answer is not enough: back to work (the due time stays; a breach stays flagged)."""
    rfi = _load(session, viewer, rfi_id)
    if not (_is_requester(viewer, rfi) or common.is_host_analyst(viewer)):
        raise Forbidden(f"only the requester or a host-centre analyst reopens RFI {rfi.id}")
    if rfi.state == "answered" and not reason.strip():
        raise InvalidInput("say why the answer is not enough", field="reason")
    return _move(session, rfi, viewer=viewer, to="in_progress", action="reopen", reason=reason, now=now or utcnow())


def reject(session: Session, *, viewer: Viewer, rfi_id: int, reason: str, now: datetime | None = None) -> Rfi:
    common.require_host_analyst(viewer, "rejecting an RFI")
    now = now or utcnow()
    rfi = _move(session, _load(session, viewer, rfi_id), viewer=viewer, to="rejected", action="reject",
                reason=reason, now=now)
    tasking.notify(session, organisation_id=rfi.requester_org_id, member_id=rfi.requester_member_id,
                   kind="rfi.rejected", subject=f"RFI {rfi.id} was rejected", body=reason.strip(),
                   ref=f"rfi:{rfi.id}", now=now)
    return rfi


def withdraw(session: Session, *, viewer: Viewer, rfi_id: int, reason: str, now: datetime | None = None) -> Rfi:
    rfi = _load(session, viewer, rfi_id)
    if not _is_requester(viewer, rfi):
        raise Forbidden(f"only the requesting organisation withdraws RFI {rfi.id}")
    return _move(session, rfi, viewer=viewer, to="withdrawn", action="withdraw", reason=reason, now=now or utcnow())


# --- service levels ---------------------------------------------------------------------------------

def _duty_lead(session: Session) -> tuple[int, int | None] | None:
    """(organisation, member) the breach alerts go to: the configured duty lead, else the host centre."""
    email = get_settings().rfi_duty_lead
    if email:
        m = partners_repo.member_by_email(session, email)
        if m is not None and m.active:
            return m.organisation_id, m.id
    host = partners_repo.host_centre(session)
    return (host.id, None) if host else None


def check_sla(session: Session, *, viewer: Viewer | None = None, now: datetime | None = None) -> list[int]:
    """Flag every open RFI past its due time and escalate it to the duty lead, once. Returns their ids."""
    if viewer is not None and not (common.is_host_analyst(viewer) or viewer.has_role("platform_admin")):
        raise Forbidden("checking service levels needs a host-centre analyst or a platform admin")
    now = now or utcnow()
    lead = _duty_lead(session)
    breached = []
    for rfi in repository.due_for_breach(session, now=now):
        rfi.breached_at = rfi.escalated_at = now
        late_by = now - rfi.due_at
        record_event(session, rfi, viewer=viewer, action="breach", from_state=rfi.state,
                reason=f"service level breached: due {rfi.due_at.isoformat()}",
                detail={"late_seconds": int(late_by.total_seconds()), "priority": rfi.priority}, now=now)
        if lead is not None:
            tasking.notify(session, organisation_id=lead[0], member_id=lead[1], kind="rfi.breach",
                           subject=f"RFI {rfi.id} ({rfi.priority}) breached its service level",
                           body=f"Due {rfi.due_at.isoformat()}, state {rfi.state}: {rfi.title}",
                           ref=f"rfi:{rfi.id}", now=now)
        breached.append(rfi.id)
    return breached


# --- reading ----------------------------------------------------------------------------------------

def row(rfi: Rfi, now: datetime) -> dict[str, Any]:
    return {"id": rfi.id, "title": rfi.title, "priority": rfi.priority, "state": rfi.state,
            "due_at": rfi.due_at, "overdue": workflow.is_open(rfi.state) and rfi.due_at < now,
            "breached": rfi.breached_at is not None, "escalated": rfi.escalated_at is not None,
            "tlp": TLP_LEVELS[rfi.tlp], "requester_org_id": rfi.requester_org_id,
            "assignee_member_id": rfi.assignee_member_id, "assignee_team_id": rfi.assignee_team_id,
            "created_at": rfi.created_at, "requested_by": rfi.requested_by}


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def list_rfis(session: Session, *, viewer: Viewer, assigned: str | None = None, states: Sequence[str] = (),
              priorities: Sequence[str] = (), requester: str | None = None, overdue: bool = False,
              cursor: str | None = None, limit: int = 50, now: datetime | None = None) -> Page:
    """The RFIs this viewer may see, immediate and urgent first, then by due time."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="limit")
    for s in states:
        common.choice(s, STATES, "state")
    for p in priorities:
        common.choice(p, PRIORITIES, "priority")
    now = now or utcnow()
    member = teams = None
    if assigned is not None:
        if assigned != "me":
            raise InvalidInput("only 'me' is supported", field="assigned")
        member, teams = viewer.member_id, repository.team_ids_of(session, viewer.member_id)
        states = states or ("assigned", "in_progress")
    if requester is not None and requester != "mine":
        raise InvalidInput("only 'mine' is supported", field="requester")
    after = None
    if cursor:
        qc, due, rid = common.decode_cursor(cursor, 3)
        try:
            after = (int(qc), datetime.fromisoformat(due), int(rid))
        except ValueError:
            raise InvalidInput("not a cursor returned by this server", field="cursor") from None
    rows = repository.list_visible(session, viewer=viewer, states=states, priorities=priorities,
                                   assigned_member=member, assigned_teams=teams or (),
                                   requester_org=viewer.org_id if requester else None,
                                   overdue_at=now if overdue else None, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = common.encode_cursor(rows[-1].queue_class, rows[-1].due_at, rows[-1].id) if more and rows else None
    return Page([row(r, now) for r in rows], nxt)


def queue(session: Session, *, viewer: Viewer, cursor: str | None = None, limit: int = 50,
          now: datetime | None = None) -> Page:
    """A member's work queue: what is assigned to them or their teams and not yet answered."""
    return list_rfis(session, viewer=viewer, assigned="me", cursor=cursor, limit=limit, now=now)


def overdue(session: Session, *, viewer: Viewer, cursor: str | None = None, limit: int = 100,
            now: datetime | None = None) -> Page:
    """The duty view: every open RFI past its due time, whoever holds it."""
    common.require_host_analyst(viewer, "the duty view")
    return list_rfis(session, viewer=viewer, states=OPEN_STATES, overdue=True, cursor=cursor, limit=limit, now=now)


def _event(e: RfiEvent) -> dict[str, Any]:
    return {"at": e.at, "actor_member_id": e.actor_member_id, "action": e.action, "from": e.from_state,
            "to": e.to_state, "reason": e.reason, "detail": e.detail}


def get_rfi(session: Session, *, viewer: Viewer, rfi_id: int, now: datetime | None = None) -> dict[str, Any]:
    """One RFI with its history; its answer (and the intelligence it references, through the policy
    gate for this reader and the RFI's purpose) only for those the answer is for."""
    now = now or utcnow()
    rfi = get_visible(session, viewer=viewer, rfi_id=rfi_id)
    related = tasking.read_references(session, viewer=viewer, purpose=rfi.purpose, stix_ids=rfi.related_objects)
    out = row(rfi, now) | {
        "question": rfi.question, "context": rfi.context, "crime_type": rfi.crime_type,
        "countries": common.split_codes(rfi.countries), "related_values": rfi.related_values,
        "related_objects": related, "purpose": rfi.purpose,
        "handling": {"tlp": TLP_LEVELS[rfi.tlp], "shared_with": common.split_ids(rfi.shared_with),
                     "staff_only": rfi.staff_only},
        "requester_member_id": rfi.requester_member_id,
        "events": [_event(e) for e in repository.events(session, rfi.id)], "answer": None}
    seen = list(related)
    current = repository.latest_answer(session, rfi.id) if answer_visible(viewer, rfi) else None
    if current is not None:
        refs = tasking.read_references(session, viewer=viewer, purpose=rfi.purpose,
                                       stix_ids=repository.answer_refs(session, current.id))
        seen += refs
        out["answer"] = {"id": current.id, "text": current.text, "author_member_id": current.author_member_id,
                         "created_at": current.created_at, "released_at": current.released_at,
                         "references": refs}
    tasking.audit_read(session, viewer=viewer, action="rfi.read", purpose=rfi.purpose, objects=seen,
                       detail={"rfi": rfi.id})
    return out


# --- teams ------------------------------------------------------------------------------------------

def create_team(session: Session, *, viewer: Viewer, name: str, description: str = "") -> Team:
    common.require_host_analyst(viewer, "creating a team")
    name = common.text(name, "name", max_len=120)
    if repository.team_by_name(session, name):
        raise Conflict(f"a team named {name!r} exists", extra={"field": "name"})
    team = Team(name=name, description=description.strip(), created_at=utcnow())
    tasking_repo.add(session, team)
    audit.record(session, action="team.create", viewer=viewer, detail={"team_id": team.id, "name": name})
    return team


def add_team_member(session: Session, *, viewer: Viewer, team: str, member: str) -> TeamMember:
    common.require_host_analyst(viewer, "changing a team")
    row_ = repository.team_by_name(session, team)
    if row_ is None:
        raise NotFound(f"no team {team!r}")
    m = _assignee_for_team(session, member)
    if repository.is_team_member(session, team_id=row_.id, member_id=m.id):
        raise Conflict(f"{m.email} is already in {row_.name}", extra={"field": "member"})
    link = TeamMember(team_id=row_.id, member_id=m.id)
    tasking_repo.add(session, link)
    audit.record(session, action="team.add_member", viewer=viewer, detail={"team_id": row_.id, "member_id": m.id})
    return link


def _assignee_for_team(session: Session, email: str) -> Member:
    try:
        m = partners.get_member(session, email)
    except NotFound:
        raise InvalidInput(f"no member {email!r}", field="member") from None
    host = partners_repo.host_centre(session)
    if host is None or m.organisation_id != host.id:
        raise InvalidInput(f"{email} is not a host-centre member", field="member")
    return m


def list_teams(session: Session, *, viewer: Viewer) -> list[dict[str, Any]]:
    common.require_host_analyst(viewer, "listing teams")
    return [{"id": t.id, "name": t.name, "description": t.description,
             "member_ids": repository.team_member_ids(session, t.id)} for t in repository.teams(session)]
