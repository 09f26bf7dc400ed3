"""Hostile input for every ingest parser: a result or a located InvalidInput, never anything else.

Inputs come from three sources: raw bytes, arbitrary JSON, and the conformance corpus
with one value swapped for an arbitrary one (so the mutation lands deep inside
well-formed bundles and events, where the converters do their work).
"""

from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hostile import json_bytes, json_values, result_or_located, text_lines
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.misp import iter_misp, iter_misp_feed, summarise_misp
from cyberfusion.ingest.stix import iter_stix
from cyberfusion.ingest.tabular import iter_csv
from cyberfusion.ingest.text import iter_text

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
STIX_SEEDS = sorted((CONFORMANCE / "stix21" / "valid").glob("*.json"))
MISP_SEEDS = sorted(p for p in (CONFORMANCE / "misp" / "events").glob("*.json") if p.stat().st_size < 200_000)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Path]) -> bytes:
    """A corpus document with one to three values replaced by arbitrary JSON."""
    doc = json.loads(draw(st.sampled_from(seeds)).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        doc = _replace(doc, path, draw(json_values))
    return json.dumps(doc).encode()


def _stix(data: bytes, errors: list[Problem] | None = None) -> list[Any]:
    return list(iter_stix(io.BytesIO(data), file_name="in.json", errors=errors))


def _misp(data: bytes, errors: list[Problem] | None = None) -> list[Any]:
    return list(iter_misp(io.BytesIO(data), file_name="in.json", errors=errors, default_time=NOW))


# --- STIX ------------------------------------------------------------------------------------

@given(st.one_of(st.binary(max_size=600), json_bytes(json_values), mutated(STIX_SEEDS)))
# Regression: a list as "type" of an object without spec_version raised TypeError in the 2.0 check.
@example(b'{"type": "bundle", "id": "bundle--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", "objects": [{"type": [], '
         b'"id": "x", "created": "2016-01-01T00:00:00Z"}]}')
# Regression (hypothesis, long profile): external_references true raised TypeError.
@example(b'{"type": "note", "spec_version": "2.1", "id": "note--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", '
         b'"created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "content": "x", '
         b'"object_refs": ["note--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80"], "external_references": true, '
         b'"granular_markings": 5}')
def test_stix_any_input_gives_objects_or_located_error(data: bytes) -> None:
    result_or_located(lambda: _stix(data))
    errors: list[Problem] = []
    result_or_located(lambda: _stix(data, errors))  # the dry-run path collects instead
    assert all(p.file == "in.json" and p.reason for p in errors)


@given(mutated(STIX_SEEDS))
def test_stix_output_is_json_and_carries_an_id(data: bytes) -> None:
    out = result_or_located(lambda: _stix(data))
    if not isinstance(out, InvalidInput):
        for item in out:
            json.dumps(item.obj)
            assert isinstance(item.obj["id"], str) and item.location


def test_stix_nesting_beyond_the_limit_is_refused_with_a_location() -> None:
    # Regression: 5,000 nested lists parsed (ijson does not recurse) and then failed with
    # RecursionError when the pipeline serialised the object.
    deep = (b'{"type": "bundle", "id": "bundle--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", "objects": ['
            b'{"type": "note", "id": "note--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", "x_deep": '
            + b"[" * 5000 + b"]" * 5000 + b"}]}")
    with pytest.raises(InvalidInput) as caught:
        _stix(deep)
    problem = caught.value.problems[0]
    assert (problem.file, problem.location) == ("in.json", "object 0 (note--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80)")
    assert problem.reason == "JSON nested more than 100 levels deep"


def test_stix_type_that_is_not_a_string_is_a_located_problem() -> None:
    # Regression: a list as "type" raised TypeError (unhashable) in the custom-type memo.
    data = b'{"type": [], "id": "note--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80", "spec_version": "2.1"}'
    with pytest.raises(InvalidInput) as caught:
        _stix(data)
    assert caught.value.problems[0].field == "type"


@pytest.mark.parametrize("pattern", ["[" + "(" * 600 + "a:b = 'c'" + ")" * 600 + "]",
                                     " OR ".join(["[ipv4-addr:value = '1.2.3.4']"] * 400)])
def test_stix_pattern_too_deep_or_too_long_is_a_pattern_problem(pattern: str) -> None:
    # Regression: 450 nested parentheses made the OASIS validator's tree walk raise RecursionError.
    obj = {"type": "indicator", "spec_version": "2.1", "id": "indicator--2f5e0e7c-8f5c-4f6e-9f1a-3c4b5d6e7f80",
           "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "pattern": pattern,
           "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    with pytest.raises(InvalidInput) as caught:
        _stix(json.dumps(obj).encode())
    assert caught.value.problems[0].field == "pattern"


# --- MISP ------------------------------------------------------------------------------------

_MISP_TYPES = ["ip-src", "ip-dst", "domain", "hostname", "url", "md5", "sha256", "email-src", "filename|md5",
               "ip-dst|port", "domain|ip", "AS", "vulnerability", "btc", "text", "comment", "yara", "snort",
               "link", "phone-number", "iban", "x509-fingerprint-sha1", "regkey|value", "malware-sample",
               "new-type-unknown"]
_misp_attribute = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(_MISP_TYPES), st.text(max_size=10)), "value": json_values},
    optional={"to_ids": json_values, "uuid": json_values, "timestamp": json_values, "comment": json_values,
              "category": json_values, "first_seen": json_values, "last_seen": json_values,
              "Tag": json_values, "Sighting": json_values, "Galaxy": json_values, "deleted": json_values,
              "distribution": json_values, "sharing_group_id": json_values, "object_relation": json_values})
