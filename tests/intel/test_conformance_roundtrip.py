"""The conformance corpus through the whole store: import_file in, export out, compared exactly.

What the exporter may change is spelled out here, not assumed: it rewrites an
object's ``object_marking_refs`` (TLP markings replaced by the effective TLP 2.0
marking, plus one handling-statement marking) and appends the marking-definition
objects those refs point to. Everything else must come back equal, timestamps
compared as instants.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cyberfusion.db import transaction
from cyberfusion.errors import InvalidInput
from cyberfusion.export.service import export
from cyberfusion.ingest.misp import iter_misp
from cyberfusion.ingest.pipeline import ImportResult, import_file
from cyberfusion.kit.timeutil import parse_ts
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import bundle_file, contribute, indicator

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
STIX = CONFORMANCE / "stix21"
VALID = sorted((STIX / "valid").glob("*.json"))
INVALID = sorted((STIX / "invalid").glob("*.json")) + sorted((STIX / "invalid" / "not-json").glob("*.txt"))
MISP_EVENTS = CONFORMANCE / "misp" / "events"
MISP_NOT_EVENTS = ("pymisp-fragment-object-tag.json", "pymisp-fragment-objects-with-attribute-tags.json",
                   "pymisp-list-events-index.json", "pymisp-list-sharing-groups.json")
MISP_FULL = sorted(p for p in MISP_EVENTS.glob("*.json") if p.name not in MISP_NOT_EVENTS)
ATTACK = CONFORMANCE / "attack" / "ics-attack-18.1.json"

# Official marking-definition ids, written out here rather than taken from the code under test.
TLP2 = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP1 = {  # STIX 2.1 specification, section 7.2.1.4; WHITE reads as CLEAR
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
TLP_OF_REF = {v: k for k, v in TLP2.items()} | TLP1
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
# The handling a contribution imported with HandlingSpec(tlp=...) and default purposes states.
STATEMENT = ("cyberfusion handling — TLP:{tlp}; purposes: investigation, victim_notification, "
             "network_defence, threat_reporting")
# Types whose markings the exporter leaves alone (markings do not mark themselves).
UNMARKED_TYPES = frozenset({"marking-definition", "extension-definition", "language-content"})

_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


# ---------------------------------------------------------------- helpers


def load_objects(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["objects"] if data.get("type") == "bundle" else [data]


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where two JSON values differ; STIX timestamps compare as instants, bool is not int."""
    if isinstance(expected, str) and isinstance(actual, str) and _TS.fullmatch(expected) and _TS.fullmatch(actual):
        return [] if parse_ts(expected) == parse_ts(actual) else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}.{k}: missing" for k in expected.keys() - actual.keys()]
        out += [f"{where}.{k}: added" for k in actual.keys() - expected.keys()]
        for k in expected.keys() & actual.keys():
            out += differences(expected[k], actual[k], f"{where}.{k}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)} items"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{where}[{i}]")]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: {expected!r} != {actual!r}"]
    return []


def version_key(obj: dict[str, Any]) -> datetime | None:
    stamp = obj.get("modified") or obj.get("created")
    return parse_ts(stamp) if stamp else None


