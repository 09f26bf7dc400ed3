"""MISP → STIX 2.1: every conformance event, counts against the JSON, handling hints, misp-stix."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import stix2

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.misp import TLP_MARKINGS, iter_misp, iter_misp_feed, summarise_misp

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
EVENTS = CONFORMANCE / "misp" / "events"
MAPPING = CONFORMANCE / "misp" / "stix-pairs" / "mapping" / "misp_attributes_to_stix21.json"

NOT_EVENTS = {
    "pymisp-fragment-object-tag.json", "pymisp-fragment-objects-with-attribute-tags.json",
    "pymisp-list-events-index.json", "pymisp-list-sharing-groups.json",
}
FULL = sorted(p.name for p in EVENTS.glob("*.json") if p.name not in NOT_EVENTS)
PRIMARY = {"indicator", "observed-data", "note", "vulnerability", "campaign"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def convert(name: str, errors: list[Problem] | None = None) -> list:
    return list(iter_misp(EVENTS / name, file_name=name, errors=errors))


def raw_events(name: str) -> list[dict]:
    """The events of a file, read independently of the converter."""
    data = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    if "response" in data:
        return [item.get("Event", item) for item in data["response"]]
    return [data.get("Event", data)]


def live(items: list[dict] | None) -> list[dict]:
    return [x for x in items or [] if not x.get("deleted")]


def json_counts(name: str) -> dict[str, int]:
    counts = Counter()
    for ev in raw_events(name):
        counts["events"] += 1
        objects = live(ev.get("Object"))
        attributes = live(ev.get("Attribute")) + [a for o in objects for a in live(o.get("Attribute"))]
        counts["attributes"] += len(attributes)
        counts["objects"] += len(objects)
        counts["tags"] += len(ev.get("Tag") or []) + sum(len(h.get("Tag") or [])
                                                        for h in attributes + objects)
        galaxies = (ev.get("Galaxy") or []) + [g for a in attributes for g in a.get("Galaxy") or []]
        counts["galaxies"] += len(galaxies)
        counts["clusters"] += sum(len(g.get("GalaxyCluster") or []) for g in galaxies)
        counts["sightings"] += sum(len(a.get("Sighting") or []) for a in attributes)
    return counts


# ---------------------------------------------------------------- every full event


def test_the_corpus_is_what_these_tests_expect():
    assert len(FULL) == 35
    assert all((EVENTS / name).is_file() for name in NOT_EVENTS)


@pytest.mark.parametrize("name", FULL)
def test_every_full_event_imports_as_valid_stix(name):
    items = convert(name)
    objs = [item.obj for item in items]
    for obj in objs:
        stix2.parse(obj, allow_custom=True)
    ids = [obj["id"] for obj in objs]
    assert len(ids) == len(set(ids))
    reports = [obj for obj in objs if obj["type"] == "report"]
    assert len(reports) == len(raw_events(name))
    # one event per file in this corpus: the report refers to everything else produced
    (report,) = reports
    assert set(report["object_refs"]) == set(ids) - {report["id"]}
    raw = raw_events(name)[0]
    if raw.get("uuid"):
        assert report["id"] == f"report--{raw['uuid']}"
        assert report["external_references"] == [{"source_name": "misp",
                                                  "external_id": raw["uuid"]}]
    assert report["name"] == raw["info"]
    assert all(item.location.startswith("event 1") for item in items)


@pytest.mark.parametrize("name", FULL)
def test_summary_counts_match_the_json(name):
    summary = summarise_misp(EVENTS / name)
    expected = json_counts(name)
    for key in ("events", "attributes", "objects", "tags", "galaxies", "clusters", "sightings"):
        assert summary[key] == expected[key], key


@pytest.mark.parametrize("name", FULL)
def test_every_live_attribute_has_one_primary_object_with_its_uuid(name):
    items = convert(name)
    objs = [item.obj for item in items]
    per_attribute = Counter(i.location for i in items if i.obj["type"] in PRIMARY
                            and re.fullmatch(r"event 1 attribute \d+", i.location))
    assert sorted(per_attribute.values()) == [1] * len(live(raw_events(name)[0].get("Attribute")))
    by_uuid = Counter(obj["id"].split("--", 1)[1] for obj in objs if obj["type"] in PRIMARY)
    for ev in raw_events(name):
        given = Counter(x.get("uuid") for x in (ev.get("Attribute") or []) + (ev.get("Object") or []))
        for attr in live(ev.get("Attribute")):
            if UUID.match(attr.get("uuid", "")) and given[attr["uuid"]] == 1:
                assert by_uuid[attr["uuid"]] == 1, attr
        for obj in live(ev.get("Object")):
            if UUID.match(obj.get("uuid", "")) and live(obj.get("Attribute")):
                assert by_uuid[obj["uuid"]] >= 1, obj["uuid"]


def test_a_repeated_uuid_does_not_merge_attributes():
    # the misp-stix fixture gives four attributes one uuid: the first keeps it
    objs = [i.obj for i in convert("mispstix-event-confidence-tags.json")]
    primaries = [o for o in objs if o["type"] in PRIMARY]
    assert len(primaries) == 4
    assert sum(o["id"].endswith("91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f") for o in primaries) == 1


@pytest.mark.parametrize("name", FULL)
def test_reimport_is_identical(name):
    first = [(i.obj, i.location, i.handling) for i in convert(name)]
    assert first == [(i.obj, i.location, i.handling) for i in convert(name)]


EXACT_TYPES = {
    "synthetic-distribution-levels-sharing-group.json":
        {"report": 1, "identity": 1, "indicator": 4, "observed-data": 2, "file": 2, "note": 1},
    "mispstix-event-sightings.json":
        {"report": 1, "identity": 4, "indicator": 1, "observed-data": 1, "autonomous-system": 1,
         "sighting": 4, "opinion": 4},
    "mispstix-event-analyst-data-report-note.json":
        {"report": 1, "identity": 1, "indicator": 2, "observed-data": 2, "ipv4-addr": 1,
         "file": 1, "note": 4, "opinion": 3, "relationship": 1},
    "mispstix-event-confidence-tags.json":
        {"report": 1, "identity": 1, "indicator": 1, "campaign": 1, "vulnerability": 1,
         "observed-data": 1, "autonomous-system": 1},
    "pymisp-existing-event-galaxies-objects.json":
        {"report": 1, "identity": 1, "indicator": 56, "observed-data": 1, "url": 1, "note": 38,
         "relationship": 20, "threat-actor": 1, "malware": 9, "tool": 4},
    "pymisp-osint-sightings-1.json":
        {"report": 1, "identity": 2, "indicator": 5, "sighting": 2, "opinion": 3, "malware": 1},
    "eset-telebots-response-wrapper.json":
        {"report": 1, "identity": 1, "indicator": 69, "observed-data": 25, "note": 1, "url": 16,
         "domain-name": 3, "ipv4-addr": 6, "threat-actor": 1},
    "pymisp-attribute-deleted.json": {"report": 1, "note": 1},
    "pymisp-minimal-event.json": {"report": 1, "note": 1},
}


@pytest.mark.parametrize("name", sorted(EXACT_TYPES))
def test_exact_output_per_file(name):
    assert Counter(item.obj["type"] for item in convert(name)) == EXACT_TYPES[name]


def test_exact_summaries():
    assert summarise_misp(EVENTS / "synthetic-distribution-levels-sharing-group.json") == {
        "events": 1, "attributes": 7, "event_attributes": 7, "object_attributes": 0,
        "objects": 0, "tags": 9, "galaxies": 0, "clusters": 0, "sightings": 0,
        "event_reports": 0}
    summary = summarise_misp(EVENTS / "pymisp-existing-event-galaxies-objects.json")
    assert (summary["attributes"], summary["objects"], summary["clusters"]) == (122, 49, 14)
    assert summarise_misp(EVENTS / "pymisp-attribute-deleted.json")["attributes"] == 0
    assert summarise_misp(EVENTS / "mispstix-event-sightings.json")["sightings"] == 8


# ---------------------------------------------------------------- not events


@pytest.mark.parametrize("name", sorted(NOT_EVENTS))
def test_fragments_index_and_sharing_groups_are_rejected(name):
    with pytest.raises(InvalidInput) as caught:
        list(iter_misp(EVENTS / name, file_name=name))
    problem = caught.value.problems[0]
    assert problem.file == name
    assert problem.field == "info"
    assert "'info'" in problem.reason
    with pytest.raises(InvalidInput):
        summarise_misp(EVENTS / name)


def test_rejection_reasons_say_what_the_file_is():
    def reason(name):
        with pytest.raises(InvalidInput) as caught:
            list(iter_misp(EVENTS / name, file_name=name))
        return str(caught.value.problems[0])

    assert reason("pymisp-fragment-object-tag.json") == (
        "pymisp-fragment-object-tag.json, event 1: field 'info': missing mandatory field "
        "'info': not a full MISP event (an event fragment?)")
    assert "events index" in reason("pymisp-list-events-index.json")
    assert "sharing groups" in reason("pymisp-list-sharing-groups.json")


def test_not_json_is_rejected():
    with pytest.raises(InvalidInput, match=r"x\.json"):
        list(iter_misp(io.BytesIO(b"hello"), file_name="x.json"))
    with pytest.raises(InvalidInput, match="not valid JSON"):
        list(iter_misp(io.BytesIO(b'{"info": "a", "Attribute": [}'), file_name="x.json"))



def test_invalid_utf8_is_a_located_problem():
    """An overlong encoding ("\\xc1\\xaf" for "/") passes the JSON lexer but is not UTF-8
    (found by fuzz/run.py misp): a located problem, never a UnicodeDecodeError."""
    event = b'{"Event": {\n  "info": "x",\n  "Attribute": [{"type": "comment", "value": "a \xc1\xaf"}]\n}}'
    with pytest.raises(InvalidInput) as caught:
        list(iter_misp(io.BytesIO(event), file_name="bad.json"))
    assert str(caught.value.problems[0]) == ("bad.json, line 3: not valid UTF-8: byte 0xc1 cannot start or "
                                             "continue a character (MISP JSON must be UTF-8 encoded)")

# ---------------------------------------------------------------- forms and streams


class OneWay(io.RawIOBase):
    """A stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_all_forms_and_streams_give_the_same_objects():
    name = "mispstix-event-sightings.json"
    event = raw_events(name)[0]
    expected = [item.obj for item in convert(name)]
    for form in ({"Event": event}, {"response": [{"Event": event}]}, event, [{"Event": event}]):
        data = json.dumps(form).encode()
        assert [i.obj for i in iter_misp(io.BytesIO(data), file_name="f.json")] == expected
        assert [i.obj for i in iter_misp(OneWay(data), file_name="f.json")] == expected


