"""The leak matrix over the web's other read paths of intelligence and derived data: the alerts
inbox, an RFI's related intelligence and answer references, a working group's shared
intelligence, a project's linked intelligence, the trends table, country reports
(viewed and downloaded only by their recipient) and the AI review queue (one organisation's
suggestions never listed to another).

One world serves every path: watchlists first (an alert fires when intelligence arrives), then
the matrix's contributions, then an RFI shared with every organisation whose references name
every matrix object, a working group of every viewer with every matrix contribution shared to
it, and a project of every viewer linking every matrix object — written directly, as references recorded before a handling changed would be — so
the read side alone decides what each viewer sees.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import Forbidden
from cyberfusion.fusion import watch
from cyberfusion.products import service as reports
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.intel.models import Contribution
from cyberfusion.tasking.groups import service as groups
from cyberfusion.tasking.groups.models import GroupMember, GroupShare
from cyberfusion.tasking.projects import service as projects
from cyberfusion.tasking.projects.models import ProjectMember, ProjectObject
from cyberfusion.tasking.rfi import repository as rfi_repo
from cyberfusion.tasking.rfi import service as rfis
from cyberfusion.tasking.rfi.models import RfiAnswer
from sharing.helpers import contribute, indicator
from sharing.leak import NO_ACCESS, VALUE_OF, VIEWERS, build_matrix, expected_for
from web_support import browser, check_paths, denied, give_password, session_csrf

SID_OF = {name: indicator("ipv4-addr", value)["id"] for name, value in VALUE_OF.items()}
T = "2026-10-05T10:00:00.000Z"


def shows(text: str, value: str) -> bool:
    """The page shows this address (10.0.0.1 is not found inside 10.0.0.10)."""
    return re.search(rf"(?<![\d.]){re.escape(value)}(?![\d])", text) is not None


def _viewer_or_none(world, key):
    try:
        return world.viewer(key)
    except Forbidden:
        return None


@pytest.fixture
def area_world(world, client, tmp_path):
    give_password(world, *VIEWERS)
    for key in VIEWERS:
        v = _viewer_or_none(world, key)
        if v is None:
            continue
        with transaction(world.factory) as s:
            try:
                watch.create_watchlist(s, viewer=v, name="matrix", purpose="investigation",
                                       items=[{"type": "cidr", "value": "10.0.0.0/24"}])
            except Forbidden:
                pass
    build_matrix(world, tmp_path)
    with transaction(world.factory) as s:
        others = [org_id for key, org_id in world.orgs.items() if key != "host"]
        rfi = rfis.file_rfi(s, viewer=world.viewer("analyst"), title="Matrix RFI", question="Who runs 10.0.0.0/24?",
                            shared_with=others, purpose="investigation")
        rfi.related_objects = sorted(SID_OF.values())
        rfi.state = "answered"
        answer = RfiAnswer(rfi_id=rfi.id, author_member_id=world.members["analyst"], text="See the references.",
                           created_at=utcnow())
        s.add(answer)
        s.flush()
        rfi_repo.add_answer_refs(s, answer_id=answer.id, stix_ids=sorted(SID_OF.values()))
        world.__dict__["rfi_id"] = rfi.id
        # A working group of every viewer, with every matrix contribution shared to it.
        group = groups.create_group(s, viewer=world.viewer("analyst"), name="Matrix group")
        now = utcnow()
        s.add_all([GroupMember(group_id=group.id, member_id=world.members[key], role="member", joined_at=now)
                   for key in VIEWERS if key != "analyst"])
        s.add_all([GroupShare(group_id=group.id, contribution_id=c, shared_by=world.members["analyst"], shared_at=now)
                   for c in s.scalars(select(Contribution.id))])
        world.__dict__["group_id"] = group.id
        # A project every viewer belongs to, with every matrix object linked.
        project = projects.create_project(s, viewer=world.viewer("analyst"), name="Matrix project",
                                          objective="Who runs 10.0.0.0/24")
        s.add_all([ProjectMember(project_id=project.id, member_id=world.members[key], role="member")
                   for key in VIEWERS if key != "analyst"])
        s.add_all([ProjectObject(project_id=project.id, stix_id=sid, added_by=world.members["analyst"], added_at=now)
                   for sid in SID_OF.values()])
        world.__dict__["project_id"] = project.id
    return world


# --- matrix read paths ---------------------------------------------------------------------------


def via_web_alerts(world, key, client, tmp_path):
    b = browser(world, key, client)
    r = b.get("/alerts", params={"purpose": "investigation"}, follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200, r.text
    seen = {n for n, v in VALUE_OF.items() if f'<code class="wrap">{v}</code>' in r.text}
    for name, value in VALUE_OF.items():
        if name not in seen:
            assert not shows(r.text, value), (key, name)
    # The dashboard's alerts panel lists (a part of) the same alerts and nothing more.
    home = b.get("/").text
    assert {n for n, v in VALUE_OF.items() if f'<code class="wrap">{v}</code>' in home} <= seen
    return seen


def via_web_rfi(world, key, client, tmp_path):
    b = browser(world, key, client)
    r = b.get(f"/rfis/{world.rfi_id}", follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200, r.text
    assert "Matrix RFI" in r.text and "See the references." in r.text
    seen = set()
    for name, sid in SID_OF.items():
        if f'href="/objects/{sid}"' in r.text:
            assert r.text.count(f'href="/objects/{sid}"') == 2  # related, and referenced by the answer
            seen.add(name)
        else:
            assert sid not in r.text and not shows(r.text, VALUE_OF[name]), (key, name)
    return seen


def via_web_group(world, key, client, tmp_path):
    """A working group's shared intelligence: each member reads only what the policy lets it."""
    b = browser(world, key, client)
    r = b.get(f"/groups/{world.group_id}", params={"purpose": "investigation"}, follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200 and "Matrix group" in r.text, r.text
    seen = set()
    for name, sid in SID_OF.items():
        if f'href="/objects/{sid}"' in r.text:
            seen.add(name)
        else:
            assert sid not in r.text and not shows(r.text, VALUE_OF[name]), (key, name)
    return seen


def via_web_project(world, key, client, tmp_path):
    """A project's linked intelligence: each member reads only what the policy lets it."""
    b = browser(world, key, client)
    r = b.get(f"/projects/{world.project_id}", params={"purpose": "investigation"}, follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200 and "Matrix project" in r.text, r.text
    seen = set()
    for name, sid in SID_OF.items():
        if f'href="/objects/{sid}"' in r.text:
            seen.add(name)
        else:
            assert sid not in r.text and not shows(r.text, VALUE_OF[name]), (key, name)
    return seen


READ_PATHS = [via_web_alerts, via_web_rfi, via_web_group, via_web_project]


def test_web_area_read_paths_leak_nothing(area_world, client, tmp_path):
    """One world (building it is the slow part), every area's read path in turn."""
    assert check_paths(READ_PATHS, area_world, client, tmp_path) == {}
    check_trends(area_world, client)
    check_country_reports(area_world, client, tmp_path)
    check_ai_review_queue(area_world, client)


def check_trends(area_world, client):
    """Every matrix indicator falls in one week: with no small-cell threshold, the week's total is
    exactly the number of matrix objects the viewer may read; nobody's total hints at the others."""
    client.app.state.settings = client.app.state.settings.model_copy(update={"k_threshold": 1})
    totals = {}
    for key in VIEWERS:
        r = browser(area_world, key, client).get("/trends", params={
            "region": "", "by": "total", "interval": "week", "since": "2026-09-28", "until": "2026-10-04",
            "purpose": "investigation"}, follow_redirects=False)
        if denied(r):
            totals[key] = 0
            continue
        assert r.status_code == 200, r.text
        row = re.search(r'<th scope="row">[^<]*</th>((?:<td class="num">[^<]*</td>)+)</tr>', r.text)
        cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) if row else []
        assert "hidden" not in cells
        totals[key] = sum(int(c) for c in cells)
    assert totals == {key: len(expected_for(key)) for key in VIEWERS}


def check_country_reports(area_world, client, tmp_path):
    """A report is listed, shown and downloaded by members of its recipient organisation; the host
    centre's analysts, auditors and platform administrators see the record but no file; to everyone else it does not exist."""
    contribute(area_world, tmp_path, "vendor", [dict(indicator("ipv4-addr", "62.4.1.1"), created=T, modified=T,
                                                     valid_from=T)], HandlingSpec(tlp="green", category="malware"))
    with transaction(area_world.factory) as s:
        batch = reports.generate(s, viewer=area_world.viewer("analyst"), period="2026-10", countries=["FR"], k=1,
                                 send=True)
        report_id = batch.summary_rows()[0]["report_id"]
    keepers = {"analyst", "expert", "auditor", "admin"}
    outcome = {}
    for key in VIEWERS:
        b = browser(area_world, key, client)
        listing = b.get("/reports", follow_redirects=False)
        view = b.get(f"/reports/{report_id}", follow_redirects=False)
        pdf = b.get(f"/reports/{report_id}/download", params={"format": "csv"}, follow_redirects=False)
        if denied(view) and denied(listing):
            outcome[key] = "no access"
            continue
        listed = report_id in listing.text
        assert listed == (view.status_code == 200), key
        if pdf.status_code == 200:
            assert "62.4.1.1" in pdf.text
            outcome[key] = "downloads"
        else:
            assert pdf.status_code in (403, 404) and "62.4.1.1" not in pdf.text
            if view.status_code == 200:
                outcome[key] = "record only"
            else:
                assert view.status_code in (403, 404) and "France" not in view.text
                outcome[key] = "nothing"
    assert {k for k, v in outcome.items() if v == "downloads"} == {"ncb_fr"}
    assert {k for k, v in outcome.items() if v == "record only"} == keepers
    assert {k for k, v in outcome.items() if v not in ("no access", "nothing")} == keepers | {"ncb_fr"}
    assert {k for k, v in outcome.items() if v == "no access"} >= set(NO_ACCESS) - {"uni", "expired"}


def check_ai_review_queue(area_world, client):
    """AI output is the organisation's own: never listed to another organisation."""
    authors = {"analyst": "45.77.12.21", "bank": "45.77.12.22", "ncb_fr": "45.77.12.23"}
    for key, value in authors.items():
        b = browser(area_world, key, client)
        r = b.post("/ai/analyse", data={"text": f"The C2 server at {value} served ransomware.",
                                        "csrf_token": session_csrf(b)}, follow_redirects=False)
        assert r.status_code == 303, (key, r.text)
    org_of = {"analyst": "host", "expert": "host", "admin": "host", "auditor": "host", "bank": "bank",
              "ncb_fr": "ncb_fr"}
    for key in VIEWERS:
        r = browser(area_world, key, client).get("/ai/review", follow_redirects=False)
        seen = {k for k, v in authors.items() if shows(r.text, v)}
        if r.status_code != 200:
            assert seen == set() and (denied(r) or r.status_code == 403), key
            continue
        assert seen == {k for k in authors if org_of.get(k) == org_of.get(key, key)}, key

