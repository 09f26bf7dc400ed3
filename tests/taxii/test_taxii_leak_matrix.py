"""The leak matrix over every TAXII read path: objects, manifest (entries, counts, more/next),
object by id, versions, and the feeds. Read for the purpose "investigation" through an
administrator-defined collection, as the matrix's expectations are stated for that purpose."""

from __future__ import annotations

import io
import json

import pytest

from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden, NotFound
from sharing.helpers import indicator
from sharing.leak import EXPECTED, VALUE_OF, assert_matrix
from taxii.support import basic

COLL = "/taxii2/cfc/collections/investigation"
ID_OF = {name: indicator("ipv4-addr", value)["id"] for name, value in VALUE_OF.items()}
NAME_OF = {v: k for k, v in ID_OF.items()}


@pytest.fixture
def taxii_matrix(matrix):  # type: ignore[no-untyped-def]
    from cyberfusion.taxii import admin
    with transaction(matrix.factory) as s:
        admin.add_collection(s, alias="investigation", title="For investigators", purpose="investigation")
    return matrix


def _denied(r) -> bool:  # type: ignore[no-untyped-def]
    # No access at all (vetting, agreement, secondment) or a collection the viewer's purpose does not reach.
    assert r.status_code in (200, 403, 404), r.text
    return r.status_code in (403, 404)


def via_taxii_objects(world, key, client, tmp_path):
    r = client.get(f"{COLL}/objects/", headers=basic(world, key))
    if _denied(r):
        return set()
    return {NAME_OF[o["id"]] for o in r.json().get("objects", [])}


def via_taxii_manifest_pages(world, key, client, tmp_path):
    """One entry per page: the number of pages and the more flag must match what may be read."""
    h = basic(world, key)
    seen, nxt, pages = set(), None, 0
    while True:
        r = client.get(f"{COLL}/manifest/", headers=h, params={"limit": 1} | ({"next": nxt} if nxt else {}))
        if _denied(r):
            return set()
        body = r.json()
        pages += 1
        seen |= {NAME_OF[e["id"]] for e in body.get("objects", [])}
        if not body["more"]:
            break
        nxt = body["next"]
    assert pages == max(1, len(seen))
    return seen


def via_taxii_object_by_id(world, key, client, tmp_path):
    h = basic(world, key)
    seen = set()
    for name, stix_id in ID_OF.items():
        r = client.get(f"{COLL}/objects/{stix_id}/", headers=h)
        if _denied(r):
            continue
        assert [o["id"] for o in r.json()["objects"]] == [stix_id]
        seen.add(name)
    return seen


def via_taxii_versions(world, key, client, tmp_path):
    h = basic(world, key)
    seen = set()
    for name, stix_id in ID_OF.items():
        r = client.get(f"{COLL}/objects/{stix_id}/versions/", headers=h)
        if _denied(r):
            continue
        assert r.json()["versions"] == ["2026-10-01T00:00:00.000Z"]
        seen.add(name)
    return seen


def via_taxii_match_id(world, key, client, tmp_path):
    r = client.get(f"{COLL}/objects/", headers=basic(world, key), params={"match[id]": ",".join(ID_OF.values())})
    if _denied(r):
        return set()
    return {NAME_OF[o["id"]] for o in r.json().get("objects", [])}


def _feed_viewer(world, key):  # type: ignore[no-untyped-def]
    try:
        return world.viewer(key)
    except Forbidden:
        return None


def via_feed_misp(world, key, client, tmp_path):
    from cyberfusion.taxii import feed, service
    viewer = _feed_viewer(world, key)
    if viewer is None:
        return set()
    out = tmp_path / f"feed-{key}"
    with transaction(world.factory) as s:
        try:
            found = service.get_collection(s, viewer=viewer, root="cfc", key="investigation")
        except NotFound:
            return set()
        feed.write_misp_feed(s, viewer=viewer, collection=found, out_dir=out)
    text = "".join(p.read_text() for p in out.glob("*.json"))
    return {n for n, v in VALUE_OF.items() if f'"{v}"' in text}


def via_feed_stix(world, key, client, tmp_path):
    from cyberfusion.taxii import feed, service
    viewer = _feed_viewer(world, key)
    if viewer is None:
        return set()
    buf = io.StringIO()
    with transaction(world.factory) as s:
        try:
            found = service.get_collection(s, viewer=viewer, root="cfc", key="investigation")
        except NotFound:
            return set()
        feed.write_stix(s, viewer=viewer, collection=found, out=buf)
    return {NAME_OF[o["id"]] for o in json.loads(buf.getvalue())["objects"] if o["id"] in NAME_OF}


READ_PATHS = [via_taxii_objects, via_taxii_manifest_pages, via_taxii_object_by_id, via_taxii_versions,
              via_taxii_match_id, via_feed_misp, via_feed_stix]


@pytest.mark.parametrize("read_path", READ_PATHS, ids=lambda f: f.__name__)
def test_taxii_leak_matrix(taxii_matrix, client, tmp_path, read_path):
    assert_matrix(read_path, taxii_matrix, client, tmp_path)


def test_unreadable_object_is_indistinguishable_from_a_missing_one(taxii_matrix, client):
    h = basic(taxii_matrix, "analyst")  # the host centre may not read TLP:RED for the bank's named recipient
    hidden = client.get(f"{COLL}/objects/{ID_OF['red_to_le_gb']}/", headers=h)
    missing = client.get(f"{COLL}/objects/indicator--00000000-0000-4000-8000-000000000000/", headers=h)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["description"].replace(ID_OF["red_to_le_gb"], "X") == \
        missing.json()["description"].replace("indicator--00000000-0000-4000-8000-000000000000", "X")
    versions = client.get(f"{COLL}/objects/{ID_OF['red_to_le_gb']}/versions/", headers=h)
    assert versions.status_code == 404


def test_cursor_reveals_no_row_numbers(taxii_matrix, client):
    """Two viewers paging the same collection get cursors that look unrelated (sealed, random nonce)."""
    a = client.get(f"{COLL}/objects/", headers=basic(taxii_matrix, "analyst"), params={"limit": 1}).json()["next"]
    b = client.get(f"{COLL}/objects/", headers=basic(taxii_matrix, "analyst"), params={"limit": 1}).json()["next"]
    assert a != b and len(a) == len(b) == 60  # format byte + nonce + sealed position + tag, base64url
    assert len(EXPECTED) == len(ID_OF)