def test_several_events_in_one_response_stream_one_after_the_other():
    events = [raw_events(n)[0] for n in ("pymisp-attribute.json", "mispstix-event-tlp2-tags.json")]
    data = json.dumps({"response": [{"Event": e} for e in events]}).encode()
    items = list(iter_misp(io.BytesIO(data), file_name="two.json"))
    reports = [i for i in items if i.obj["type"] == "report"]
    assert [r.location for r in reports] == ["event 1", "event 2"]
    assert {i.location.split()[1] for i in items} == {"1", "2"}


def test_missing_uuids_get_stable_derived_ids():
    a = [i.obj["id"] for i in convert("pymisp-attribute.json")]
    b = [i.obj["id"] for i in convert("pymisp-attribute.json")]
    assert a == b and all(UUID.match(x.split("--")[1]) for x in a)


# ---------------------------------------------------------------- handling and markings


def test_distribution_levels_sharing_group_and_tlp():
    items = convert("synthetic-distribution-levels-sharing-group.json")
    report = items[0]
    assert report.obj["type"] == "report"
    assert report.handling == {"tlp": "amber", "distribution": 4,
                               "sharing_group": "PrivateTrustedGroup"}
    by_attr = {i.location: i.handling for i in items
               if i.obj["type"] in PRIMARY}
    assert by_attr == {
        "event 1 attribute 1": {"tlp": "red", "distribution": 0},
        "event 1 attribute 2": {"tlp": "amber+strict", "distribution": 1},
        "event 1 attribute 3": {"tlp": "green", "distribution": 2},
        "event 1 attribute 4": {"tlp": "clear", "distribution": 3},
        "event 1 attribute 5": {"tlp": "amber", "distribution": 4,
                                "sharing_group": "PrivateTrustedGroup"},
        "event 1 attribute 6": {"tlp": "clear", "distribution": 5},  # tlp:white
        "event 1 attribute 7": {"tlp": "amber", "distribution": 5},  # the event's TLP
    }
    assert sorted({i.handling["distribution"] for i in items}) == [0, 1, 2, 3, 4, 5]
    for item in items:
        if item.obj["type"] != "identity":
            assert item.obj["object_marking_refs"] == [TLP_MARKINGS[item.handling["tlp"]]]
    assert TLP_MARKINGS["clear"] == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    report_labels = report.obj["labels"]
    assert report_labels == ["PAP:AMBER", 'admiralty-scale:source-reliability="b"']


