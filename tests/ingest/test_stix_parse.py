"""STIX input: the conformance corpus, dry runs, STIX 2.0 upgrade, envelope order and streaming."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.stix import full_validate, iter_stix, upgrade_20, validate_object

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "stix21"
VALID = sorted((CORPUS / "valid").glob("*.json"))
INVALID = CORPUS / "invalid"

# Every file of invalid/ and the fields its problems must name (README's expected-error list).
EXPECTED_FIELDS: dict[str, set[str]] = {
    "indicator-missing-pattern.json": {"pattern"},
    "indicator-missing-pattern-type.json": {"pattern_type"},
    "indicator-missing-valid-from.json": {"valid_from"},
    "indicator-pattern-syntax-error.json": {"pattern"},
    "indicator-valid-until-before-valid-from.json": {"valid_until"},
    "malware-missing-is-family.json": {"is_family"},
    "malware-id-bad-separator.json": {"id"},
    "malware-id-type-prefix-mismatch.json": {"id"},
    "identity-spec-version-unknown.json": {"spec_version"},
    "identity-missing-spec-version.json": {"spec_version"},
    "identity-timestamp-bad-format.json": {"created", "modified"},
    "identity-timestamp-missing-z.json": {"created", "modified"},
    "identity-confidence-out-of-range.json": {"confidence"},
    "identity-custom-property-name-too-short.json": {"x"},
    "identity-missing-modified.json": {"modified"},
    "identity-modified-before-created.json": {"modified"},
    "relationship-missing-target-ref.json": {"target_ref"},
    "relationship-source-ref-not-identifier.json": {"source_ref"},
    "sighting-last-seen-before-first-seen.json": {"last_seen"},
    "sighting-where-sighted-refs-not-identity.json": {"where_sighted_refs"},
    "observed-data-missing-number-observed.json": {"number_observed"},
    "malware-analysis-sample-ref-wrong-type.json": {"sample_ref"},
    "email-addr-missing-value.json": {"value"},
    "file-md5-malformed.json": {"hashes.MD5"},
    "network-traffic-missing-src-and-dst.json": {"src_ref"},  # the reason names dst_ref too
    "bundle-missing-type.json": {"type"},
    "bundle-id-missing-prefix.json": {"id"},
}
# Non-JSON inputs: the JSON error and where it is.
NOT_JSON = {
    "trailing-comma.txt": ("parse error: invalid object key (must be a string)", "line 9, column 1 (byte 262)"),
    "stray-angle-brackets.txt": ("lexical error: invalid char in json text.", "line 1, column 1 (byte 0)"),
}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def objects_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["objects"] if doc.get("type") == "bundle" else [doc]


def parse(data: bytes, errors: list[Problem] | None = None, name: str = "t.json") -> list:
    return list(iter_stix(io.BytesIO(data), file_name=name, errors=errors))


def bundle(objects: list[Any], **envelope: Any) -> bytes:
    doc = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", **envelope, "objects": objects}
    return json.dumps(doc).encode()


IDENTITY = load(CORPUS / "valid" / "identity.json")
MALWARE = load(CORPUS / "valid" / "malware.json")
INDICATOR = objects_of(load(CORPUS / "valid" / "indicator-for-c2-ip-address.json"))[0]


# ---------------------------------------------------------------- conformance corpus

def test_corpus_is_complete() -> None:
    assert len(VALID) == 43
    assert {p.name for p in INVALID.glob("*.json")} == set(EXPECTED_FIELDS)
    assert {p.name for p in (INVALID / "not-json").iterdir()} == set(NOT_JSON)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_file_is_accepted_losslessly(path: Path) -> None:
    expected = objects_of(load(path))
    errors: list[Problem] = []
    items = list(iter_stix(path, file_name=path.name, errors=errors))
    assert errors == []
    assert [item.obj for item in items] == expected  # nothing added, dropped or converted
    assert [item.location for item in items] == [f"object {i} ({o['id']})" for i, o in enumerate(expected)]
    assert [item.obj for item in iter_stix(path, file_name=path.name)] == expected  # strict mode too


@pytest.mark.parametrize("name", sorted(EXPECTED_FIELDS))
def test_invalid_file_is_rejected_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(iter_stix(INVALID / name, file_name=name))
    problems = caught.value.problems
    assert {p.field for p in problems} == EXPECTED_FIELDS[name]
    doc = load(INVALID / name)
    where = "bundle" if name.startswith("bundle-") else f"object 0 ({doc['id']})"
    for p in problems:
        assert (p.file, p.location) == (name, where)
        assert p.field in p.reason
    if name == "network-traffic-missing-src-and-dst.json":
        assert "dst_ref" in problems[0].reason


@pytest.mark.parametrize("name", sorted(NOT_JSON))
def test_not_json_is_rejected_with_position(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(iter_stix(INVALID / "not-json" / name, file_name=name))
    [problem] = caught.value.problems
    reason, location = NOT_JSON[name]
    assert problem == Problem(f"not valid JSON: {reason}", name, location)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_full_validate_accepts_valid_files(path: Path) -> None:
    assert {o["id"]: full_validate(o) for o in objects_of(load(path))} == {o["id"]: [] for o in objects_of(load(path))}


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED_FIELDS if not n.startswith("bundle-")))
def test_full_validate_rejects_invalid_objects(name: str) -> None:
    found = full_validate(load(INVALID / name))
    assert EXPECTED_FIELDS[name] <= {p.field for p in found}
    assert all(p.field is not None for p in found)


def test_attack_bundle_with_custom_objects_is_accepted_whole() -> None:
    path = CORPUS.parent / "attack" / "ics-attack-18.1.json"
    errors: list[Problem] = []
    objs = [item.obj for item in iter_stix(path, file_name=path.name, errors=errors)]
    assert errors == []
    assert objs == load(path)["objects"]
    assert sum(o["type"].startswith("x-mitre-") for o in objs) > 0


def test_full_validate_adds_what_the_fast_path_does_not_check() -> None:
    obj = dict(IDENTITY, external_references=[{"source_name": "x"}])  # needs external_id, url or description
    assert validate_object(obj) == []
    assert [p.field for p in full_validate(obj)] == ["external_references"]


# ---------------------------------------------------------------- validate_object rules

def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


FILE = {"type": "file", "spec_version": "2.1", "id": "file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d", "name": "a.exe"}
OBSERVED = {
    "type": "observed-data", "spec_version": "2.1", "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
    "created": "2016-04-06T19:58:16.000Z", "modified": "2016-04-06T19:58:16.000Z",
    "first_observed": "2015-12-21T19:00:00Z", "last_observed": "2015-12-21T19:00:00Z", "number_observed": 50,
    "object_refs": ["ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8"],
}


@pytest.mark.parametrize(("obj", "field"), [
    (_with(IDENTITY, modified="2016-08-08T15:50:10Z"), "modified"),  # .983 is later than .000
    (_with(IDENTITY, created="2016-02-30T00:00:00Z"), "created"),  # no such day
    (_with(IDENTITY, created="2016-08-08T15:50:10+00:00"), "created"),  # offsets are not STIX
    (_with(IDENTITY, x_Custom="v"), "x_Custom"),
    (_with(IDENTITY, confidence=True), "confidence"),
    (_with(IDENTITY, created_by_ref="malware--9c4638ec-f1de-4ddb-abf4-1b760417654e"), "created_by_ref"),
    (_with(IDENTITY, object_marking_refs=[]), "object_marking_refs"),
    (_with(IDENTITY, id="identity--8c6af861-7b20-41ef-1b59-6344fd872a8f"), "id"),  # not an RFC 4122 variant
    (_with(IDENTITY, type="Identity"), "type"),
    (_with(MALWARE, is_family=True, name=None), "name"),
    (_with(MALWARE, is_family="yes"), "is_family"),
    (_with(INDICATOR, valid_until="2014-05-08T09:00:00Z"), "valid_until"),  # equal is not later
    (_with(INDICATOR, pattern="[ipv4-addr:value = '10.0.0.0'] AND"), "pattern"),  # the slow parser's verdict
    (_with(FILE, spec_version="2.0"), "spec_version"),
    (_with(FILE, hashes={"SHA-256": "abc"}), "hashes.SHA-256"),
    (_with(FILE, name=None), "hashes"),  # needs hashes or name
    (_with(FILE, parent_directory_ref="file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"), "parent_directory_ref"),
    (_with(OBSERVED, number_observed=0), "number_observed"),
    (_with(OBSERVED, object_refs=["indicator--33fe3b22-0201-47cf-85d0-97c02164528d"]), "object_refs"),
    (_with(OBSERVED, last_observed="2015-12-21T18:59:59.999Z"), "last_observed"),
    ({"type": "x-custom-sdo", "id": "x-custom-sdo--1ed8caa7-a708-4706-b651-f1186ede6ca1",
      "created": "2017-04-27T16:18:24.318Z", "modified": "2017-04-27T16:18:24.318Z"}, "spec_version"),
])
def test_validate_object_rule(obj: dict[str, Any], field: str) -> None:
    assert [p.field for p in validate_object(obj)] == [field]


@pytest.mark.parametrize("obj", [
    _with(FILE, spec_version=None),  # spec_version is optional on SCOs
    _with(FILE, hashes={"SSDEEP": "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C", "x_custom_algo": "anything"}),
    _with(INDICATOR, pattern_type="yara", pattern="rule x { condition: true }"),  # not parsed
    _with(INDICATOR, pattern="[domain-name:value = 'not a domain']"),  # valid STIX, odd value: not ours to judge
    {"type": "x-custom-sco", "id": "x-custom-sco--1ed8caa7-a708-4706-b651-f1186ede6ca1", "value": 1},
    _with(IDENTITY, x_mitre_data_source_ref=""),  # custom *_ref: unchecked, as by the OASIS validator
])
def test_validate_object_accepts(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []


def test_validate_object_on_non_objects() -> None:
    not_an_object: Any = 42
    assert [p.reason for p in validate_object(not_an_object)] == ["a STIX object must be a JSON object, not int"]


# ---------------------------------------------------------------- dry run and strict mode

BAD_CONFIDENCE = load(INVALID / "identity-confidence-out-of-range.json")
NO_FAMILY = load(INVALID / "malware-missing-is-family.json")
BAD_PATTERN = load(INVALID / "indicator-pattern-syntax-error.json")
MIXED = bundle([IDENTITY, BAD_CONFIDENCE, MALWARE, NO_FAMILY, BAD_PATTERN, 42, INDICATOR])


def test_dry_run_reports_every_bad_object_and_yields_the_good_ones() -> None:
    errors: list[Problem] = []
    items = parse(MIXED, errors)
    assert [(i.location, i.obj) for i in items] == [
        (f"object 0 ({IDENTITY['id']})", IDENTITY), (f"object 2 ({MALWARE['id']})", MALWARE),
        (f"object 6 ({INDICATOR['id']})", INDICATOR)]
    assert [(p.file, p.location, p.field) for p in errors] == [
        ("t.json", f"object 1 ({BAD_CONFIDENCE['id']})", "confidence"),
        ("t.json", f"object 3 ({NO_FAMILY['id']})", "is_family"),
        ("t.json", f"object 4 ({BAD_PATTERN['id']})", "pattern"),
        ("t.json", "object 5", None),
    ]


def test_strict_mode_raises_at_the_first_bad_object() -> None:
    items = iter_stix(io.BytesIO(MIXED), file_name="t.json")
    assert next(items).obj == IDENTITY
    with pytest.raises(InvalidInput) as caught:
        next(items)
    assert [(p.location, p.field) for p in caught.value.problems] == [
        (f"object 1 ({BAD_CONFIDENCE['id']})", "confidence")]


# ---------------------------------------------------------------- envelope

def test_envelope_after_objects_is_read_without_buffering() -> None:
    doc = b'{"objects": [%s, %s], "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "type": "bundle"}' % (
        json.dumps(IDENTITY).encode(), json.dumps(MALWARE).encode())
    errors: list[Problem] = []
    assert [i.obj for i in parse(doc, errors)] == [IDENTITY, MALWARE]
    assert errors == []


def test_bad_envelope_after_objects_is_reported_when_reached() -> None:
    many = [IDENTITY] * 400  # more than one 64 KiB chunk before the envelope
    doc = b'{"objects": %s, "id": "5d0092c5-5f74-4287-9642-33f4c354e56d"}' % json.dumps(many).encode()
    assert len(doc) > 64 * 1024
    errors: list[Problem] = []
    assert [i.obj for i in parse(doc, errors)] == many
    assert [(p.location, p.field) for p in errors] == [("bundle", "id"), ("bundle", "type")]
    items = iter_stix(io.BytesIO(doc), file_name="t.json")
    assert next(items).obj == IDENTITY  # the envelope is not known yet
    with pytest.raises(InvalidInput) as caught:
        list(items)
    assert [(p.location, p.field) for p in caught.value.problems] == [("bundle", "id")]


def test_bad_envelope_before_objects_stops_before_any_object() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(bundle([IDENTITY], type="grouping"))
    assert [(p.location, p.field) for p in caught.value.problems] == [("bundle", "type")]


@pytest.mark.parametrize(("data", "reason", "location"), [
    (b"[1, 2]", "the top-level JSON value must be an object (a STIX bundle or object)", None),
    (b"", "not valid JSON: parse error: premature EOF", "byte 0 (end of input)"),
    (b'{"type": "bundle", "objects": [', "not valid JSON: parse error: premature EOF", "byte 31 (end of input)"),
    (b'{"a": 1e400}', "not valid JSON: parse error: numeric (floating point) overflow", "line 1, column 6 (byte 5)"),
])
def test_unusable_documents(data: bytes, reason: str, location: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(data)
    assert caught.value.problems == [Problem(reason, "t.json", location)]


def test_json_error_deep_in_a_stream_is_located() -> None:
    lines = ",\n".join(json.dumps(IDENTITY) for _ in range(1000))  # about 250 KB: several chunks
    doc = b'{"objects": [\n%s,\n{"type": "identity",, "x": 1}]}' % lines.encode()
    with pytest.raises(InvalidInput) as caught:
        parse(doc, errors=[])  # a dry run cannot go on past broken JSON either
    [problem] = caught.value.problems
    offset = doc.index(b',, "x"') + 1
    assert problem.location == f"line 1002, column 21 (byte {offset})"


def test_numbers_are_plain_floats_and_ints() -> None:
    [item] = parse(bundle([_with(IDENTITY, x_score=0.25, x_count=7)]))
    assert type(item.obj["x_score"]) is float and type(item.obj["x_count"]) is int


def test_byte_order_mark_and_text_streams_are_accepted() -> None:
    assert [i.obj for i in parse(b"\xef\xbb\xbf" + json.dumps(IDENTITY).encode())] == [IDENTITY]
    assert [i.obj for i in iter_stix(io.StringIO(json.dumps(IDENTITY)), file_name="t")] == [IDENTITY]


# ---------------------------------------------------------------- STIX 2.0

BUNDLE_20 = {
    "type": "bundle", "id": "bundle--8c6af861-7b20-41ef-9b59-6344fd872a8f", "spec_version": "2.0",
    "objects": [
        {"type": "identity", "id": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
         "created": "2017-01-20T00:00:00.000Z", "modified": "2017-01-20T00:00:00.000Z",
         "name": "ACME", "identity_class": "organization"},
        {"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
         "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff", "labels": ["malicious-activity"],
         "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
         "valid_from": "2016-01-01T00:00:00Z"},
        {"type": "malware", "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
         "created": "2016-04-06T20:07:09.000Z", "modified": "2016-04-06T20:07:09.000Z",
         "name": "Poison Ivy", "labels": ["remote-access-trojan"]},
        {"type": "relationship", "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
         "created": "2016-04-06T20:06:37.000Z", "modified": "2016-04-06T20:06:37.000Z",
         "relationship_type": "indicates", "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "target_ref": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"},
    ],
}


def test_stix_20_bundle_is_upgraded() -> None:
    errors: list[Problem] = []
    objs = [i.obj for i in parse(json.dumps(BUNDLE_20).encode(), errors)]
    assert errors == []
    identity, indicator, malware, relationship = objs
    assert {o["spec_version"] for o in objs} == {"2.1"}
    assert identity == dict(BUNDLE_20["objects"][0], spec_version="2.1")
    assert "labels" not in indicator and indicator["indicator_types"] == ["malicious-activity"]
    assert (indicator["pattern_type"], indicator["pattern_version"]) == ("stix", "2.0")
    assert "labels" not in malware and malware["malware_types"] == ["remote-access-trojan"]
    assert malware["is_family"] is True
    assert relationship == dict(BUNDLE_20["objects"][3], spec_version="2.1")


def test_upgrade_20_copies_and_leaves_21_alone() -> None:
    original = copy.deepcopy(BUNDLE_20["objects"][2])
    upgraded = upgrade_20(original)
    assert original == BUNDLE_20["objects"][2]
    assert upgraded is not original
    assert upgrade_20(MALWARE) is MALWARE


def test_stix_20_is_recognised_wherever_the_bundle_version_sits() -> None:
    sorted_keys = json.dumps(BUNDLE_20, sort_keys=True).encode()  # spec_version after objects
    assert [i.obj for i in parse(sorted_keys)] == [i.obj for i in parse(json.dumps(BUNDLE_20).encode())]
    undeclared = dict(BUNDLE_20)
    del undeclared["spec_version"]  # the 2.1 spec: a non-SCO without spec_version is 2.0
    assert [i.obj["spec_version"] for i in parse(json.dumps(undeclared).encode())] == ["2.1"] * 4


def test_sdo_without_spec_version_is_rejected_in_a_declared_21_bundle_or_alone() -> None:
    identity_20 = BUNDLE_20["objects"][0]
    with pytest.raises(InvalidInput) as caught:
        parse(bundle([identity_20], spec_version="2.1"))
    assert [p.field for p in caught.value.problems] == ["spec_version"]
    with pytest.raises(InvalidInput) as caught:
        parse(json.dumps(identity_20).encode())
    assert [p.field for p in caught.value.problems] == ["spec_version"]


# ---------------------------------------------------------------- streaming

class CountingReader(io.RawIOBase):
    def __init__(self, f: io.BufferedReader) -> None:
        self.f, self.bytes_read = f, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.bytes_read += len(data)
        return data


def test_large_bundle_is_streamed(tmp_path: Path) -> None:
    n = 50_000
    path = tmp_path / "big.json"
    template = json.dumps(_with(INDICATOR, id="indicator--00000000-0000-4000-8000-%012d",
                                pattern="[ipv4-addr:value = '10.%d.%d.%d']")).replace("%", "%%")
    template = template.replace("%%012d", "%012d").replace("%%d", "%d")
    with path.open("w") as f:
        f.write('{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [')
        f.write(",".join(template % (i, i >> 16, (i >> 8) & 255, i & 255) for i in range(n)))
        f.write("]}")
    size = path.stat().st_size
    with path.open("rb") as raw:
        reader = CountingReader(raw)
        items = iter_stix(reader, file_name="big.json")
        first = next(items)
        assert first.location == "object 0 (indicator--00000000-0000-4000-8000-000000000000)"
        assert reader.bytes_read <= 64 * 1024 < size // 100  # one chunk, not the file
        count = 1 + sum(1 for _ in items)
    assert count == n
    assert reader.bytes_read == size


def test_invalid_utf8_in_a_string_is_a_located_problem() -> None:
    # Found by fuzz/run.py stix: yajl raised UnicodeDecodeError for a bad byte in the bundle's id.
    data = b'{\n    "id": "bundle--cc0ca596-70e6-4dac-\xc0\x9def-603166d17db8",\n    "objects": []}'
    with pytest.raises(InvalidInput) as caught:
        list(iter_stix(io.BytesIO(data), file_name="bad.json"))
    assert str(caught.value) == ("bad.json, line 2: not valid UTF-8: byte 0xc0 cannot start or continue a "
                                 "character (STIX JSON must be UTF-8 encoded)")
