"""Search (facets, keyset paging), the object page (handling banner, versions, relationships),
the observable page, and Contribute (dry-run preview with located problems, then commit)."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlalchemy import func, select

from cyberfusion.db import transaction
from cyberfusion.intel.models import Contribution
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.web import imports, pages_contribute
from sharing.helpers import contribute, indicator
from web_support import give_password, new_client, post, sign_in


@pytest.fixture
def web(client, world):
    give_password(world, "analyst", "vendor", "bank", "telco", "uni")
    return client


def _rows(html: str) -> list[str]:
    return re.findall(r'<td class="wrap"><a href="/objects/([^"]+)">', html)


def test_search_finds_by_value_and_text_with_facets(web, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.7"),
                                           indicator("domain-name", "evil-login.example")],
               HandlingSpec(tlp="green", category="phishing"))
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "198.51.100.8")],
               HandlingSpec(tlp="amber", category="fraud"))
    sign_in(web, "analyst")
    page = web.get("/search", params={"q": "198.51.100.7"}).text
    assert _rows(page) == [indicator("ipv4-addr", "198.51.100.7")["id"]]
    assert '<span class="tlp tlp-green">TLP:GREEN</span>' in page
    everything = web.get("/search").text
    assert len(_rows(everything)) == 3
    # Facet counts: TLP green 2, amber 1; crime type phishing 2, fraud 1; source country FI 2, GB 1.
    for name, value, count in (("tlp", "green", 2), ("tlp", "amber", 1), ("category", "phishing", 2),
                               ("category", "fraud", 1), ("country", "FI", 2), ("country", "GB", 1),
                               ("source_kind", "private", 3), ("type", "indicator", 3)):
        assert re.search(rf'name="{name}" value="{re.escape(value)}">\s*<label[^>]*>.*?\({count}\)</span>',
                         everything, re.S), (name, value)
    amber = web.get("/search", params={"tlp": "amber"}).text
    assert _rows(amber) == [indicator("ipv4-addr", "198.51.100.8")["id"]]
    # Within a facet, values add up (the tlp counts ignore the tlp choice itself).
    assert re.search(r'name="tlp" value="green">\s*<label[^>]*>.*?\(2\)</span>', amber, re.S)
    assert re.search(r'name="tlp" value="amber" checked>', amber)
    both = web.get("/search", params=[("category", "phishing"), ("country", "FI"), ("type", "indicator")]).text
    assert len(_rows(both)) == 2
    text = web.get("/search", params={"q": "EVIL-LOGIN"}).text
    assert _rows(text) == [indicator("domain-name", "evil-login.example")["id"]]


def test_search_pages_by_keyset(web, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", f"203.0.113.{i}") for i in range(1, 31)],
               HandlingSpec(tlp="clear"))
    sign_in(web, "analyst")
    first = web.get("/search", params={"q": "test 203.0.113"})
    ids = _rows(first.text)
    assert len(ids) == 25
    nxt = re.search(r'<a class="button" href="([^"]+)" rel="next">', first.text).group(1).replace("&amp;", "&")
    assert "cursor=" in nxt and "q=test+203.0.113" in nxt
    second = web.get(nxt).text
    more = _rows(second)
    assert len(more) == 5 and not set(more) & set(ids)
    assert 'rel="next"' not in second
    assert web.get("/search", params={"cursor": "not-a-cursor"}).status_code == 422


def test_search_rejects_bad_input_next_to_the_field(web):
    sign_in(web, "analyst")
    r = web.get("/search", params={"since": "31/12/2026"})
    assert r.status_code == 422
    assert ('id="since" name="since" type="date" value="31/12/2026" aria-invalid="true" '
            'aria-describedby="err-since"') in r.text
    assert "not a date (yyyy-mm-dd)" in r.text
    r = web.get("/search", params={"category": "knitting"})
    assert r.status_code == 422 and "&#39;knitting&#39; is not one of" in r.text


def test_object_page_shows_handling_versions_relationships(web, world, tmp_path):
    ind = indicator("ipv4-addr", "192.0.2.44")
    newer = dict(ind, modified="2026-11-01T00:00:00.000Z", name="test 192.0.2.44 (revised)")
    malware = {"type": "malware", "spec_version": "2.1", "id": "malware--6a7f3b8e-2c55-4f3e-9d2b-7f0e0c1b2a33",
               "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
               "name": "<script>alert(1)</script>Emotet", "is_family": True}
    rel = {"type": "relationship", "spec_version": "2.1", "id": "relationship--0b6d3f2a-9c1e-4d8b-a6f5-3e2d1c0b9a87",
           "created": "2026-10-01T00:00:00.000Z", "modified": "2026-10-01T00:00:00.000Z",
           "relationship_type": "indicates", "source_ref": ind["id"], "target_ref": malware["id"]}
    contribute(world, tmp_path, "bank", [ind, newer, malware, rel],
               HandlingSpec(tlp="amber+strict", purposes=("investigation",), no_further_dissemination=True))
    sign_in(web, "analyst")
    page = web.get(f"/objects/{ind['id']}")
    assert page.status_code == 200
    html = page.text
    assert '<span class="tlp tlp-amber-strict">TLP:AMBER+STRICT</span>' in html
    assert "Limited disclosure: your organisation only." in html
    assert "No further dissemination" in html and "Permitted purposes: investigation" in html
    assert "test 192.0.2.44 (revised)" in html
    assert f'href="/objects/{ind["id"]}?version=2026-10-01T00%3A00%3A00%2B00%3A00"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Emotet" in html and "<script>alert(1)" not in html
    assert f'href="/objects/{malware["id"]}"' in html
    assert 'href="/observable?value=192.0.2.44&amp;kind=ipv4-addr"' in html
    old = web.get(f"/objects/{ind['id']}", params={"version": "2026-10-01T00:00:00+00:00"}).text
    assert "<h1 class=\"wrap\">test 192.0.2.44</h1>" in old and "(an earlier version)" in old
    # The owner's named source is shown; a reader outside its restrictions gets "not found".
    assert "Big Bank" in html
    telco = new_client(web)
    sign_in(telco, "telco")
    assert telco.get(f"/objects/{ind['id']}").status_code == 404


def test_observable_page_reports_corroboration(web, world, tmp_path):
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "192.0.2.99")], HandlingSpec(tlp="green"))
    contribute(world, tmp_path, "bank", [indicator("ipv4-addr", "192.0.2.99", stix_id=(
        "indicator--11111111-2222-4333-8444-555555555555"))], HandlingSpec(tlp="green"))
    sign_in(web, "analyst")
    html = web.get("/observable", params={"value": "192.0.2.99"}).text
    assert "<dt>Corroboration</dt><dd>2 organisations you may read report it</dd>" in html
    assert html.count('href="/objects/indicator--') == 2
    assert web.get("/observable", params={"value": "not a value"}).status_code == 422


# --- contribute ------------------------------------------------------------------------------------

def _handling(**kw):
    data = {"tlp": "green", "purposes": ["investigation", "network_defence"], "attribution": "named",
            "hit_reveal": "yes", "category": "phishing"}
    data.update(kw)
    return data


def _outcome(client, r):
    """A check or store runs in the background: follow the browser to the import's page and wait,
    as its script does, until the outcome is recorded."""
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    assert re.fullmatch(r"/contribute/imports/[0-9a-f]{32}", target)
    deadline = time.monotonic() + 60
    while client.get(f"{target}/status").json()["state"] == "running":
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.05)
    return client.get(target)


def test_contribute_text_dry_run_names_the_bad_line_then_commit(web, factory):
    csrf = sign_in(web, "vendor")
    form = web.get("/contribute").text
    for label in ("Format", "File", "Traffic Light Protocol", "Permitted purposes", "Review (retention) date"):
        assert label in form
    bad = "198.51.100.20\nthis is not an indicator\nevil-host.com\n"
    r = _outcome(web, post(web, "/contribute/preview", csrf, {"format": "text", "pasted": bad, **_handling()}))
    assert r.status_code == 200
    assert "1 problem found." in r.text and "2 objects passed" in r.text
    assert re.search(r'<li class="bad" id="problem-2">\s*<span class="ln">line 2</span><span class="src">this is not '
                     r'an indicator</span>\s*<span class="why">✗ line 2', r.text)
    assert 'id="store"' not in r.text
    good = "198.51.100.20\nevil-host.com\n"
    r = _outcome(web, post(web, "/contribute/preview", csrf, {"format": "text", "pasted": good, **_handling()}))
    assert "<strong>No problems:</strong> 2 objects ready to store." in r.text
    upload_id = re.search(r'name="upload_id" value="([0-9a-f]{32})"', r.text).group(1)
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(Contribution)) == 0  # a dry run stores nothing
    done = _outcome(web, post(web, "/contribute/commit", csrf, {"format": "text", "upload_id": upload_id,
                                                                 **_handling()}))
    assert done.status_code == 200 and "“pasted.txt” is stored: 2 objects" in done.text
    with transaction(factory) as s:
        c = s.scalars(select(Contribution)).one()
        assert (c.object_count, c.category, c.source_format) == (2, "phishing", "text")
    assert "pasted.txt" in web.get("/").text
    # The stored upload is gone, and another browser cannot use this upload id anyway.
    again = post(web, "/contribute/commit", csrf, {"format": "text", "upload_id": upload_id, **_handling()})
    assert again.status_code == 422 and "no longer available" in again.text


def _watch(client, target, polled=None):
    """The page a browser shows right away, then its polls of the status until the outcome;
    ``polled`` (an Event) is set once a poll has seen the import running with items counted."""
    first = client.get(target)
    seen = []
    deadline = time.monotonic() + 120
    while (state := client.get(f"{target}/status").json())["state"] == "running":
        assert time.monotonic() < deadline, "the import did not finish"
        seen.append(state["items"])
        if polled is not None and state["items"] > 0:
            polled.set()
        time.sleep(0.05)
    return first, seen, client.get(target)


def _pause_until_polled(monkeypatch, total):
    """The import's first progress report mid-file waits (at most 10 s) until a poll has seen it:
    a fast machine would otherwise finish the check between two polls and there would be no
    progress to see (it happened on PostgreSQL). Returns the Event ``_watch`` sets."""
    polled = threading.Event()
    report = imports._Progress.__call__

    def held(self, count):
        report(self, count)
        if 0 < count < total and not polled.is_set():
            polled.wait(10)

    monkeypatch.setattr(imports._Progress, "__call__", held)
    return polled


def test_a_large_contribution_shows_its_progress_then_the_outcome(web, factory, monkeypatch):
    monkeypatch.setattr(pages_contribute, "WAIT_SECONDS", 0)  # the browser goes to the progress page at once
    polled = _pause_until_polled(monkeypatch, 40_000)
    csrf = sign_in(web, "vendor")
    lines = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(40_000)]
    lines[31_999] = "not an indicator"
    r = web.post("/contribute/preview", data={"csrf_token": csrf, "format": "text", **_handling()},
                 files={"file": ("big.txt", "\n".join(lines).encode(), "text/plain")}, follow_redirects=False)
    target = r.headers["location"]
    first, seen, page = _watch(web, target, polled)
    assert "<h1>Checking “big.txt”</h1>" in first.text and '<progress id="import-bar"' in first.text
    assert 'data-import-status="' + target + '/status"' in first.text
    assert seen and seen == sorted(seen) and 0 < seen[-1] < 40_000  # the count grows while it runs
    assert "1 problem found." in page.text and "39999 objects passed" in page.text
    assert re.search(r'<li class="bad" id="problem-32000">\s*<span class="ln">line 32000</span>'
                     r'<span class="src">not an indicator</span>', page.text)
    assert "(those with problems, and the first ones; 40000 in all)" in page.text
    other = new_client(web)
    sign_in(other, "vendor")
    assert other.get(target).status_code == 404  # the import belongs to the browser that started it
    assert other.get(f"{target}/status").status_code == 404

    feed = "\n".join(f"10.200.{i // 256}.{i % 256}" for i in range(4000)).encode()
    r = web.post("/contribute/preview", data={"csrf_token": csrf, "format": "text", **_handling()},
                 files={"file": ("mid.txt", feed, "text/plain")}, follow_redirects=False)
    _first, _seen, page = _watch(web, r.headers["location"])
    upload_id = re.search(r'name="upload_id" value="([0-9a-f]{32})"', page.text).group(1)
    r = post(web, "/contribute/commit", csrf, {"format": "text", "upload_id": upload_id, **_handling()})
    first, seen, done = _watch(web, r.headers["location"])
    assert "<h1>Storing “mid.txt”</h1>" in first.text and "stored whole or not at all" in first.text
    assert "“mid.txt” is stored: 4000 objects" in done.text
    with transaction(factory) as s:
        assert s.scalar(select(Contribution.object_count).where(Contribution.file_name == "mid.txt")) == 4000


def test_contribute_stix_upload_names_the_bad_object(web):
    csrf = sign_in(web, "vendor")
    good = indicator("ipv4-addr", "198.51.100.30")
    broken = dict(indicator("ipv4-addr", "198.51.100.31"), pattern="[ipv4-addr:value = ")
    bundle = json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                         "objects": [good, broken]})
    r = _outcome(web, web.post("/contribute/preview", data={"csrf_token": csrf, "format": "stix", **_handling()},
                               files={"file": ("feed.json", bundle.encode(), "application/json")},
                               follow_redirects=False))
    assert r.status_code == 200
    assert "Check of “feed.json”" in r.text
    m = re.search(r'<li class="bad" id="problem-1">\s*<span class="ln">object 1</span><span class="src">indicator  '
                  + re.escape(broken["id"]) + r'.*?<span class="why">✗ object 1 \(' + re.escape(broken["id"])
                  + r'\), field <code>pattern</code>: pattern is not a valid STIX', r.text, re.S)
    assert m, r.text


def test_contribute_handling_errors_are_shown_next_to_the_field(web):
    csrf = sign_in(web, "vendor")
    r = post(web, "/contribute/preview", csrf, {"format": "text", "pasted": "198.51.100.40", **_handling(tlp="red")})
    assert r.status_code == 422
    assert 'id="recipients" name="recipients" multiple size="5" aria-invalid="true"' in r.text
    assert "TLP:RED needs named recipient organisations" in r.text
    r = post(web, "/contribute/preview", csrf, {"format": "text", "pasted": "x", **_handling(purposes=[])})
    assert r.status_code == 422 and "at least one permitted purpose is needed" in r.text
    r = post(web, "/contribute/preview", csrf, {"format": "text", "pasted": "", **_handling()})
    assert r.status_code == 422 and "choose a file or paste text" in r.text
    r = post(web, "/contribute/preview", csrf, {"format": "text", "pasted": "1.2.3.4",
                                                "denied_countries": "Atlantis", **_handling()})
    assert r.status_code == 422 and 'aria-describedby="err-denied_countries"' in r.text


def test_contribute_refuses_an_oversized_pasted_text_plainly(web):
    csrf = sign_in(web, "vendor")
    r = web.post("/contribute/preview", data={"csrf_token": csrf, "format": "text", "pasted": "1.2.3.4\n" * 150_000},
                 files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 400
    assert "Large inputs go in as a file upload, not pasted text." in r.text


def test_contribute_needs_a_contributing_role(web):
    uni = new_client(web)
    sign_in(uni, "uni")
    assert uni.get("/contribute").status_code == 403
    assert 'href="/contribute"' not in uni.get("/").text
