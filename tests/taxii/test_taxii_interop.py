"""Real clients against the real server over HTTP on 127.0.0.1: taxii2-client, stix2's TAXII
data store, a round trip of the conformance corpus, and the answers of the OASIS reference
server (medallion) for the same data and queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import stix2
from stix2.datastore.filters import Filter
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from cyberfusion.kit.timeutil import parse_ts
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import MARKING_TO_TLP, TLP2_MARKING_IDS, TLP_LEVELS, tlp_from_markings
from sharing.helpers import indicator
from taxii.support import TAXII, medallion_default_data, seed

VALID = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "stix21" / "valid"
HIGH_VALUE = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
_NO_MARKING = ("marking-definition", "extension-definition", "language-content")


def _creds(world: Any, key: str) -> tuple[str, str]:
    return f"{key}@example.org", world.token(key)


def test_taxii2_client_discovers_pages_adds_and_polls(live_server, world, tmp_path):
    user, token = _creds(world, "vendor")
    server = Server(f"{live_server}/taxii2/", user=user, password=token)
    assert server.title == "cyberfusion TAXII 2.1"
    root = server.api_roots[0]
    assert root.url == f"{live_server}/taxii2/cfc/" and root.versions == [TAXII]
    inbox = [c for c in root.collections if c.alias == "inbox"][0]
    assert (inbox.can_read, inbox.can_write) == (True, True)

    objects = [indicator("ipv4-addr", f"10.7.{i // 250}.{i % 250 + 1}") for i in range(1200)]
    status = inbox.add_objects({"objects": objects[:700]}, wait_for_completion=True, poll_interval=0.1)
    assert (status.status, status.success_count, status.failure_count) == ("complete", 700, 0)
    status = inbox.add_objects({"objects": objects[700:]}, wait_for_completion=False)
    polled = root.get_status(status.id)
    assert (polled.status, polled.total_count, polled.success_count) == ("complete", 500, 500)
    assert {s["id"] for s in polled.successes} == {o["id"] for o in objects[700:]}

    pages = list(as_pages(inbox.get_objects, per_request=250))
    assert [len(p["objects"]) for p in pages] == [250] * 4 + [200]
    assert [o["id"] for p in pages for o in p["objects"]] == [o["id"] for o in objects]
    manifest = list(as_pages(inbox.get_manifest, per_request=500, type="indicator"))
    assert sum(len(p["objects"]) for p in manifest) == 1200
    one = inbox.get_object(objects[5]["id"])
    assert one["objects"][0]["pattern"] == objects[5]["pattern"]
    assert inbox.object_versions(objects[5]["id"])["versions"] == ["2026-10-01T00:00:00.000Z"]
    # Another organisation reads the vendor's GREEN... no: the inbox default is AMBER, the bank's ceiling is AMBER.
    # Other organisations read the vendor's inbox contributions (TLP:AMBER by default) per their agreements.
    everything = [c for c in root.collections if c.alias == "all"][0].url
    bank = Collection(everything, user="bank@example.org", password=world.token("bank"))
    assert len(bank.get_objects(limit=5000)["objects"]) == 1200
    telco = Collection(everything, user="telco@example.org", password=world.token("telco"))
    assert telco.get_objects().get("objects", []) == []  # telco's agreement stops at GREEN


def test_stix2_collection_source_and_sink(live_server, world):
    user, token = _creds(world, "bank")
    inbox = ApiRoot(f"{live_server}/taxii2/cfc/", user=user, password=token).collections[-1]
    assert inbox.alias == "inbox"
    sink = stix2.TAXIICollectionSink(inbox)
    v1 = stix2.Indicator(id="indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", created="2026-03-01T00:00:00.000Z",
                         modified="2026-03-01T00:00:00.000Z", name="bad ip", pattern="[ipv4-addr:value = '10.3.3.3']",
                         pattern_type="stix", valid_from="2026-03-01T00:00:00Z")
    v2 = v1.new_version(modified="2026-03-02T00:00:00.000Z", name="bad ip, confirmed")
    malware = stix2.Malware(name="Poison Ivy", is_family=True)
    sink.add([v1, v2, malware])
    source = stix2.TAXIICollectionSource(inbox)
    got = source.get(v1.id)
    assert (got.name, got.modified) == ("bad ip, confirmed", v2.modified)
    assert got.object_marking_refs[0] == TLP2_MARKING_IDS["amber"]
    assert [o.modified for o in source.all_versions(v1.id)] == [v1.modified, v2.modified]
    assert {o.id for o in source.query([Filter("type", "=", "malware")])} == {malware.id}
    assert {o.id for o in source.query()} == {v1.id, malware.id}
    env = stix2.Environment(source=source)
    assert env.get(malware.id).name == "Poison Ivy"


def _same(value: Any, other: Any) -> bool:
    if isinstance(value, str) and isinstance(other, str) and value != other:
        try:
            return parse_ts(value) == parse_ts(other)  # a timestamp written another way
        except ValueError:
            return False
    return value == other


def _equal_but_markings(original: dict[str, Any], back: dict[str, Any]) -> bool:
    if set(back) - set(original) - {"object_marking_refs"}:
        return False
    if not all(_same(v, back.get(p)) for p, v in original.items() if p != "object_marking_refs"):
        return False
    if original["type"] in _NO_MARKING:
        return back.get("object_marking_refs") == original.get("object_marking_refs")
    level = tlp_from_markings(original.get("object_marking_refs"))
    tlp = TLP_LEVELS[level] if level is not None else "amber"
    kept = [r for r in original.get("object_marking_refs", []) if r not in MARKING_TO_TLP]
    refs = back["object_marking_refs"]
    return refs[:-1] == kept + [TLP2_MARKING_IDS[tlp]] and refs[-1].startswith("marking-definition--")


def test_round_trip_of_the_conformance_corpus(live_server, world):
    """Every valid file posted to an inbox comes back with every property equal; the only change is
    the handling the platform attaches as markings (non-TLP markings kept, the effective TLP 2.0
    marking and the handling statement added)."""
    user, token = _creds(world, "vendor")
    inbox = ApiRoot(f"{live_server}/taxii2/cfc/", user=user, password=token).collections[-1]
    posted: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in sorted(VALID.glob("*.json")):
        doc = json.loads(path.read_text())
        objects = doc["objects"] if doc.get("type") == "bundle" else [doc]
        status = inbox.add_objects({"objects": objects}, wait_for_completion=False)
        assert (status.status, status.failure_count) == ("complete", 0), (path.name, status.failures)
        for obj in objects:
            posted.setdefault((obj["id"], obj.get("modified") or obj.get("created") or ""), []).append(obj)
    fetched = [o for page in as_pages(inbox.get_objects, per_request=100, version="all") for o in page["objects"]]
    # An SCO has no version of its own: the same id in two files (with different properties) is stored,
    # and served, once per contribution.
    assert {(o["id"], o.get("modified") or o.get("created") or "") for o in fetched} == set(posted)
    assert len(posted) > 250
    for back in fetched:
        key = (back["id"], back.get("modified") or back.get("created") or "")
        assert any(_equal_but_markings(original, back) for original in posted[key]), key
    # stix2 parses everything it gets back.
    for obj in fetched:
        stix2.parse(obj, allow_custom=True)


def _reference_data(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The reference server's populated collection, without the one STIX 2.0 object (we serve 2.1 only)."""
    coll = [c for c in data["trustgroup1"]["collections"] if c["id"] == HIGH_VALUE][0]
    objects = [o for o in coll["objects"] if "spec_version" in o]
    keep = {(o["id"], o.get("modified", o.get("created"))) for o in objects}
    manifest = [m for m in coll["manifest"] if (m["id"], m["version"]) in keep]
    coll["objects"], coll["manifest"] = objects, manifest
    return objects, manifest


