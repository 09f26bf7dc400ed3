"""The object page joins the leak matrix: an unreadable object's page is the very same
"not found" as the page of an object that never existed."""

from __future__ import annotations

import pytest

from sharing.helpers import indicator
from sharing.leak import VALUE_OF, VIEWERS
from web_support import MISSING_ID, browser, check_paths, denied, give_password


@pytest.fixture
def web_matrix(matrix, client):
    give_password(matrix, *VIEWERS)
    return matrix


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


def test_web_object_leak_matrix(web_matrix, client, tmp_path):
    assert check_paths([via_web_object], web_matrix, client, tmp_path) == {}
