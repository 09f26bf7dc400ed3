"""The pages over the other packages' services: fusion (lookup, hit inbox, watchlists, alerts),
tasking (RFIs, projects, activities, groups), products (country reports, trends), AI (review
queue, model cards) — and the dashboard panels they feed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from cyberfusion.db import transaction
from cyberfusion.intel.models import Contribution
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.web import routes
from sharing.helpers import contribute, indicator
from web_support import give_password, new_client, post, sign_in

T = "2026-10-05T10:00:00.000Z"


@pytest.fixture
def web(client, world):
    give_password(world, "analyst", "ncb_fr", "bank", "vendor", "telco", "le_gb")
    return client


def browser_for(web, key):
    b = new_client(web)
    return b, sign_in(b, key)


def test_every_area_is_served():
    assert routes.MISSING == {}
    assert set(routes.AVAILABLE) >= {"pages_fusion", "pages_tasking", "pages_products", "pages_ai"}


# --- fusion ---------------------------------------------------------------------------------------------


def test_lookup_hit_notifies_the_owner_who_answers(web, world, tmp_path):
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "198.51.100.61")],
               HandlingSpec(tlp="green", hit_reveal=False))
    officer, csrf = browser_for(web, "ncb_fr")
    assert '<label for="values">' in officer.get("/lookup").text
    r = post(officer, "/lookup", csrf, {"values": "198.51.100.61\n198[.]51[.]100[.]62\nnonsense value"})
    assert r.status_code == 200
    assert re.search(r"3 values: <strong>1 hit</strong>,\s+1 no hit, 1 not recognised", r.text)
    ref = re.search(r"Reference <strong>(H-[0-9A-F]{10})</strong> \(Big Bank\): the owner was notified",
                    r.text).group(1)
    assert post(officer, "/lookup", csrf, {"values": ""}).status_code == 422

    bank, bank_csrf = browser_for(web, "bank")
    home = bank.get("/").text
    assert "Hit notifications to answer" in home and f'href="/hits#hit-{ref}"' in home
    inbox = bank.get("/hits").text
    assert "ncb_fr@example.org (NCB France)" in inbox and "198.51.100.61" in inbox
    done = post(bank, f"/hits/{ref}/answer", bank_csrf, {"decision": "contact", "message": "Call <our> desk"})
    assert done.headers["location"] == "/hits?notice=answered"
    sent = officer.get("/hits").text
    assert f"<td>{ref}</td>" in sent and "contact: “Call &lt;our&gt; desk”" in sent
    assert post(officer, f"/hits/{ref}/answer", csrf, {"decision": "share"}).status_code == 404  # not its data


def test_watchlist_alert_and_mark_read(web, world, tmp_path):
    analyst, csrf = browser_for(web, "analyst")
    bad = post(analyst, "/watchlists", csrf, {"name": "C2", "item_type": "value", "items": "not a value"})
    assert bad.status_code == 422 and "not a recognised observable" in bad.text
    r = post(analyst, "/watchlists", csrf, {"name": "C2 watch", "item_type": "value", "items": "203.0.113.99"})
    assert r.headers["location"] == "/watchlists?notice=saved"
    page = analyst.get("/watchlists").text
    assert "C2 watch" in page and "<code class=\"wrap\">203.0.113.99</code>" in page
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "203.0.113.99")], HandlingSpec(tlp="green"))
    alerts = analyst.get("/alerts").text
    alert_id = re.search(r'name="ids" value="(\d+)"', alerts).group(1)
    assert "C2 watch" in alerts and "<strong>unread</strong>" in alerts
    assert "C2 watch" in analyst.get("/").text  # the dashboard's alerts panel
    post(analyst, "/alerts/read", csrf, {"ids": [alert_id]})
    assert "<strong>unread</strong>" not in analyst.get("/alerts").text
    wl_id = re.search(r'action="/watchlists/(\d+)/delete"', page).group(1)
    assert post(analyst, f"/watchlists/{wl_id}/delete", csrf).headers["location"] == "/watchlists?notice=deleted"
    assert "C2 watch" not in analyst.get("/watchlists").text


# --- tasking --------------------------------------------------------------------------------------------


def test_rfi_from_filing_to_answer(web, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.70")], HandlingSpec(tlp="green"))
    ref = indicator("ipv4-addr", "198.51.100.70")["id"]
    officer, csrf = browser_for(web, "ncb_fr")
    empty = post(officer, "/rfis/new", csrf, {"title": "", "question": "Who?"})
    assert empty.status_code == 422 and 'aria-describedby="err-title"' in empty.text
    r = post(officer, "/rfis/new", csrf, {"title": "Bulletproof host <X>", "question": "Who runs it?",
                                          "priority": "urgent", "countries": "FR, DE"})
    rfi_id = int(re.search(r"/rfis/(\d+)\?notice=saved", r.headers["location"]).group(1))
    analyst, a_csrf = browser_for(web, "analyst")
    board = analyst.get("/rfis").text
    assert f"RFI {rfi_id}</strong>: Bulletproof host &lt;X&gt;" in board and 'id="col-new"' in board
    for action, data in (("triage", {"priority": "urgent"}), ("assign", {"member": "analyst@example.org"}),
                         ("start", {})):
        assert post(analyst, f"/rfis/{rfi_id}/{action}", a_csrf, data).status_code == 303, action
    assert "My RFI queue (urgent first)" in analyst.get("/").text
    assert f'href="/rfis/{rfi_id}">RFI {rfi_id}: Bulletproof host &lt;X&gt;</a> — in progress' in analyst.get("/").text
    wrong = post(analyst, f"/rfis/{rfi_id}/answer", a_csrf, {"text": "x", "object_refs": "indicator--nope"})
    assert wrong.status_code == 422 and "not a STIX id" in wrong.text
    done = post(analyst, f"/rfis/{rfi_id}/answer", a_csrf, {"text": "AS64500 runs it.", "object_refs": ref})
    assert done.headers["location"] == f"/rfis/{rfi_id}?notice=answered"
    seen = officer.get(f"/rfis/{rfi_id}").text
    assert "AS64500 runs it." in seen and f'href="/objects/{ref}"' in seen
    assert "answer</strong> → answered" in seen  # the timeline
    assert "is answered" in officer.get("/").text  # the notifications panel
    conflict = post(analyst, f"/rfis/{rfi_id}/triage", a_csrf)
    assert conflict.status_code == 422 and "cannot become" in conflict.text
    telco, _ = browser_for(web, "telco")
    assert telco.get(f"/rfis/{rfi_id}").status_code == 404


def test_projects_activities_and_groups(web, world):
    analyst, csrf = browser_for(web, "analyst")
    r = post(analyst, "/projects", csrf, {"name": "Operation Nightfall", "objective": "Dismantle the botnet",
                                          "kind": "operation", "countries": "FR"})
    pid = int(re.search(r"/projects/(\d+)", r.headers["location"]).group(1))
    assert post(analyst, f"/projects/{pid}/deliverables", csrf, {"title": "Takedown plan",
                                                                 "due_date": "2026-12-31"}).status_code == 303
    page = analyst.get(f"/projects/{pid}").text
    assert "Operation Nightfall" in page and "<strong>Takedown plan</strong> due 2026-12-31" in page
    bad = post(analyst, f"/projects/{pid}/deliverables", csrf, {"title": "No date"})
    assert bad.status_code == 422 and "a deliverable needs a due date" in bad.text

    r = post(analyst, "/activities", csrf, {"title": "Botnet takedown", "kind": "takedown",
                                            "targets": "203.0.113.50\nmalware: Mirai"})
    aid = int(re.search(r"/activities/(\d+)", r.headers["location"]).group(1))
    le, le_csrf = browser_for(web, "le_gb")
    post(le, "/activities", le_csrf, {"title": "Our case", "kind": "investigation", "targets": "203.0.113.50"})
    overlap = analyst.get(f"/activities/{aid}").text
    assert "<strong>Overlap</strong> detected" in overlap and "Cyber Unit GB" in overlap
    assert post(analyst, "/activities", csrf, {"title": "x", "targets": "country: FR"}).status_code == 422

    r = post(analyst, "/groups", csrf, {"name": "Ransomware experts", "kind": "expert_group"})
    gid = int(re.search(r"/groups/(\d+)", r.headers["location"]).group(1))
    post(analyst, f"/groups/{gid}/posts", csrf, {"title": "Good practice", "body": "Keep offline backups.",
                                                 "kind": "good_practice"})
    group = analyst.get(f"/groups/{gid}").text
    assert "Keep offline backups." in group and "analyst@example.org" in group
    outsider, _ = browser_for(web, "vendor")
    assert "You are not a member of this group" in outsider.get(f"/groups/{gid}").text


# --- products -------------------------------------------------------------------------------------------


def test_country_report_generated_then_downloaded_by_the_recipient_only(web, world, tmp_path):
    contribute(world, tmp_path, "vendor", [dict(indicator("ipv4-addr", "62.4.1.1"), created=T, modified=T,
                                                valid_from=T)], HandlingSpec(tlp="green", category="malware"))
    analyst, csrf = browser_for(web, "analyst")
    bad = post(analyst, "/reports", csrf, {"period": "October", "countries": "FR"})
    assert bad.status_code == 422 and 'aria-describedby="err-period"' in bad.text
    r = post(analyst, "/reports", csrf, {"period": "2026-10", "countries": "FR", "send": "yes"})
    assert r.status_code == 200 and "1 report generated." in r.text
    report_id = re.search(r'href="/reports/([0-9a-f-]{36})">France \(FR\)', r.text).group(1)
    assert "Files are for members of NCB France" in analyst.get(f"/reports/{report_id}").text
    assert analyst.get(f"/reports/{report_id}/download", params={"format": "pdf"}).status_code == 404
    officer, _ = browser_for(web, "ncb_fr")
    listing = officer.get("/reports").text
    assert f'href="/reports/{report_id}"' in listing
    view = officer.get(f"/reports/{report_id}").text
    assert "Download PDF" in view and "Country report: France (FR), 2026-10" in view
    pdf = officer.get(f"/reports/{report_id}/download", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="FR-2026-10-report.pdf"'
    csv = officer.get(f"/reports/{report_id}/download", params={"format": "csv"})
    assert csv.status_code == 200 and "62.4.1.1" in csv.text
    html = officer.get(f"/reports/{report_id}/download", params={"format": "html", "inline": "true"})
    assert html.headers["content-disposition"].startswith("inline;")
    assert html.headers["content-security-policy"].startswith("default-src 'none'")
    le, _ = browser_for(web, "le_gb")
    assert le.get(f"/reports/{report_id}/download", params={"format": "pdf"}).status_code == 404


def test_trends_page_chart_and_table(web, world, tmp_path):
    analyst, _ = browser_for(web, "analyst")
    page = analyst.get("/trends", params={"region": ""})
    assert page.status_code == 200
    assert '<script type="application/json" id="chart-data">{' in page.text
    assert '<script src="/static/plotly.min.js" defer></script>' in page.text
    assert "Cells built from fewer than 3 contributing organisations are hidden" in page.text
    png = analyst.get("/trends/chart.png", params={"region": ""})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert analyst.get("/trends", params={"by": "planet"}).status_code == 422
    js = analyst.get("/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    home = analyst.get("/").text  # a slow panel: linked, then fetched by app.js
    assert 'data-fragment="/panels/trends?fragment=true"' in home and 'href="/panels/trends"' in home
    fragment = analyst.get("/panels/trends", params={"fragment": "true"}).text
    assert fragment.startswith('<p class="small-text muted">Indicators per week by crime type, '
                               'Asia &amp; South Pacific')
    assert "<html" not in fragment
    assert "<h1>Trends in your region</h1>" in analyst.get("/panels/trends").text
    assert analyst.get("/panels/nothing").status_code == 404


# --- AI -------------------------------------------------------------------------------------------------


def test_ai_review_queue_accept_creates_intelligence(web, factory):
    analyst, csrf = browser_for(web, "analyst")
    r = post(analyst, "/ai/analyse", csrf, {"text": "The C2 server at 45.77.12.9 served LockBit ransomware "
                                                     "encrypting files and demanding a ransom."})
    assert r.status_code == 303 and r.headers["location"].startswith("/ai/review?run=")
    queue = analyst.get(r.headers["location"]).text
    assert "Suggestions, not intelligence." in queue and "<code>45.77.12.9</code>" in queue
    assert "cfc-extract" in queue
    sid = re.search(r'name="ids" value="(\d+)"><label for="sg-\d+" class="vh">Choose suggestion \d+: ipv4-addr',
                    queue).group(1)
    before = _contributions(factory)
    done = post(analyst, "/ai/review/decisions", csrf, {"ids": [sid], "decision": "accept", "tlp": "green"})
    assert done.headers["location"].startswith("/ai/review?status=accepted")
    assert _contributions(factory) == before + 1
    again = post(analyst, "/ai/review/decisions", csrf, {"ids": [sid], "decision": "reject"})
    assert again.status_code == 422 and "already decided" in again.text
    assert post(analyst, "/ai/analyse", csrf, {"text": ""}).status_code == 422
    cards = analyst.get("/ai/models").text
    assert 'href="/ai/models/cfc-extract"' in cards
    card = analyst.get("/ai/models/cfc-extract").text
    assert "Known failure modes" in card and "Measured now on the shipped labelled sets" in card
    assert analyst.get("/ai/models/nope").status_code == 404


def _contributions(factory) -> int:
    with transaction(factory) as s:
        return s.scalar(select(func.count()).select_from(Contribution))


def test_group_documents_meetings_and_members(web, world):
    analyst, csrf = browser_for(web, "analyst")
    r = post(analyst, "/groups", csrf, {"name": "Botnet working group", "kind": "expert_group"})
    gid = int(re.search(r"/groups/(\d+)", r.headers["location"]).group(1))
    bad = post(analyst, f"/groups/{gid}/members", csrf, {"member": "nobody@example.org"})
    assert bad.status_code == 422 and 'aria-describedby="err-member"' in bad.text
    assert post(analyst, f"/groups/{gid}/members", csrf, {"member": "ncb_fr@example.org"}).status_code == 303
    r = analyst.post(f"/groups/{gid}/documents", data={"csrf_token": csrf, "title": "Takedown playbook",
                                                       "body": "Steps agreed in October."},
                     files={"file": ("playbook.txt", b"1. seize the C2\n", "text/plain")}, follow_redirects=False)
    assert r.status_code == 303
    no_file = analyst.post(f"/groups/{gid}/documents", data={"csrf_token": csrf, "title": "Empty"},
                           follow_redirects=False)
    assert no_file.status_code == 422 and "a document needs a file" in no_file.text
    when = post(analyst, f"/groups/{gid}/meetings", csrf, {"title": "Monthly call", "starts_at": "soon"})
    assert when.status_code == 422 and "not a date and time" in when.text
    assert post(analyst, f"/groups/{gid}/meetings", csrf, {"title": "Monthly call", "starts_at": "2026-12-03T10:00",
                                                           "location": "video", "agenda": "1. status"}
                ).status_code == 303
    page = analyst.get(f"/groups/{gid}").text
    mid = re.search(rf'action="/groups/{gid}/meetings/(\d+)"', page).group(1)
    assert post(analyst, f"/groups/{gid}/meetings/{mid}", csrf, {"agenda": "1. status",
                                                                 "minutes": "Agreed: seize on 5 Dec."}).status_code == 303
    officer, _ = browser_for(web, "ncb_fr")  # the member added by the chair
    seen = officer.get(f"/groups/{gid}").text
    assert "Monthly call" in seen and "Agreed: seize on 5 Dec." in seen and "Takedown playbook" in seen
    assert 'action="/groups/%s/meetings"' % gid not in seen  # only the chair schedules
    link = re.search(rf'href="(/groups/{gid}/documents/\d+)">Download playbook.txt</a>', seen).group(1)
    doc = officer.get(link)
    assert doc.content == b"1. seize the C2\n"
    assert doc.headers["content-disposition"] == 'attachment; filename="playbook.txt"'
    outsider, _ = browser_for(web, "vendor")
    assert outsider.get(link).status_code == 403
    assert "Takedown playbook" not in outsider.get(f"/groups/{gid}").text


def test_rfi_teams(web, world):
    analyst, csrf = browser_for(web, "analyst")
    assert 'href="/rfis/teams"' in analyst.get("/rfis").text
    assert post(analyst, "/rfis/teams", csrf, {"name": "Ransomware desk"}).headers["location"] == \
        "/rfis/teams?notice=saved"
    dup = post(analyst, "/rfis/teams", csrf, {"name": "Ransomware desk"})
    assert dup.status_code == 422 and "exists" in dup.text
    outside = post(analyst, "/rfis/teams", csrf, {"team": "Ransomware desk", "member": "bank@example.org"})
    assert outside.status_code == 422 and "is not a host-centre member" in outside.text
    assert post(analyst, "/rfis/teams", csrf, {"team": "Ransomware desk",
                                               "member": "expert@example.org"}).status_code == 303
    teams = analyst.get("/rfis/teams").text
    assert "<h2 id=\"team-1\">Ransomware desk</h2>" in teams and "<li>expert@example.org</li>" in teams
    officer, _ = browser_for(web, "ncb_fr")
    assert officer.get("/rfis/teams").status_code == 403


def test_ai_register_and_resource_bank(web, world):
    from cyberfusion.ai.registry import QUESTIONS
    analyst, csrf = browser_for(web, "analyst")
    safe = {q.key: "yes" if not q.risky_answer else "no" for q in QUESTIONS}
    form = {"title": "Phishing triage", "description": "Ranks reported e-mails", "purpose": "triage",
            "data": "reported e-mails", "legal_basis": "Art. 6 police act"}
    partial = post(analyst, "/ai/register", csrf, dict(form, **{k: v for k, v in list(safe.items())[1:]}))
    assert partial.status_code == 422 and f'aria-describedby="err-{QUESTIONS[0].key}"' in partial.text
    risky = dict(safe, human_review="no")
    high = post(analyst, "/ai/register", csrf, dict(form, **risky))
    assert high.status_code == 422 and "needs its human-oversight measures described" in high.text
    assert post(analyst, "/ai/register", csrf, dict(form, **risky, oversight="A duty officer reviews weekly")
                ).headers["location"] == "/ai/register?notice=saved"
    page = analyst.get("/ai/register").text
    assert "Phishing triage" in page and "risk: <strong>high</strong>" in page
    assert "outputs take effect without human review" in page
    uid = re.search(r'action="/ai/register/(\d+)/status"', page).group(1)
    assert post(analyst, f"/ai/register/{uid}/status", csrf, {"status": "approved"}).status_code == 303
    assert "status: <strong>approved</strong>" in analyst.get("/ai/register").text

    bad = post(analyst, "/ai/resources", csrf, {"title": "Guide", "kind": "guidance", "summary": "x",
                                                "url": "javascript:alert(1)"})
    assert bad.status_code == 422 and 'aria-describedby="err-url"' in bad.text
    assert post(analyst, "/ai/resources", csrf, {"title": "Bias testing guide", "kind": "guidance",
                                                 "summary": "How to measure accuracy across groups",
                                                 "tags": "fairness, evaluation",
                                                 "url": "https://example.org/bias"}).status_code == 303
    found = analyst.get("/ai/resources", params={"tag": "fairness"}).text
    assert "Bias testing guide" in found and 'href="https://example.org/bias"' in found
    assert "Bias testing guide" not in analyst.get("/ai/resources", params={"kind": "tool"}).text
    bank, _ = browser_for(web, "bank")
    assert "Add a resource" not in bank.get("/ai/resources").text  # reading is open; adding is for editors