def test_tlp2_tags_and_labels():
    items = convert("mispstix-event-tlp2-tags.json")
    raw = raw_events("mispstix-event-tlp2-tags.json")[0]
    tlp_tags = [t["name"] for t in raw["Tag"]] + [t["name"] for t in raw["Attribute"][0]["Tag"]]
    assert any(t.startswith("tlp:") for t in tlp_tags)
    for item in items:
        assert item.handling["tlp"] in TLP_MARKINGS


# ---------------------------------------------------------------- mapping details


def one_attribute(attr: dict, errors: list[Problem] | None = None) -> list[dict]:
    event = {"Event": {"info": "t", "date": "2020-10-25", "timestamp": "1603642920",
                       "uuid": "a6ef17d6-91cb-4a05-b10b-2f045daf874c",
                       "Attribute": [{"uuid": "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f",
                                      "category": "Network activity", "timestamp": "1603642920",
                                      **attr}]}}
    items = iter_misp(io.BytesIO(json.dumps(event).encode()), file_name="t.json", errors=errors)
    return [i.obj for i in items if i.obj["type"] != "report"]


def pattern_of(attr: dict) -> str:
    (indicator,) = [o for o in one_attribute({"to_ids": True, **attr}) if o["type"] == "indicator"]
    return indicator["pattern"]