QUERIES = [
    {}, {"match[version]": "all"}, {"match[version]": "first"}, {"match[version]": "last"},
    {"match[version]": "first,last"}, {"match[version]": "2016-12-25T12:30:59.444Z"},
    {"match[type]": "indicator"}, {"match[type]": "indicator,malware", "match[version]": "all"},
    {"match[id]": "indicator--6770298f-0fd8-471a-ab8c-1c658a46574e", "match[version]": "all"},
    {"added_after": "2016-11-03T12:30:59.001Z", "match[version]": "all"},
    {"added_after": "2016-12-27T13:49:59.000Z"}, {"match[spec_version]": "2.1"},
]


def test_same_answers_as_the_reference_server(live_server, medallion, world, tmp_path):
    data = medallion_default_data()
    objects, manifest = _reference_data(data)
    med = medallion(data)
    for entry in manifest:
        obj = [o for o in objects if o["id"] == entry["id"] and o.get("modified", o.get("created")) == entry["version"]][0]
        # Stamped with the reference data's date_added; reviewed far ahead, so age alone does not hide it.
        seed(world, "vendor", [obj], spec=HandlingSpec(tlp="clear", review_at=datetime(2100, 1, 1, tzinfo=UTC)),
             now=parse_ts(entry["date_added"]), tmp_path=tmp_path)
    ours = requests.Session()
    ours.auth = _creds(world, "bank")
    ref = requests.Session()
    ref.auth = ("user", "pass")
    headers = {"Accept": TAXII}

    def versions(session: requests.Session, url: str, params: dict[str, str]) -> list[tuple[str, str]]:
        r = session.get(url, params=params, headers=headers)
        assert r.status_code == 200, (url, params, r.text)
        return [(o["id"], o.get("modified", o.get("created"))) for o in r.json().get("objects", [])]

    for q in QUERIES:
        expected = versions(ref, f"{med}/trustgroup1/collections/{HIGH_VALUE}/objects/", q)
        got = versions(ours, f"{live_server}/taxii2/cfc/collections/all/objects/", q)
        assert got == expected, q
    # Manifest entries (id, version, date_added) and the paging headers agree too.
    r_ref = ref.get(f"{med}/trustgroup1/collections/{HIGH_VALUE}/manifest/", params={"match[version]": "all"},
                    headers=headers)
    r_ours = ours.get(f"{live_server}/taxii2/cfc/collections/all/manifest/", params={"match[version]": "all"},
                      headers=headers)
    assert [(e["id"], e["version"], e["date_added"]) for e in r_ours.json()["objects"]] == \
        [(e["id"], e["version"], e["date_added"]) for e in r_ref.json()["objects"]]
    for h in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
        assert r_ours.headers[h] == r_ref.headers[h]
    oid = "indicator--6770298f-0fd8-471a-ab8c-1c658a46574e"
    assert ours.get(f"{live_server}/taxii2/cfc/collections/all/objects/{oid}/versions/", headers=headers).json() \
        ["versions"] == sorted(ref.get(f"{med}/trustgroup1/collections/{HIGH_VALUE}/objects/{oid}/versions/",
                                       headers=headers).json()["versions"])