def latest_versions(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the store should return per id: the newest version, the first copy of an exact repeat."""
    earliest = datetime.min.replace(tzinfo=UTC)
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        held = latest.get(obj["id"])
        if held is None or (version_key(obj) or earliest) > (version_key(held) or earliest):
            latest[obj["id"]] = obj
    return latest


def effective_tlp(obj: dict[str, Any], contribution_tlp: str) -> str:
    levels = [TLP_ORDER.index(TLP_OF_REF[r]) for r in obj.get("object_marking_refs", ()) if r in TLP_OF_REF]
    return TLP_ORDER[max(levels)] if levels else contribution_tlp


def counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("contributions", "stix_objects", "observables", "handling", "audit_log")}


def import_as(world, key: str, path: Path, *, fmt: str = "stix",  # type: ignore[no-untyped-def]
              tlp: str = "green") -> ImportResult:
    viewer = world.viewer(key)
    with transaction(world.factory) as s:
        return import_file(s, viewer=viewer, path=path, fmt=fmt, spec=HandlingSpec(tlp=tlp))


def export_as(world, key: str, *, fmt: str = "stix", **kw: Any) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    viewer = world.viewer(key)
    out = io.StringIO()
    with transaction(world.factory) as s:
        n = export(s, viewer=viewer, purpose="investigation", fmt=fmt, out=out, **kw)
    return n, out.getvalue()


def assert_round_trip(inputs: list[dict[str, Any]], exported: list[dict[str, Any]], *,
                      contribution_tlp: str = "green") -> None:
    """Every input object (latest version) comes back equal, marked with its effective handling."""
    expected = latest_versions(inputs)
    by_id = {o["id"]: o for o in exported}
    assert len(by_id) == len(exported), "an id is exported twice"
    assert expected.keys() <= by_id.keys(), f"not exported: {sorted(expected.keys() - by_id.keys())}"

    statements = {o["id"]: o["definition"]["statement"] for o in exported
                  if o["type"] == "marking-definition" and o.get("name") == "cyberfusion handling"}
    used_tlps = set()
    for oid, original in expected.items():
        tlp = effective_tlp(original, contribution_tlp)
        used_tlps.add(tlp)
        out = by_id[oid]
        if original["type"] in UNMARKED_TYPES:
            assert differences(original, out) == [], oid
            continue
        kept = [r for r in original.get("object_marking_refs", ()) if r not in TLP_OF_REF]
        *refs, tlp_ref, statement_ref = out["object_marking_refs"]
        assert refs == kept, oid
        assert tlp_ref == TLP2[tlp], oid
        assert statements[statement_ref] == STATEMENT.format(tlp=tlp.upper()), oid
        assert differences({k: v for k, v in original.items() if k != "object_marking_refs"},
                           {k: v for k, v in out.items() if k != "object_marking_refs"}) == [], oid

    # The only additions: the official TLP 2.0 definitions and one statement per handling in use.
    added = {oid: o for oid, o in by_id.items() if oid not in expected}
    official = {TLP2[t]: load_objects(STIX / "valid" / f"marking-definition-tlp2-{t.replace('+', '-')}.json")[0]
                for t in used_tlps}
    assert added.keys() == (official.keys() - expected.keys()) | (statements.keys() - expected.keys())
    for oid, obj in added.items():
        if oid in official:
            assert differences(official[oid], obj) == [], oid
        else:
            assert obj == {"type": "marking-definition", "spec_version": "2.1", "id": oid,
                           "created": "2026-01-01T00:00:00.000Z", "name": "cyberfusion handling",
                           "definition_type": "statement", "definition": {"statement": statements[oid]}}
    assert sorted(statements.values()) == sorted(STATEMENT.format(tlp=t.upper()) for t in used_tlps)


# ---------------------------------------------------------------- STIX 2.1: valid content round-trips


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_stix_round_trips_through_store_and_export(world, engine, path: Path) -> None:
    inputs = load_objects(path)
    result = import_as(world, "analyst", path)

    unique = {(o["id"], version_key(o)) for o in inputs}
    assert (result.created, result.objects, result.skipped_versions) == (True, len(unique), len(inputs) - len(unique))
    assert counts(engine)["stix_objects"] == len(unique)
    assert counts(engine)["contributions"] == 1

    n, body = export_as(world, "analyst", contribution_id=result.contribution_id)
    bundle = json.loads(body)
    assert bundle["type"] == "bundle"
    assert n == len(bundle["objects"])
    assert_round_trip(inputs, bundle["objects"])


def test_corpus_markings_become_the_effective_tlp(world, engine) -> None:
    """The files whose objects carry TLP 1.0 refs: exact TLP per object after the round trip."""
    exported: dict[str, str] = {}
    for name in ("campaign-with-object-marking.json", "report-sighting-location.json",
                 "using-marking-definitions.json", "using-granular-markings.json"):
        result = import_as(world, "analyst", STIX / "valid" / name)
        _, body = export_as(world, "analyst", contribution_id=result.contribution_id)
        for obj in json.loads(body)["objects"]:
            tlps = [TLP_OF_REF[r] for r in obj.get("object_marking_refs", ()) if r in TLP_OF_REF]
            exported[obj["id"]] = ",".join(tlps)
    assert {k: v for k, v in exported.items() if v != "green" and not k.startswith("marking-definition--")} == {
        "campaign--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061": "red",      # TLP 1.0 RED
        "location--3b11f33b-7533-484b-9a83-d9cef6edf80c": "clear",    # TLP 1.0 WHITE
        "relationship--bebc8144-92c5-48c0-aac8-c3a1bd885588": "clear",
        "identity--0c81618c-acf4-4b66-bcdb-db3be82e48ec": "clear",
        "sighting--4d666e3f-4ad8-4903-8c0a-f1916322d7a6": "clear",
        "indicator--a35dbed6-9b9c-442e-aaff-4aeeb88a43ef": "clear",
        "indicator--33fe3b22-0201-47cf-85d0-97c02164528d": "amber",   # TLP 1.0 AMBER
        "threat-actor--8b6297fe-cae7-47c6-9256-5584b417849c": "red",
        "relationship--3d1dd3cc-eb47-4704-9c77-ceff2971b95c": "red",
    }
    # The campaign's second ref is not a TLP marking (and is not shipped): it is kept as is.
    with engine.connect() as conn:
        data = conn.execute(text("SELECT data FROM stix_objects WHERE stix_id = :i"),
                            {"i": "campaign--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"}).scalar_one()
    assert json.loads(data)["object_marking_refs"] == ["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                                                       "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec"]


def test_repeated_and_versioned_objects_in_one_file(world, engine, tmp_path) -> None:
    """An exact repeat (same id and modified) is stored once; every other version is stored and the
    newest is exported, wherever it sits in the file."""
    base = load_objects(STIX / "valid" / "indicators-for-c2-with-coa.json")
    assert len(base) == 8
    ind = next(o for o in base if o["type"] == "indicator")
    coa = next(o for o in base if o["type"] == "course-of-action")
    newer_ind = {**ind, "modified": "2030-01-01T00:00:00Z", "name": "newer indicator"}
    newer_coa = {**coa, "modified": "2020-01-01T00:00:00.000Z", "name": "newer course of action"}
    # The newer course of action comes first, the indicator's repeat and newer version last.
    objects = [newer_coa, *base, dict(ind), newer_ind]
    path = bundle_file(tmp_path, objects, "versions.json")

    result = import_as(world, "analyst", path)
    assert (result.objects, result.skipped_versions) == (10, 1)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT stix_id, count(*) FROM stix_objects GROUP BY stix_id")).all()
    assert sum(n for _, n in rows) == 10
    assert {i: n for i, n in rows if n > 1} == {ind["id"]: 2, coa["id"]: 2}

    _, body = export_as(world, "analyst", contribution_id=result.contribution_id)
    exported = {o["id"]: o for o in json.loads(body)["objects"]}
    assert exported[ind["id"]]["name"] == "newer indicator"
    assert exported[coa["id"]]["name"] == "newer course of action"
    assert_round_trip(objects, list(exported.values()))


# ---------------------------------------------------------------- STIX 2.1: invalid content is refused whole


def rejection(world, engine, path: Path,  # type: ignore[no-untyped-def]
              fmt: str) -> tuple[str, str | None, str | None, bool]:
    """(error class, file its first problem names, field, whether the store is unchanged) for one input."""
    before = counts(engine)
    try:
        import_as(world, "analyst", path, fmt=fmt)
    except InvalidInput as exc:
        named = exc.problems[0].file if str(exc).startswith(path.name) else None
        return "InvalidInput", named, exc.field, counts(engine) == before
    return "accepted", None, None, counts(engine) == before


# The field each rejection names (the non-JSON files name a position instead).
INVALID_FIELDS = {
    "bundle-id-missing-prefix.json": "id", "bundle-missing-type.json": "type",
    "email-addr-missing-value.json": "value", "file-md5-malformed.json": "hashes.MD5",
    "identity-confidence-out-of-range.json": "confidence", "identity-custom-property-name-too-short.json": "x",
    "identity-missing-modified.json": "modified", "identity-missing-spec-version.json": "spec_version",
    "identity-modified-before-created.json": "modified", "identity-spec-version-unknown.json": "spec_version",
    "identity-timestamp-bad-format.json": "created", "identity-timestamp-missing-z.json": "created",
    "indicator-missing-pattern-type.json": "pattern_type", "indicator-missing-pattern.json": "pattern",
    "indicator-missing-valid-from.json": "valid_from", "indicator-pattern-syntax-error.json": "pattern",
    "indicator-valid-until-before-valid-from.json": "valid_until",
    "malware-analysis-sample-ref-wrong-type.json": "sample_ref", "malware-id-bad-separator.json": "id",
    "malware-id-type-prefix-mismatch.json": "id", "malware-missing-is-family.json": "is_family",
    "network-traffic-missing-src-and-dst.json": "src_ref",
    "observed-data-missing-number-observed.json": "number_observed",
    "relationship-missing-target-ref.json": "target_ref",
    "relationship-source-ref-not-identifier.json": "source_ref",
    "sighting-last-seen-before-first-seen.json": "last_seen",
    "sighting-where-sighted-refs-not-identity.json": "where_sighted_refs",
    "stray-angle-brackets.txt": None, "trailing-comma.txt": None,
}


def test_invalid_stix_is_rejected_and_nothing_is_written(world, engine) -> None:
    """One store for all 29 files: each import fails, names its file, and leaves every table as it was."""
    assert sorted(p.name for p in INVALID) == sorted(INVALID_FIELDS)
    outcomes = {p.name: rejection(world, engine, p, "stix") for p in INVALID}
    assert outcomes == {name: ("InvalidInput", name, field, True) for name, field in INVALID_FIELDS.items()}
    c = counts(engine)
    assert (c["contributions"], c["stix_objects"], c["observables"], c["handling"]) == (0, 0, 0, 0)


# ---------------------------------------------------------------- MISP events


def misp_expected(path: Path) -> tuple[int, int]:
    """(objects the parser yields, distinct versions among them) computed straight from iter_misp."""
    items = list(iter_misp(path, file_name=path.name))
    return len(items), len({(i.obj["id"], version_key(i.obj)) for i in items})


@pytest.mark.parametrize("path", MISP_FULL, ids=[p.name for p in MISP_FULL])
def test_full_misp_event_imports(world, engine, path: Path) -> None:
    yielded, distinct = misp_expected(path)
    result = import_as(world, "analyst", path, fmt="misp")
    assert (result.created, result.objects, result.skipped_versions) == (True, distinct, yielded - distinct)
    assert counts(engine)["stix_objects"] == distinct
    assert counts(engine)["contributions"] == 1


# (stored indicators, observables index rows), read off each event by hand: one indicator per to_ids
# attribute, one index row per indicator or SCO whose value is an observable of the kit's vocabulary.
MISP_NAMED = {
    # to_ids: 3 ip-dst + 15 md5 + 36 sha1 + 15 sha256 = 69 indicators, one row each;
    # not to_ids: 16 links + 3 hostnames + 6 ip-dst become SCOs, one row each (the comment is a note).
    "eset-telebots-response-wrapper.json": (69, 69 + 25),
    # to_ids: filename, md5, sha1, sha256, regkey|value; only the three hashes index;
    # not to_ids: 2 links become url SCOs (comment and text are notes).
    "pymisp-circl-ransomware-event.json": (5, 3 + 2),
    # to_ids: ip-dst, domain, url, email-src; not to_ids: a sha256 and an md5 become file SCOs.
    "synthetic-distribution-levels-sharing-group.json": (4, 4 + 2),
}


@pytest.mark.parametrize("name", sorted(MISP_NAMED))
def test_named_misp_events_store_exact_indicators_and_observables(world, engine, name: str) -> None:
    import_as(world, "analyst", MISP_EVENTS / name, fmt="misp")
    with engine.connect() as conn:
        indicators = conn.execute(text("SELECT count(*) FROM stix_objects WHERE type = 'indicator'")).scalar_one()
        observables = conn.execute(text("SELECT count(*) FROM observables")).scalar_one()
    assert (indicators, observables) == MISP_NAMED[name]


def test_misp_non_events_are_rejected_and_nothing_is_written(world, engine) -> None:
    """Fragments (no info), an events index and a sharing-group list are not events."""
    outcomes = {name: rejection(world, engine, MISP_EVENTS / name, "misp") for name in MISP_NOT_EVENTS}
    assert outcomes == {name: ("InvalidInput", name, "info", True) for name in MISP_NOT_EVENTS}
    c = counts(engine)
    assert (c["contributions"], c["stix_objects"], c["observables"], c["handling"]) == (0, 0, 0, 0)


# ---------------------------------------------------------------- ATT&CK


def test_attack_bundle_imports_every_object(world, engine) -> None:
    result = import_as(world, "analyst", ATTACK)
    assert (result.objects, result.skipped_versions) == (1826, 0)
    with engine.connect() as conn:
        by_type = dict(conn.execute(text("SELECT type, count(*) FROM stix_objects GROUP BY type")).all())
        revoked = conn.execute(text("SELECT count(*) FROM stix_objects WHERE revoked")).scalar_one()
        deprecated = conn.execute(text("SELECT count(*) FROM stix_objects WHERE data LIKE :p"),
                                  {"p": '%"x_mitre_deprecated":true%'}).scalar_one()
    assert by_type == {
        "relationship": 1373, "attack-pattern": 95, "x-mitre-detection-strategy": 83, "x-mitre-analytic": 82,
        "course-of-action": 52, "x-mitre-data-component": 36, "malware": 30, "x-mitre-asset": 18,
        "x-mitre-data-source": 17, "intrusion-set": 16, "x-mitre-tactic": 12, "campaign": 8,
        "x-mitre-collection": 1, "x-mitre-matrix": 1, "identity": 1, "marking-definition": 1}
    assert (revoked, deprecated) == (2, 37)


# ---------------------------------------------------------------- exports other tools accept


def test_stix_export_of_the_whole_store_passes_the_oasis_validator(world, engine, tmp_path) -> None:
    from stix2validator import ValidationOptions, validate_string

    # SCOs of 18 types, TLP 1.0 WHITE/AMBER/RED refs, a statement marking, a property extension.
    names = ("sco-examples-bundle.json", "report-sighting-location.json", "using-marking-definitions.json",
             "campaign-with-object-marking.json", "identity-with-property-extension.json",
             "indicators-for-c2-with-coa.json")
    for name in names:
        import_as(world, "analyst", STIX / "valid" / name)
    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", f"192.0.2.{i}") for i in range(1, 21)],
               HandlingSpec(tlp="amber"))
    contribute(world, tmp_path, "bank", [indicator("domain-name", f"bad{i}.example") for i in range(10)],
               HandlingSpec(tlp="clear"))

    n, body = export_as(world, "analyst")
    bundle = json.loads(body)
    # 67 + 6 + 4 + 1 + 3 + 8 corpus objects, 30 generated, 4 TLP 2.0 definitions (clear, green, amber,
    # red) and one statement per handling in use (the same four TLPs; AMBER from two sources is one).
    assert Counter(o["type"] for o in bundle["objects"])["indicator"] == 1 + 1 + 2 + 30
    assert n == len(bundle["objects"]) == 89 + 30 + 4 + 4
    report = validate_string(body, ValidationOptions(version="2.1", strict=False, silent=True))
    assert [str(e) for e in report.errors] == []
    assert report.is_valid


def test_misp_export_loads_in_pymisp_with_tlp_tags(world, engine, tmp_path) -> None:
    from pymisp import MISPEvent

    contribute(world, tmp_path, "vendor", [indicator("ipv4-addr", "198.51.100.1"),
                                           indicator("domain-name", "green.example")], HandlingSpec(tlp="green"))
    contribute(world, tmp_path, "bank", [indicator("url", "http://amber.example/x")], HandlingSpec(tlp="amber"))
    contribute(world, tmp_path, "telco", [indicator("sha256", "a" * 64)], HandlingSpec(tlp="clear"))

    n, body = export_as(world, "analyst", fmt="misp")
    event = MISPEvent()
    event.load(body)
    tags = {a.value: sorted(t.name for t in a.tags) for a in event.attributes}
    assert tags == {"198.51.100.1": ["tlp:green"], "green.example": ["tlp:green"],
                    "http://amber.example/x": ["tlp:amber"], "a" * 64: ["tlp:clear"]}
    assert {a.value: a.type for a in event.attributes} == {
        "198.51.100.1": "ip-dst", "green.example": "domain", "http://amber.example/x": "url", "a" * 64: "sha256"}
    assert sorted(t.name for t in event.tags) == ['cyberfusion:exported-by="Fusion Host"', "tlp:amber"]
    assert n == 4