def test_composite_types():
    assert pattern_of({"type": "ip-dst|port", "value": "5.6.7.8|5678"}) == (
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = "
        "'5.6.7.8' AND network-traffic:dst_port = 5678]")
    assert pattern_of({"type": "domain|ip", "value": "circl.lu|149.13.33.14"}) == (
        "[domain-name:value = 'circl.lu' AND domain-name:resolves_to_refs[*].value = "
        "'149.13.33.14']")
    digest = "7fa3abc229fd3cb9a0a6f07d9da15e35528c630d0ad5902d5422b305cae7eaa4"
    assert pattern_of({"type": "filename|sha256", "value": f"a|b.exe|{digest}"}) == (
        f"[file:name = 'a|b.exe' AND file:hashes.'SHA-256' = '{digest}']")


def test_observed_data_when_not_to_ids_with_deterministic_scos():
    objs = one_attribute({"type": "domain|ip", "value": "circl.lu|149.13.33.14", "to_ids": False})
    kinds = [o["type"] for o in objs]
    assert kinds == ["domain-name", "ipv4-addr", "observed-data"]
    domain, ip, observed = objs
    assert domain["resolves_to_refs"] == [ip["id"]]
    assert observed["object_refs"] == [domain["id"], ip["id"]]
    assert ip["id"] == stix2.IPv4Address(value="149.13.33.14").id


def test_text_becomes_a_note_and_nonsense_indicators_are_reported_not_fatal():
    (note,) = one_attribute({"type": "text", "value": "free text", "to_ids": False})
    assert note["type"] == "note" and note["content"] == "free text"
    errors: list[Problem] = []
    (kept,) = one_attribute({"type": "ip-dst", "value": "300.1.1.1", "to_ids": True}, errors)
    assert kept["type"] == "note" and kept["content"] == "300.1.1.1"
    assert [str(e) for e in errors] == [
        "t.json, event 1 attribute 1: field 'value': to_ids attribute not turned into an "
        "indicator (not a valid ipv4-addr: '300.1.1.1'); kept as a note"]
    (quiet,) = one_attribute({"type": "ip-dst", "value": "300.1.1.1", "to_ids": False}, errors)
    assert quiet["type"] == "note" and len(errors) == 1