@pytest.mark.parametrize("name", ["discovery", "api-root", "collections", "collection", "collection-writable",
                                  "envelope", "manifest", "status", "add-objects-status"])
def test_our_resources_have_the_shape_of_the_spec_examples(live_server, world, tmp_path, name):
    """Every key our resources use appears in the OASIS example of that resource (and the required ones are there)."""
    example = json.loads((VALID.parents[1] / "taxii21" / "example-responses" / f"{name}.json").read_text())
    seed(world, "vendor", [indicator("ipv4-addr", "10.8.8.8")], tmp_path=tmp_path)
    s = requests.Session()
    s.auth = _creds(world, "vendor")
    s.headers["Accept"] = TAXII
    base = f"{live_server}/taxii2/cfc/"
    if name in ("status", "add-objects-status"):
        r = s.post(base + "collections/inbox/objects/", data=json.dumps({"objects": [indicator("ipv4-addr", "10.8.8.9")]}),
                   headers={"Content-Type": TAXII})
        ours = s.get(base + f"status/{r.json()['id']}/").json()
    else:
        url = {"discovery": f"{live_server}/taxii2/", "api-root": base, "collections": base + "collections/",
               "collection": base + "collections/all/", "collection-writable": base + "collections/inbox/",
               "envelope": base + "collections/all/objects/", "manifest": base + "collections/all/manifest/"}[name]
        ours = s.get(url).json()
    extra_ours = {"alias", "more", "next", "successes"}
    assert set(ours) - set(example) <= extra_ours, set(ours) - set(example)
    required = {"discovery": {"title", "api_roots"}, "api-root": {"title", "versions", "max_content_length"},
                "collections": {"collections"}, "collection": {"id", "title", "can_read", "can_write"},
                "collection-writable": {"id", "title", "can_read", "can_write"}, "envelope": {"objects"},
                "manifest": {"objects"}, "status": {"id", "status", "total_count", "success_count",
                                                    "failure_count", "pending_count"},
                "add-objects-status": {"id", "status", "total_count", "success_count", "failure_count",
                                       "pending_count"}}[name]
    assert required <= set(ours)