_misp_event = st.fixed_dictionaries(
    {"info": st.one_of(st.text(min_size=1, max_size=20), json_values)},
    optional={"uuid": json_values, "date": json_values, "timestamp": json_values, "distribution": json_values,
              "Attribute": st.lists(_misp_attribute, max_size=4),
              "Object": st.lists(st.fixed_dictionaries({"name": json_values},
                                                       optional={"Attribute": st.lists(_misp_attribute, max_size=3),
                                                                 "ObjectReference": json_values,
                                                                 "uuid": json_values, "meta-category": json_values}),
                                 max_size=2),
              "Tag": json_values, "Galaxy": json_values, "Orgc": json_values, "SharingGroup": json_values,
              "EventReport": json_values, "threat_level_id": json_values, "analysis": json_values})


@given(st.one_of(st.binary(max_size=600), json_bytes(json_values), mutated(MISP_SEEDS),
                 json_bytes(_misp_event.map(lambda e: {"Event": e}))))
@example(b'{"Event": {"info": "x", "Attribute": [{"type": "ip-dst|port", "value": "1.2.3.4|99999999"}]}}')
# Regressions: a null attribute and a non-list Galaxy raised AttributeError / TypeError.
@example(b'{"Event": {"info": "x", "Attribute": [null]}}')
@example(b'{"Event": {"info": "x", "Galaxy": true}}')
@example(b'{"Event": {"info": "x", "Object": [{"name": "o", "Attribute": [{"type": "md5", "value": "x", '
         b'"Galaxy": [{"GalaxyCluster": [7]}]}]}]}}')
def test_misp_any_input_gives_objects_or_located_error(data: bytes) -> None:
    result_or_located(lambda: _misp(data))
    errors: list[Problem] = []
    result_or_located(lambda: _misp(data, errors))
    assert all(p.reason and (p.file or p.location) for p in errors)
    result_or_located(lambda: summarise_misp(io.BytesIO(data), file_name="in.json"))


@given(st.dictionaries(st.one_of(st.uuids().map(str), st.text(max_size=20)), json_values, max_size=3),
       st.lists(st.binary(max_size=200), max_size=2))
def test_misp_feed_manifest_and_files_are_checked(manifest: dict[str, Any], events: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "manifest.json").write_text(json.dumps(manifest))
        for key, data in zip(manifest, events, strict=False):
            if "\x00" not in key and "/" not in key and key not in ("", ".", ".."):
                (root / f"{key}.json").write_bytes(data)
        result_or_located(lambda: list(iter_misp_feed(root, errors=[], default_time=NOW)))
        result_or_located(lambda: list(iter_misp_feed(root, default_time=NOW)))


# --- CSV/TSV and text lists ------------------------------------------------------------------

_headers = st.lists(st.sampled_from(["value", "type", "first_seen", "last_seen", "description", "labels",
                                     "confidence", "name", "crime_type", "country", "IOC", "x"]),
                    min_size=1, max_size=5, unique=True)


@given(_headers, st.sampled_from([",", "\t", ";"]), text_lines,
       st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3)))
# Regression: a carriage return inside a line raised _csv.Error.
@example(["value"], ",", "\r0", None)
@example(["value"], ",", "a\rb,c\n1.2.3.4", None)
def test_csv_any_input_gives_indicators_or_located_error(headers: list[str], delimiter: str, body: str,
                                                         mapping: dict[str, str] | None) -> None:
    data = (delimiter.join(headers) + "\n" + body.replace(",", delimiter)).encode()
    result_or_located(lambda: list(iter_csv(io.BytesIO(data), file_name="in.csv", mapping=mapping,
                                            default_time=NOW)))
    result_or_located(lambda: list(iter_csv(io.BytesIO(data), file_name="in.csv", mapping=mapping,
                                            errors=[], default_time=NOW)))


@given(st.binary(max_size=400))
def test_csv_raw_bytes(data: bytes) -> None:
    result_or_located(lambda: list(iter_csv(io.BytesIO(data), file_name="in.csv", default_time=NOW)))


@given(st.one_of(text_lines.map(str.encode), st.binary(max_size=400)))
def test_text_list_any_input_gives_indicators_or_located_error(data: bytes) -> None:
    out = result_or_located(lambda: list(iter_text(io.BytesIO(data), file_name="in.txt", default_time=NOW)))
    if not isinstance(out, InvalidInput):
        assert all(item.obj["type"] == "indicator" and item.location.startswith("line ") for item in out)


# --- through the pipeline into the store ------------------------------------------------------------

@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(mutated(STIX_SEEDS), mutated(MISP_SEEDS)))
def test_import_of_any_mutated_file_stores_it_whole_or_refuses_it(world, tmp_path, data: bytes) -> None:
    """What the parsers let through must also be storable: indexing, observables, correlation."""
    from cyberfusion.ingest.pipeline import import_file
    from cyberfusion.sharing.handling import HandlingSpec
    fmt = "misp" if b'"info"' in data else "stix"
    path = tmp_path / f"in-{fmt}.json"
    path.write_bytes(data)
    with world.factory() as session:
        viewer = world.viewer("vendor")
        try:
            out = result_or_located(lambda: import_file(session, viewer=viewer, path=path, fmt=fmt,
                                                        spec=HandlingSpec(tlp="green"), now=NOW))
            if not isinstance(out, InvalidInput):
                assert out.objects + out.skipped_versions > 0
        finally:
            session.rollback()