def test_types_unknown_to_pymisp_and_undescribed_sharing_groups_are_reported():
    errors: list[Problem] = []
    objs = one_attribute({"type": "brand-new-type", "value": "zz", "to_ids": True,
                          "distribution": "4", "sharing_group_id": "9"}, errors)
    assert [o["type"] for o in objs] == ["note"]
    assert [(e.location, e.field, e.reason) for e in errors] == [
        ("event 1 attribute 1", "type",
         "attribute type 'brand-new-type' unknown to PyMISP: kept as a note"),
        ("event 1", "sharing_group_id",
         "distribution 4 (sharing group) but sharing group '9' is not described in the file"),
    ]


def test_deleted_attributes_are_skipped():
    objs = [i.obj for i in convert("pymisp-attribute-deleted.json")]
    assert not any(o["type"] in ("indicator", "observed-data") for o in objs)


def test_sightings_false_positives_and_expiration():
    objs = [i.obj for i in convert("pymisp-osint-sightings-1.json")]
    raw = raw_events("pymisp-osint-sightings-1.json")[0]
    sightings = [o for o in objs if o["type"] == "sighting"]
    assert sorted(s["sighting_of_ref"] for s in sightings) == sorted(
        f"indicator--{a['uuid']}" for a in raw["Attribute"]
        if any(s["type"] == "0" for s in a["Sighting"]))
    assert all(s["count"] == 1 and s["first_seen"] == s["last_seen"] for s in sightings)
    opinions = [o for o in objs if o["type"] == "opinion"]
    assert {o["opinion"] for o in opinions} == {"strongly-disagree"}
    expired = {o["id"]: o.get("valid_until") for o in objs if o["type"] == "indicator"}
    assert expired["indicator--5b6464ca-e0a0-40e0-8e21-d0350acd0835"] == "2019-02-27T07:52:48.000Z"


def test_sightings_are_grouped_per_organisation_with_counts():
    objs = [i.obj for i in convert("mispstix-event-sightings.json")]
    sightings = [o for o in objs if o["type"] == "sighting"]
    assert sorted(s["count"] for s in sightings) == [1, 1, 1, 1]
    assert all(s["where_sighted_refs"][0].startswith("identity--") for s in sightings)


def test_objects_references_and_galaxies():
    objs = {o["id"]: o for o in (i.obj for i in convert("pymisp-existing-event-galaxies-objects.json"))}
    relationships = [o for o in objs.values() if o["type"] == "relationship"]
    assert {r["relationship_type"] for r in relationships} == {"communicates-with"}
    assert all(r["source_ref"] in objs and r["target_ref"] in objs for r in relationships)
    actor = objs["threat-actor--7cdff317-a673-4474-84ec-4f1754947823"]
    assert actor["name"] == "Sofacy" and "APT28" in actor["aliases"]
    malware = [o for o in objs.values() if o["type"] == "malware"]
    assert {m["name"] for m in malware} >= {"Sednit EK", "DealersChoice", "CHOPSTICK"}
    assert all(m["is_family"] for m in malware)


def test_attack_pattern_cluster_matches_misp_stix_naming():
    objs = [i.obj for i in convert("mispstix-event-tags-galaxy.json")]
    (pattern,) = [o for o in objs if o["type"] == "attack-pattern"]
    assert pattern["id"] == "attack-pattern--e042a41b-5ecf-4f3a-8f1f-1b528c534772"
    assert pattern["name"] == "Access Token Manipulation"
    assert {"source_name": "mitre-attack", "external_id": "T1134"} in pattern["external_references"]
    assert pattern["kill_chain_phases"][0] == {"kill_chain_name": "mitre-attack",
                                               "phase_name": "defense-evasion"}


# ---------------------------------------------------------------- misp-stix alignment

# Where we differ from misp-stix on purpose (see the module docstring of ingest.misp).
DELIBERATE = {
    "attachment", "malware-sample",       # payload bytes are not copied into patterns
    "email-header",                       # free text: kept as a note
    "filename|sha512/224", "filename|sha512/256", "sha512/224", "sha512/256",  # not SHA-2
    "regkey|value",                       # values[*].data, no escaping of '%'
    "sigma", "snort", "suricata", "yara",  # the rule itself, not wrapped in [ ]
}
# misp-stix quotes integers ('174', '8443'); STIX compares them as integers.
INTEGER_QUOTES = re.compile(r"(number|_port|:size) = '(\d+)'")


