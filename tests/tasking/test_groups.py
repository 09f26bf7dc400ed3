"""Communities: seeded groups, membership privacy, posts, meetings, and sharing to a group."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sharing.helpers import bundle_file, indicator
from tasking.tasking_support import NOW, act, headers

from cyberfusion.db import transaction
from cyberfusion.errors import Conflict, Forbidden, InvalidInput
from cyberfusion.intel import service as intel
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.tasking.groups import service as groups

SEEDED = ["Global Cybercrime Expert Group",
          "Africa Working Group of Heads of Cybercrime Units",
          "Americas Working Group of Heads of Cybercrime Units",
          "Asia & South Pacific Working Group of Heads of Cybercrime Units",
          "Europe Working Group of Heads of Cybercrime Units",
          "Middle East & North Africa Working Group of Heads of Cybercrime Units"]


@pytest.fixture
def group(world):
    """The Europe working group with ncb_fr (chair), le_gb, bank and telco as members."""
    with transaction(world.factory) as s:
        groups.seed_groups(s)
    gid = next(g["id"] for g in act(world, "ncb_fr", groups.list_groups) if g["region"] == "Europe")
    act(world, "admin", groups.add_member, group_id=gid, member="ncb_fr@example.org", role="chair")
    for who in ("le_gb", "bank", "telco"):
        act(world, "ncb_fr", groups.add_member, group_id=gid, member=f"{who}@example.org")
    return gid


def test_the_expert_group_and_five_regional_groups_are_seeded_once(world):
    with transaction(world.factory) as s:
        groups.seed_groups(s)
        assert groups.seed_groups(s) == []
    listed = act(world, "vendor", groups.list_groups)
    assert sorted(g["name"] for g in listed if g["seeded"]) == sorted(SEEDED)
    assert {g["region"] for g in listed if g["kind"] == "regional_working_group"} == {
        "Africa", "Americas", "Asia & South Pacific", "Europe", "Middle East & North Africa"}
    assert all(g["my_role"] is None for g in listed)


def test_membership_is_visible_to_members_only(client, world, group):
    assert [(m["email"], m["role"]) for m in act(world, "le_gb", groups.members, group_id=group)] == [
        ("bank@example.org", "member"), ("le_gb@example.org", "member"), ("ncb_fr@example.org", "chair"),
        ("telco@example.org", "member")]
    for outsider in ("vendor", "analyst", "admin"):
        with pytest.raises(Forbidden) as e:
            act(world, outsider, groups.members, group_id=group)
        assert e.value.detail == ("only members of Europe Working Group of Heads of Cybercrime Units see its "
                                  "members, posts, meetings and shared intelligence")
    mine = {g["id"]: g["my_role"] for g in act(world, "le_gb", groups.list_groups)}
    assert mine[group] == "member"
    with pytest.raises(Forbidden, match="adding members .* needs its chair or a platform admin"):
        act(world, "le_gb", groups.add_member, group_id=group, member="vendor@example.org")
    # The same over the API.
    r = client.get(f"/api/v1/groups/{group}/members", headers=headers(world, "vendor"))
    assert (r.status_code, r.headers["content-type"]) == (403, "application/problem+json")
    r = client.get(f"/api/v1/groups/{group}/members", headers=headers(world, "bank"))
    assert r.status_code == 200 and len(r.json()) == 4


def test_posts_documents_and_meetings(client, world, group):
    act(world, "le_gb", groups.add_post, group_id=group, kind="note", title="Contacts", body="24/7 desk numbers")
    act(world, "bank", groups.add_post, group_id=group, kind="good_practice", title="Mule accounts",
        body="Freeze within the hour")
    h = headers(world, "telco")
    pdf = b"%PDF-1.4 minimal"
    r = client.post(f"/api/v1/groups/{group}/posts", headers=h, json={
        "kind": "document", "title": "MoU draft", "file_name": "mou.pdf", "media_type": "application/pdf",
        "content_base64": base64.b64encode(pdf).decode()})
    assert r.status_code == 201 and r.json()["size"] == len(pdf)
    doc = r.json()["id"]
    r = client.get(f"/api/v1/groups/{group}/posts/{doc}/content", headers=headers(world, "le_gb"))
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, pdf, "application/pdf")
    assert client.get(f"/api/v1/groups/{group}/posts/{doc}/content", headers=headers(world, "vendor")).status_code == 403
    kinds = [p["kind"] for p in act(world, "bank", groups.list_posts, group_id=group)]
    assert sorted(kinds) == ["document", "good_practice", "note"]
    assert [p["title"] for p in act(world, "bank", groups.list_posts, group_id=group, kind="good_practice")] == \
        ["Mule accounts"]
    m = act(world, "ncb_fr", groups.schedule_meeting, group_id=group, title="Q1 plenary",
            starts_at=NOW + timedelta(days=30), location="Lyon", agenda="1. Ransomware\n2. AOB")
    with pytest.raises(Forbidden):
        act(world, "bank", groups.update_meeting, meeting_id=m.id, minutes="forged")
    act(world, "ncb_fr", groups.update_meeting, meeting_id=m.id, minutes="Agreed a joint action day.")
    assert [(x["title"], x["agenda"], x["minutes"]) for x in act(world, "telco", groups.list_meetings, group_id=group)] \
        == [("Q1 plenary", "1. Ransomware\n2. AOB", "Agreed a joint action day.")]
    with pytest.raises(InvalidInput) as e:
        act(world, "le_gb", groups.add_post, group_id=group, kind="document", title="no file")
    assert e.value.field == "content"


def _search(world, who, value):
    with transaction(world.factory) as s:
        return [i["id"] for i in intel.search(s, viewer=world.viewer(who), purpose="investigation", q=value).items]


def test_sharing_to_a_group_names_its_member_organisations_as_recipients(client, world, group, tmp_path):
    ind = indicator("ipv4-addr", "192.0.2.77")
    path = bundle_file(tmp_path, [ind], "share.json")
    result = act(world, "ncb_fr", groups.share_file, group_id=group, path=path, fmt="stix",
                 spec=HandlingSpec(tlp="amber"))
    assert (result.created, result.objects) == (True, 1)
    with transaction(world.factory) as s:
        shown = intel.get_object(s, viewer=world.viewer("le_gb"), purpose="investigation", stix_id=ind["id"])
    assert shown["handling"]["recipients"] == sorted(world.orgs[k] for k in ("ncb_fr", "le_gb", "bank", "telco"))
    seen = {who: _search(world, who, "192.0.2.77") == [ind["id"]]
            for who in ("ncb_fr", "le_gb", "bank", "telco", "vendor", "analyst", "ncb_ru")}
    # Members' organisations only, and each still under its own agreement: telco's stops at GREEN.
    assert seen == {"ncb_fr": True, "le_gb": True, "bank": True, "telco": False, "vendor": False,
                    "analyst": False, "ncb_ru": False}
    assert [o["id"] for o in act(world, "bank", groups.intelligence, group_id=group, purpose="investigation")] == \
        [ind["id"]]
    assert act(world, "telco", groups.intelligence, group_id=group, purpose="investigation") == []
    with pytest.raises(Forbidden):
        act(world, "vendor", groups.intelligence, group_id=group, purpose="investigation")
    with pytest.raises(Conflict, match="already contribution"):  # the same file again from the same organisation
        act(world, "ncb_fr", groups.share_file, group_id=group, path=path, fmt="stix", spec=HandlingSpec())
    with pytest.raises(InvalidInput) as e:
        act(world, "ncb_fr", groups.share_file, group_id=group, path=bundle_file(tmp_path, [indicator("ipv4-addr", "192.0.2.78")]),
            fmt="stix", spec=HandlingSpec(recipients=(world.orgs["vendor"],)))
    assert e.value.field == "recipients"
    # The same over the API.
    ind = indicator("domain-name", "kraken-market.com")
    r = client.post(f"/api/v1/groups/{group}/contributions", headers=headers(world, "le_gb"),
                    json={"content": {"type": "bundle", "id": "bundle--5d0b7a3e-0c4e-4c53-9a5e-9a1f3c2d4e5f",
                                      "objects": [ind]}, "handling": {"tlp": "green"}})
    assert r.status_code == 201, r.text
    r = client.get(f"/api/v1/groups/{group}/intelligence", params={"purpose": "investigation"},
                   headers=headers(world, "telco"))
    assert [i["id"] for i in r.json()["items"]] == [ind["id"]]
    r = client.get(f"/api/v1/groups/{group}/intelligence", params={"purpose": "investigation"},
                   headers=headers(world, "vendor"))
    assert r.status_code == 403
    assert json.loads(client.get("/api/v1/groups", headers=headers(world, "vendor")).text)[0]["my_role"] is None
