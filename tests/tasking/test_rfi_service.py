"""RFIs: due times from service levels, the queue order, the state machine, history, breaches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tasking.tasking_support import NOW, act, file, to_assigned

from cyberfusion.db import transaction
from cyberfusion.errors import Conflict, Forbidden, InvalidInput
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.rfi import service as rfis

H = timedelta(hours=1)


def _due(world, rfi_id):
    return act(world, "analyst", rfis.get_rfi, rfi_id=rfi_id, now=NOW)["due_at"]


def test_due_time_follows_the_priority_or_an_earlier_requested_date(world):
    expected = {"immediate": NOW + 4 * H, "urgent": NOW + 24 * H, "priority": NOW + 72 * H,
                "routine": NOW + 240 * H}
    got = {p: _due(world, file(world, priority=p)) for p in expected}
    assert got == expected
    early = file(world, priority="routine", requested_by=NOW + 30 * H)
    late = file(world, priority="urgent", requested_by=NOW + 300 * H)
    assert (_due(world, early), _due(world, late)) == (NOW + 30 * H, NOW + 24 * H)
    # Triage may change the priority; the due time follows (from the filing time).
    rid = file(world, priority="routine")
    act(world, "analyst", rfis.triage, rfi_id=rid, priority="immediate", reason="life at risk", now=NOW + H)
    out = act(world, "analyst", rfis.get_rfi, rfi_id=rid, now=NOW)
    assert (out["priority"], out["due_at"]) == ("immediate", NOW + 4 * H)
    assert out["events"][1]["detail"] == {"priority": "immediate", "previous_priority": "routine",
                                          "due_at": (NOW + 4 * H).isoformat()}


def test_service_levels_are_configurable(world, monkeypatch):
    from cyberfusion.config import get_settings
    monkeypatch.setenv("CFC_RFI_SLA_URGENT_HOURS", "6")
    get_settings.cache_clear()
    assert _due(world, file(world, priority="urgent")) == NOW + 6 * H


def test_queue_puts_urgent_and_immediate_first_then_orders_by_due_time(world):
    routine_soon = file(world, priority="routine", requested_by=NOW + 2 * H, title="routine, due in 2 h")
    prio = file(world, priority="priority", title="priority, due in 72 h")
    routine = file(world, priority="routine", title="routine, due in 240 h")
    urgent_late = file(world, priority="urgent", now=NOW + 5 * H, title="urgent, due in 29 h")
    urgent = file(world, priority="urgent", title="urgent, due in 24 h")
    immediate = file(world, priority="immediate", title="immediate, due in 4 h")
    unassigned = file(world, priority="immediate", title="not in anyone's queue")
    for rid in (routine_soon, prio, routine, urgent_late, urgent, immediate):
        to_assigned(world, rid)
    page = act(world, "analyst", rfis.queue, now=NOW)
    assert [i["id"] for i in page.items] == [immediate, urgent, urgent_late, routine_soon, prio, routine]
    assert unassigned not in [i["id"] for i in page.items]
    # Paging keeps the order.
    first = act(world, "analyst", rfis.queue, limit=4, now=NOW)
    second = act(world, "analyst", rfis.queue, limit=4, cursor=first.next_cursor, now=NOW)
    assert [i["id"] for i in first.items + second.items] == [immediate, urgent, urgent_late, routine_soon, prio,
                                                             routine]
    assert second.next_cursor is None
    assert act(world, "expert", rfis.queue, now=NOW).items == []
    # A team assignment puts the RFI in every team member's queue.
    act(world, "analyst", rfis.create_team, name="Financial crime desk")
    act(world, "analyst", rfis.add_team_member, team="Financial crime desk", member="expert@example.org")
    rid = file(world, priority="urgent", now=NOW + 1 * H)
    act(world, "analyst", rfis.triage, rfi_id=rid, now=NOW)
    act(world, "analyst", rfis.assign, rfi_id=rid, team="Financial crime desk", now=NOW)
    assert [i["id"] for i in act(world, "expert", rfis.queue, now=NOW).items] == [rid]
    assert rid not in [i["id"] for i in act(world, "analyst", rfis.queue, now=NOW).items]
    act(world, "expert", rfis.start, rfi_id=rid, now=NOW)  # a team member may take it on
    with pytest.raises(InvalidInput) as e:
        act(world, "analyst", rfis.add_team_member, team="Financial crime desk", member="bank@example.org")
    assert (e.value.field, e.value.detail) == ("member", "field 'member': bank@example.org is not a host-centre member")


def test_invalid_transitions_are_refused_with_a_clear_error(world):
    rid = file(world)
    with pytest.raises(Conflict) as e:
        act(world, "ncb_fr", rfis.close, rfi_id=rid)
    assert e.value.detail == f"RFI {rid} is 'new': it cannot become 'closed' (allowed next: triaged, rejected, withdrawn)"
    assert (e.value.extra["field"], e.value.extra["allowed"]) == ("state", ["triaged", "rejected", "withdrawn"])
    to_assigned(world, rid)
    act(world, "analyst", rfis.start, rfi_id=rid)
    with pytest.raises(Conflict) as e:
        act(world, "analyst", rfis.start, rfi_id=rid)
    assert e.value.detail == (f"RFI {rid} is 'in_progress': it cannot become 'in_progress' "
                              "(allowed next: assigned, answered, withdrawn)")
    act(world, "ncb_fr", rfis.withdraw, rfi_id=rid, reason="solved locally")
    with pytest.raises(Conflict) as e:
        act(world, "analyst", rfis.triage, rfi_id=rid)
    assert e.value.detail == f"RFI {rid} is 'withdrawn', a final state: it cannot become 'triaged'"
    # Decisions need a reason.
    rid = file(world)
    with pytest.raises(InvalidInput) as e:
        act(world, "analyst", rfis.reject, rfi_id=rid, reason="  ")
    assert (e.value.field, e.value.detail) == ("reason", "field 'reason': must not be empty")
    # Who may move an RFI.
    with pytest.raises(Forbidden, match="triaging an RFI needs a host-centre analyst"):
        act(world, "ncb_fr", rfis.triage, rfi_id=rid)
    to_assigned(world, rid)
    with pytest.raises(Forbidden, match=f"only the assignee of RFI {rid}"):
        act(world, "expert", rfis.start, rfi_id=rid)
    with pytest.raises(Forbidden, match=f"only the requesting organisation withdraws RFI {rid}"):
        act(world, "analyst", rfis.withdraw, rfi_id=rid, reason="x")
    with pytest.raises(InvalidInput) as e:
        act(world, "analyst", rfis.assign, rfi_id=rid, member="ncb_fr@example.org")
    assert e.value.field == "member"


def test_every_transition_is_recorded_with_who_when_and_why(world):
    rid = file(world, priority="priority")
    act(world, "analyst", rfis.triage, rfi_id=rid, reason="in scope", now=NOW + H)
    act(world, "analyst", rfis.assign, rfi_id=rid, member="analyst@example.org", reason="on duty", now=NOW + 2 * H)
    act(world, "analyst", rfis.start, rfi_id=rid, now=NOW + 3 * H)
    act(world, "analyst", rfis.answer, rfi_id=rid, text="Hosted at AS64500.", now=NOW + 4 * H)
    act(world, "ncb_fr", rfis.reopen, rfi_id=rid, reason="need the upstream too", now=NOW + 5 * H)
    act(world, "analyst", rfis.answer, rfi_id=rid, text="Upstream AS64501.", now=NOW + 6 * H)
    act(world, "ncb_fr", rfis.close, rfi_id=rid, reason="thanks", now=NOW + 7 * H)
    events = act(world, "ncb_fr", rfis.get_rfi, rfi_id=rid, now=NOW)["events"]
    analyst, fr = world.members["analyst"], world.members["ncb_fr"]
    assert [(e["action"], e["from"], e["to"], e["actor_member_id"], e["reason"], e["at"]) for e in events] == [
        ("file", None, "new", fr, "", NOW),
        ("triage", "new", "triaged", analyst, "in scope", NOW + H),
        ("assign", "triaged", "assigned", analyst, "on duty", NOW + 2 * H),
        ("start", "assigned", "in_progress", analyst, "", NOW + 3 * H),
        ("answer", "in_progress", "answered", analyst, "", NOW + 4 * H),
        ("reopen", "answered", "in_progress", fr, "need the upstream too", NOW + 5 * H),
        ("answer", "in_progress", "answered", analyst, "", NOW + 6 * H),
        ("close", "answered", "closed", fr, "thanks", NOW + 7 * H),
    ]
    out = act(world, "ncb_fr", rfis.get_rfi, rfi_id=rid, now=NOW)
    assert (out["state"], out["answer"]["text"], out["breached"]) == ("closed", "Upstream AS64501.", False)


def test_breach_is_flagged_and_escalated_to_the_duty_lead_once(world, monkeypatch):
    from cyberfusion.config import get_settings
    monkeypatch.setenv("CFC_RFI_DUTY_LEAD", "analyst@example.org")
    get_settings.cache_clear()
    urgent = file(world, priority="urgent")
    routine = file(world, priority="routine")
    assert act(world, "analyst", rfis.check_sla, now=NOW + 23 * H) == []
    assert act(world, "analyst", rfis.check_sla, now=NOW + 25 * H) == [urgent]
    assert act(world, "analyst", rfis.check_sla, now=NOW + 26 * H) == []
    out = act(world, "analyst", rfis.get_rfi, rfi_id=urgent, now=NOW + 25 * H)
    assert (out["breached"], out["escalated"], out["overdue"]) == (True, True, True)
    assert out["events"][-1] | {"at": None} == {
        "at": None, "actor_member_id": world.members["analyst"], "action": "breach", "from": "new", "to": "new",
        "reason": f"service level breached: due {(NOW + 24 * H).isoformat()}",
        "detail": {"late_seconds": 3600, "priority": "urgent"}}
    inbox = [(n.kind, n.subject, n.ref) for n in act(world, "analyst", tasking.my_notifications)]
    assert inbox == [("rfi.breach", f"RFI {urgent} (urgent) breached its service level", f"rfi:{urgent}")]
    assert act(world, "expert", tasking.my_notifications) == []  # addressed to the duty lead in person
    duty = act(world, "analyst", rfis.overdue, now=NOW + 25 * H)
    assert [i["id"] for i in duty.items] == [urgent]
    assert routine not in [i["id"] for i in act(world, "analyst", rfis.overdue, now=NOW + 239 * H).items]
    with pytest.raises(Forbidden, match="the duty view needs a host-centre analyst"):
        act(world, "ncb_fr", rfis.overdue, now=NOW + 25 * H)


def test_without_a_duty_lead_breaches_alert_the_host_centre_and_late_answers_are_flagged(world):
    rid = file(world, priority="immediate")
    with transaction(world.factory) as s:
        assert rfis.check_sla(s, now=NOW + 5 * H) == [rid]  # the scheduled job: no member acting
    for who in ("analyst", "expert", "admin"):
        assert [n.kind for n in act(world, who, tasking.my_notifications)] == ["rfi.breach"]
    assert act(world, "ncb_fr", tasking.my_notifications) == []
    # An answer after the due time is flagged as a breach but not escalated.
    rid = file(world, priority="immediate", now=NOW + 10 * H)
    to_assigned(world, rid)
    act(world, "analyst", rfis.start, rfi_id=rid)
    act(world, "analyst", rfis.answer, rfi_id=rid, text="late but complete", now=NOW + 15 * H)
    out = act(world, "ncb_fr", rfis.get_rfi, rfi_id=rid, now=NOW + 15 * H)
    assert (out["breached"], out["escalated"], out["overdue"]) == (True, False, False)
    assert act(world, "analyst", rfis.check_sla, now=NOW + 16 * H) == []


def test_bad_input_names_the_field_and_values_are_normalised(world):
    cases = [(dict(priority="asap"), "priority"), (dict(tlp="purple"), "tlp"), (dict(countries=["XX"]), "countries"),
             (dict(related_values=["not a value"]), "related_values.0"), (dict(crime_type="jaywalking"), "crime_type"),
             (dict(requested_by=NOW - H), "requested_by"), (dict(related_objects=["indicator--nope"]), "related_objects"),
             (dict(shared_with=["No Such Org"]), "shared_with"), (dict(purpose="gossip"), "purpose")]
    for kw, field in cases:
        with pytest.raises(InvalidInput) as e:
            file(world, **kw)
        assert e.value.field == field, kw
    rid = file(world, related_values=["hxxp://Evil-Login[.]com/x", {"kind": "ipv4-addr", "value": "192.0.2.1"}],
               countries=["fr", "NG"])
    out = act(world, "analyst", rfis.get_rfi, rfi_id=rid, now=NOW)
    assert out["related_values"] == [{"kind": "url", "value": "http://evil-login.com/x"},
                                     {"kind": "ipv4-addr", "value": "192.0.2.1"}]
    assert out["countries"] == ["FR", "NG"]
