"""Deconfliction: overlaps on shared targets, both owners told whom to contact and nothing more."""

from __future__ import annotations

import pytest
from tasking.tasking_support import NOW, act, headers

from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.deconfliction import service as activities

SECRET_TITLE = "Operation Nightjar against the Kraken crew"
SECRET_DESCRIPTION = "Undercover buy from the admin of kraken-market"


def _register(world, who, title, targets, **kw):
    return act(world, who, activities.register, title=title, kind=kw.pop("kind", "investigation"), targets=targets,
               now=NOW, **kw).id


def _inbox(world, who):
    return [(n.kind, n.subject, n.body, n.ref) for n in act(world, who, tasking.my_notifications)]


def test_overlap_tells_both_owners_whom_to_contact_without_details(world):
    fr = _register(world, "ncb_fr", SECRET_TITLE,
                   ["hxxp://kraken-market[.]com/login", {"kind": "actor", "value": "Kraken  Crew"},
                    {"kind": "country", "value": "FR"}], description=SECRET_DESCRIPTION,
                   contact="Cdt. Martin, +33 1 00 00 00 00", tlp="amber")
    assert _inbox(world, "ncb_fr") == []
    gb = _register(world, "le_gb", "Kraken takedown", [{"kind": "actor", "value": "kraken crew"}, "203.0.113.9"],
                   kind="takedown", contact="DS Jones, jones@cyber-unit.example", tlp="green")
    assert _inbox(world, "ncb_fr") == [(
        "deconfliction.overlap", f"Your activity {fr} overlaps another activity",
        f"Your activity {fr} ({SECRET_TITLE}) shares targets with an activity of Cyber Unit GB (TLP:GREEN). "
        "Contact: DS Jones, jones@cyber-unit.example. No other details are shared.", f"activity:{fr}")]
    assert _inbox(world, "le_gb") == [(
        "deconfliction.overlap", f"Your activity {gb} overlaps another activity",
        f"Your activity {gb} (Kraken takedown) shares targets with an activity of NCB France (TLP:AMBER). "
        "Contact: Cdt. Martin, +33 1 00 00 00 00. No other details are shared.", f"activity:{gb}")]
    # The other owner's view of its own activity says as much, and no more.
    gb_view = act(world, "le_gb", activities.get_activity, activity_id=gb)
    assert gb_view["overlaps"] == [{"detected_at": NOW, "counterpart": "an activity of NCB France (TLP:AMBER). "
                                                                      "Contact: Cdt. Martin, +33 1 00 00 00 00"}]
    text = repr(gb_view) + repr(_inbox(world, "le_gb"))
    for secret in (SECRET_TITLE, SECRET_DESCRIPTION, "kraken-market", "Nightjar"):
        assert secret not in text
    with pytest.raises(NotFound):
        act(world, "le_gb", activities.get_activity, activity_id=fr)
    # The host centre's own staff run the register and see both sides.
    assert act(world, "analyst", activities.get_activity, activity_id=gb)["overlaps"][0]["activity_id"] == fr


def test_red_activities_send_the_other_owner_to_the_host_centre(world):
    fr = _register(world, "ncb_fr", SECRET_TITLE, ["198.51.100.20"], tlp="red")
    gb = _register(world, "le_gb", "Botnet C2 sweep", ["198.51.100.20"])
    assert [b for _k, _s, b, _r in _inbox(world, "le_gb")] == [
        f"Your activity {gb} (Botnet C2 sweep) shares targets with an activity under TLP:RED. Contact the "
        "deconfliction desk of Fusion Host. No other details are shared."]
    assert [b for _k, _s, b, _r in _inbox(world, "ncb_fr")] == [
        f"Your activity {fr} ({SECRET_TITLE}) shares targets with an activity of Cyber Unit GB (TLP:AMBER). "
        "Contact: le_gb@example.org. No other details are shared."]


def test_scope_alone_is_no_overlap_own_activities_do_not_overlap_and_updates_redetect(world):
    _register(world, "ncb_fr", "A", ["198.51.100.1", {"kind": "country", "value": "NG"},
                                      {"kind": "crime_type", "value": "bec"}])
    _register(world, "le_gb", "B", ["198.51.100.2", {"kind": "country", "value": "NG"},
                                     {"kind": "crime_type", "value": "bec"}])
    _register(world, "ncb_fr", "C", ["198.51.100.1"])
    assert (_inbox(world, "ncb_fr"), _inbox(world, "le_gb")) == ([], [])
    with pytest.raises(InvalidInput) as e:
        _register(world, "vendor", "D", [{"kind": "country", "value": "NG"}])
    assert e.value.field == "targets"
    # Updating targets finds new overlaps once and drops ended ones.
    fr = _register(world, "ncb_fr", "E", ["198.51.100.11"])
    gb = _register(world, "le_gb", "F", ["198.51.100.12"])
    assert _inbox(world, "ncb_fr") == []
    act(world, "le_gb", activities.update, activity_id=gb, targets=["198.51.100.12", "198.51.100.11"], now=NOW)
    act(world, "le_gb", activities.update, activity_id=gb, title="F renamed", now=NOW)  # no new overlap, no repeat
    assert len(_inbox(world, "ncb_fr")) == len(_inbox(world, "le_gb")) == 1
    act(world, "le_gb", activities.update, activity_id=gb, status="closed", now=NOW)
    assert act(world, "ncb_fr", activities.get_activity, activity_id=fr)["overlaps"] == []
    with pytest.raises(NotFound):
        act(world, "ncb_fr", activities.update, activity_id=gb, title="hijack")


def test_activities_api_lists_only_what_one_may_see(client, world):
    r = client.post("/api/v1/activities", json={"title": "Phish kit", "kind": "takedown",
                                                "targets": ["hxxps://login-bank[.]com/x"]},
                    headers=headers(world, "vendor"))
    assert r.status_code == 201
    assert r.json()["targets"] == [{"kind": "url", "value": "https://login-bank.com/x"}]
    assert client.get("/api/v1/activities", headers=headers(world, "bank")).json() == []
    assert [a["title"] for a in client.get("/api/v1/activities", headers=headers(world, "analyst")).json()] == \
        ["Phish kit"]
    assert client.get("/api/v1/activities", headers=headers(world, "expert")).json() == []  # seconded: not the desk
    r = client.post("/api/v1/activities", json={"title": "x", "kind": "raid", "targets": ["198.51.100.1"]},
                    headers=headers(world, "vendor"))
    assert (r.status_code, r.json()["field"]) == (422, "kind")