def misp_stix_comparison() -> tuple[int, int, set[str]]:
    mapping = json.loads(MAPPING.read_text(encoding="utf-8"))
    exact = equivalent = 0
    differing = set()
    for misp_type, entry in mapping.items():
        expected = entry["STIX"] if isinstance(entry["STIX"], list) else [entry["STIX"]]
        attr = {k: v for k, v in entry["MISP"].items() if k != "uuid"}
        ours = one_attribute({**attr, "to_ids": True})
        ours = [o for o in ours if o["id"].endswith("91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f")]
        wanted = [o for o in expected if o["type"] == "indicator"]
        got = [o for o in ours if o["type"] == "indicator"]
        if not wanted:  # misp-stix makes an SDO (campaign, vulnerability)
            same = [o["type"] for o in ours] == [expected[0]["type"]]
            exact += same
            equivalent += same
            differing |= set() if same else {misp_type}
            continue
        if got and got[0]["pattern"] == wanted[0]["pattern"]:
            exact += 1
            equivalent += 1
        elif got and INTEGER_QUOTES.sub(r"\1 = \2", wanted[0]["pattern"]) == got[0]["pattern"]:
            equivalent += 1
        else:
            differing.add(misp_type)
    return exact, equivalent, differing


def test_patterns_agree_with_misp_stix():
    exact, equivalent, differing = misp_stix_comparison()
    assert differing == DELIBERATE
    assert (exact, equivalent) == (62, 68)  # of 80 attribute types


@pytest.mark.parametrize("misp_type", [
    "ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain", "hostname", "domain|ip", "url",
    "link", "uri", "email", "email-src", "email-dst", "md5", "sha1", "sha256", "sha512",
    "filename", "filename|md5", "filename|sha256", "hostname|port", "AS", "mac-address", "mutex", "regkey",
    "x509-fingerprint-sha256", "vulnerability", "campaign-name", "port", "user-agent",
])
def test_common_types_match_misp_stix(misp_type):
    entry = json.loads(MAPPING.read_text(encoding="utf-8"))[misp_type]
    expected = entry["STIX"] if isinstance(entry["STIX"], list) else [entry["STIX"]]
    attr = {k: v for k, v in entry["MISP"].items() if k != "uuid"}
    ours = one_attribute({**attr, "to_ids": True})
    wanted = [o for o in expected if o["type"] == "indicator"]
    if wanted:
        (got,) = [o for o in ours if o["type"] == "indicator"]
        assert got["pattern"] == INTEGER_QUOTES.sub(r"\1 = \2", wanted[0]["pattern"])
        assert got["pattern_type"] == wanted[0]["pattern_type"]
    else:
        assert [o["type"] for o in ours] == [expected[0]["type"]]
        if expected[0]["type"] == "vulnerability":
            assert ours[0]["external_references"] == expected[0]["external_references"]


# ---------------------------------------------------------------- feeds


def test_feed_directory_streams_each_listed_event(tmp_path):
    names = ["mispstix-event-sightings.json", "synthetic-distribution-levels-sharing-group.json"]
    manifest = {}
    for name in names:
        event = raw_events(name)[0]
        (tmp_path / f"{event['uuid']}.json").write_text(json.dumps({"Event": event}))
        manifest[event["uuid"]] = {"info": event["info"]}
    manifest["00000000-0000-4000-8000-000000000000"] = {"info": "gone"}
    manifest["../../etc/passwd"] = {"info": "escape"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    errors: list[Problem] = []
    items = list(iter_misp_feed(tmp_path, errors=errors))
    assert sorted(i.obj["id"] for i in items if i.obj["type"] == "report") == sorted(
        f"report--{raw_events(n)[0]['uuid']}" for n in names)
    assert len(items) == sum(len(convert(n)) for n in names)
    assert [(e.file, e.reason) for e in errors] == [
        ("00000000-0000-4000-8000-000000000000.json",
         "event listed in manifest.json but its file is missing"),
        ("manifest.json", "manifest key '../../etc/passwd' is not an event uuid")]
    with pytest.raises(InvalidInput, match="missing"):
        list(iter_misp_feed(tmp_path))
    with pytest.raises(InvalidInput, match=r"manifest\.json"):
        list(iter_misp_feed(tmp_path / "nowhere"))
