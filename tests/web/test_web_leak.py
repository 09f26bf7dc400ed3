"""The web read paths join the leak matrix: search page (by value, and the listing with its
facet counts), observable page, lookup page, object page, dashboard (the other areas' pages in
test_web_leak_areas.py). One matrix serves every path: building it is the slow part.

A viewer without rights sees neither the object nor a hint of it: an unreadable object's
page is the very same "not found" as an object that never existed, search facet counts
only count what the viewer may read, and the observable page reports no corroboration.
"""

from __future__ import annotations

import re

import pytest

from sharing.helpers import indicator
from sharing.leak import HANDLINGS, VALUE_OF, VIEWERS
from web_support import MISSING_ID, browser, check_paths, denied, give_password, session_csrf


@pytest.fixture
def web_matrix(matrix, client):
    give_password(matrix, *VIEWERS)
    return matrix


def via_web_search(world, key, client, tmp_path):
    b = browser(world, key, client)
    seen = set()
    for name, value in VALUE_OF.items():
        r = b.get("/search", params={"q": value, "purpose": "investigation"}, follow_redirects=False)
        if denied(r):
            return set()
        assert r.status_code == 200, r.text
        if f">test {value}</a>" in r.text:
            seen.add(name)
        else:
            assert "No results you may read for this purpose." in r.text
            assert value not in r.text.replace(f'value="{value}"', "")  # only the echoed query
    return seen


def via_web_search_listing(world, key, client, tmp_path):
    """The unfiltered listing and its facet counts: counts are exactly the readable rows."""
    b = browser(world, key, client)
    r = b.get("/search", params={"purpose": "investigation"}, follow_redirects=False)
    if denied(r):
        return set()
    seen = {n for n, v in VALUE_OF.items() if f">test {v}</a>" in r.text}
    counts = re.findall(r'name="type" value="indicator"[^>]*>\s*<label[^>]*>indicator <span class="count">\((\d+)\)',
                        r.text)
    assert counts == ([str(len(seen))] if seen else [])
    return seen


def via_web_observable(world, key, client, tmp_path):
    b = browser(world, key, client)
    seen = set()
    for name, value in VALUE_OF.items():
        r = b.get("/observable", params={"value": value, "purpose": "investigation"}, follow_redirects=False)
        if denied(r):
            return set()
        assert r.status_code == 200, r.text
        sid = indicator("ipv4-addr", value)["id"]
        if f'href="/objects/{sid}"' in r.text:
            seen.add(name)
        else:
            assert "<dt>Corroboration</dt><dd>0 organisations" in r.text
    return seen


def via_web_lookup(world, key, client, tmp_path):
    """The hit/no-hit lookup page: every matrix value in one lookup; a hit only where readable."""
    b = browser(world, key, client)
    csrf = session_csrf(b)
    r = b.post("/lookup", params={"purpose": "investigation"}, data={"values": "\n".join(VALUE_OF.values()),
                                                                   "csrf_token": csrf}, follow_redirects=False)
    if denied(r):
        return set()
    assert r.status_code == 200, r.text
    seen = set()
    for name, value in VALUE_OF.items():
        cell = re.search(rf"<code>{re.escape(value)}</code>.*?</td>\s*<td>(.*?)</td>", r.text, re.S).group(1)
        if "HIT" in cell:
            seen.add(name)
        else:
            assert "no hit" in cell
    return seen


def via_web_object(world, key, client, tmp_path):
    b = browser(world, key, client)
    missing = b.get(f"/objects/{MISSING_ID}", params={"purpose": "investigation"}, follow_redirects=False)
    if denied(missing):
        return set()
    assert missing.status_code == 404
    seen = set()
    for name, value in VALUE_OF.items():
        sid = indicator("ipv4-addr", value)["id"]
        r = b.get(f"/objects/{sid}", params={"purpose": "investigation"}, follow_redirects=False)
        if r.status_code == 200:
            assert "TLP:" in r.text and f"test {value}" in r.text
            seen.add(name)
        else:
            assert r.status_code == 404
            # Not a hint: the page is the one for an id that never existed.
            assert r.text.replace(sid, "X") == missing.text.replace(MISSING_ID, "X")
    return seen



READ_PATHS = [via_web_search, via_web_search_listing, via_web_observable, via_web_lookup, via_web_object]


def test_web_leak_matrix(web_matrix, client, tmp_path):
    assert check_paths(READ_PATHS, web_matrix, client, tmp_path) == {}
    # The dashboard lists the organisation's own contributions only.
    owners = {key: sum(1 for owner, _h, _v in HANDLINGS.values() if owner == key) for key in ("telco", "bank")}
    for key in ("telco", "bank", "analyst"):
        home = browser(web_matrix, key, client).get("/").text
        assert home.count('<tr class="contribution">') == owners.get(key, 0), key
