"""Read STIX 2.1 JSON (bundles or single objects, STIX 2.0 bundles upgraded) as a stream.

Bundles are streamed with ijson's C backend: objects are built one at a time,
so memory does not grow with the file. The bundle envelope (``type``, ``id``,
2.0 ``spec_version``) may come before or after ``objects``; a light tap on the
same bytes reads it without buffering the objects, and stops as soon as the
envelope is known (in the usual order, after the first chunk).

``validate_object`` is the hot-path check (spec rules kept as data, no
``stix2.parse``); ``full_validate`` adds the OASIS validator for dry runs.

Decisions worth knowing:
* Numbers are parsed as float/int (``use_float``); an integer beyond 64 bits is
  reported as invalid JSON. STIX integers are 54-bit, so no valid value is lost.
* Inside a bundle, a non-SCO object without ``spec_version`` is STIX 2.0 (the
  2.1 spec's implicit value for it) and is upgraded, wherever the bundle's own
  ``spec_version`` sits (sorted-key producers write it after ``objects``), unless
  the bundle has declared "2.1". A lone object without it is rejected, as the
  conformance corpus wants.
* SCOs keep their input form: ``spec_version`` is not added (it defaults to 2.1).
"""

from __future__ import annotations

import calendar
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

import ijson

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.limits import MAX_PATTERN_LENGTH, nesting_problem, too_deep
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.kit.observables import from_pattern

_CHUNK = 64 * 1024
_MISSING = object()

# ---------------------------------------------------------------- spec rules as data

_SDO = frozenset({
    "attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident", "indicator",
    "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note", "observed-data",
    "opinion", "report", "threat-actor", "tool", "vulnerability"})
_SRO = frozenset({"relationship", "sighting"})
_META = frozenset({"marking-definition", "language-content", "extension-definition"})
_SCO = frozenset({
    "artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message", "file",
    "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
    "user-account", "windows-registry-key", "x509-certificate"})

# Required properties beyond type and id (spec_version and the common timestamps included).
_CORE = ("spec_version", "created", "modified")
_REQUIRED: dict[str, tuple[str, ...]] = {
    "attack-pattern": ("name",), "campaign": ("name",), "course-of-action": ("name",),
    "grouping": ("context", "object_refs"), "identity": ("name",), "incident": ("name",),
    "indicator": ("pattern", "pattern_type", "valid_from"), "infrastructure": ("name",),
    "intrusion-set": ("name",), "location": (), "malware": ("is_family",), "malware-analysis": ("product",),
    "note": ("content", "object_refs"), "observed-data": ("first_observed", "last_observed", "number_observed"),
    "opinion": ("opinion", "object_refs"), "report": ("name", "published", "object_refs"),
    "threat-actor": ("name",), "tool": ("name",), "vulnerability": ("name",),
    "relationship": ("relationship_type", "source_ref", "target_ref"), "sighting": ("sighting_of_ref",),
    "language-content": ("object_ref", "contents"),
    "extension-definition": ("created_by_ref", "name", "schema", "version", "extension_types"),
}
_REQUIRED = {t: _CORE + props for t, props in _REQUIRED.items()}
_REQUIRED["marking-definition"] = ("spec_version", "created")
_REQUIRED.update({
    "artifact": (), "autonomous-system": ("number",), "directory": ("path",), "domain-name": ("value",),
    "email-addr": ("value",), "email-message": ("is_multipart",), "file": (), "ipv4-addr": ("value",),
    "ipv6-addr": ("value",), "mac-addr": ("value",), "mutex": ("name",), "network-traffic": ("protocols",),
    "process": (), "software": ("name",), "url": ("value",), "user-account": (),
    "windows-registry-key": (), "x509-certificate": (),
})

# At least one of these must be present (the first names the problem's field).
_ANY_OF: dict[str, tuple[str, ...]] = {
    "file": ("hashes", "name"), "network-traffic": ("src_ref", "dst_ref"), "artifact": ("payload_bin", "url"),
    "location": ("region", "country", "latitude"), "malware-analysis": ("result", "analysis_sco_refs"),
    "observed-data": ("object_refs", "objects"),
}
# SCOs that must carry at least one property of their own.
_NON_EMPTY = frozenset({"process", "user-account", "windows-registry-key", "x509-certificate"})
_SCO_COMMON = frozenset({"type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged"})

_SEEN = ("first_seen", "last_seen")
_TIMESTAMPS: dict[str, tuple[str, ...]] = {
    "indicator": ("valid_from", "valid_until"), "campaign": _SEEN, "intrusion-set": _SEEN,
    "threat-actor": _SEEN, "infrastructure": _SEEN, "malware": _SEEN, "sighting": _SEEN,
    "observed-data": ("first_observed", "last_observed"), "report": ("published",),
    "malware-analysis": ("submitted", "analysis_started", "analysis_ended"),
    "language-content": ("object_modified",), "file": ("ctime", "mtime", "atime"), "email-message": ("date",),
    "process": ("created_time",), "windows-registry-key": ("modified_time",),
    "user-account": ("account_created", "account_expires", "credential_last_changed", "account_first_login",
                     "account_last_login"),
    "x509-certificate": ("validity_not_before", "validity_not_after"), "network-traffic": ("start", "end"),
}
# (earlier, later, strictly later?) pairs checked when both are present.
_ORDER: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "indicator": (("valid_from", "valid_until", True),),
    "observed-data": (("first_observed", "last_observed", False),),
    "network-traffic": (("start", "end", False),),
    **{t: (("first_seen", "last_seen", False),)
       for t in ("sighting", "campaign", "intrusion-set", "threat-actor", "infrastructure", "malware")},
}

# Reference target rules: ("only", types) or ("not", types) with a description for the message.
_Rule = tuple[str, frozenset[str], str]


def _only(*types: str) -> _Rule:
    return ("only", frozenset(types), " or ".join(types))


_NOT_SDO = ("not", _SDO | _META, "SCOs or SROs")
_SCO_ONLY = ("not", _SDO | _SRO | _META, "SCOs")
_SDO_ONLY = ("not", _SCO | _SRO | _META, "SDOs")
_SDO_OR_SCO = ("not", _SRO | _META, "SDOs or SCOs")
_USER, _SOFTWARE, _EMAIL = _only("user-account"), _only("software"), _only("email-addr")
_COMMON_REFS: dict[str, _Rule] = {
    "created_by_ref": _only("identity"), "object_marking_refs": _only("marking-definition")}
_REFS: dict[str, dict[str, _Rule]] = {
    "sighting": {"where_sighted_refs": _only("identity", "location"),
                 "observed_data_refs": _only("observed-data"), "sighting_of_ref": _SDO_ONLY},
    "observed-data": {"object_refs": _NOT_SDO},
    "relationship": {"source_ref": _SDO_OR_SCO, "target_ref": _SDO_OR_SCO},
    "malware": {"operating_system_refs": _SOFTWARE, "sample_refs": _only("file", "artifact")},
    "malware-analysis": {"host_vm_ref": _SOFTWARE, "operating_system_ref": _SOFTWARE,
                         "installed_software_refs": _SOFTWARE, "analysis_sco_refs": _SCO_ONLY,
                         "sample_ref": _only("file", "network-traffic", "artifact")},
    "directory": {"contains_refs": _only("file", "directory")},
    "domain-name": {"resolves_to_refs": _only("ipv4-addr", "ipv6-addr", "domain-name")},
    "email-addr": {"belongs_to_ref": _USER},
    "email-message": {"from_ref": _EMAIL, "sender_ref": _EMAIL, "to_refs": _EMAIL, "cc_refs": _EMAIL,
                      "bcc_refs": _EMAIL, "raw_email_ref": _only("artifact")},
    "file": {"parent_directory_ref": _only("directory"), "content_ref": _only("artifact"),
             "contains_refs": _SCO_ONLY},
    "ipv4-addr": {"resolves_to_refs": _only("mac-addr"), "belongs_to_refs": _only("autonomous-system")},
    "ipv6-addr": {"resolves_to_refs": _only("mac-addr"), "belongs_to_refs": _only("autonomous-system")},
    "network-traffic": {"src_ref": _only("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"),
                        "dst_ref": _only("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name"),
                        "src_payload_ref": _only("artifact"), "dst_payload_ref": _only("artifact"),
                        "encapsulates_refs": _only("network-traffic"),
                        "encapsulated_by_ref": _only("network-traffic")},
    "process": {"opened_connection_refs": _only("network-traffic"), "creator_user_ref": _USER,
                "image_ref": _only("file"), "parent_ref": _only("process"), "child_refs": _only("process")},
    "windows-registry-key": {"creator_user_ref": _USER},
}

# Hash algorithm (upper-cased, dashes removed) -> hex length; SSDEEP, TLSH and custom names are free.
_HASH_HEX = {"MD5": 32, "SHA1": 40, "SHA256": 64, "SHA512": 128, "SHA3256": 64, "SHA3512": 128}

_TYPE_RE = re.compile(r"-?[a-z0-9]+(?:-[a-z0-9]+)*-?")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"  # RFC 4122 variant
_ID_RE = re.compile(rf"([a-z0-9-]+)--{_UUID}")
_UUID_RE = re.compile(_UUID)
_PROP_RE = re.compile(r"[a-z0-9_]{3,250}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_VOCAB_RE = re.compile(r"[a-z0-9-]{3,250}")
_TS_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
                    r"(?:[0-5][0-9]|60)(?:\.([0-9]+))?Z")

# ---------------------------------------------------------------- checks

# Memos for values that repeat across a feed (timestamps, created_by_ref, marking refs).
# Regexes cost about a microsecond each here; a dict hit a few tens of nanoseconds.
_MEMO_MAX = 32_768
_TS_KEYS: dict[str, tuple[str, str]] = {}
_REF_TYPES: dict[str, str] = {}


def _ts_key(value: Any) -> tuple[str, str] | None:
    """A sortable key for a STIX timestamp (UTC, 'Z', optional fraction), or None if it is not one."""
    if type(value) is not str:
        return None
    key = _TS_KEYS.get(value)
    if key is not None:
        return key
    m = _TS_RE.fullmatch(value)
    if m is None:
        return None
    day = int(m[3])
    if day > 28 and day > calendar.monthrange(int(m[1]), int(m[2]))[1]:
        return None
    key = value[:19], (m[4] or "").rstrip("0")
    if len(_TS_KEYS) >= _MEMO_MAX:
        _TS_KEYS.clear()
    _TS_KEYS[value] = key
    return key


def _ref_type(value: Any) -> str | None:
    """The type part of a STIX identifier, or None if value is not one."""
    if type(value) is not str:
        return None
    rtype = _REF_TYPES.get(value)
    if rtype is None:
        m = _ID_RE.fullmatch(value)
        if m is None or not _TYPE_RE.fullmatch(m[1]):
            return None
        rtype = m[1]
        if len(_REF_TYPES) >= _MEMO_MAX:
            _REF_TYPES.clear()
        _REF_TYPES[value] = rtype
    return rtype


def _check_ref(field: str, value: Any, rule: _Rule | None, add: Callable[[Problem], None]) -> None:
    rtype = _ref_type(value)
    if rtype is None:
        add(Problem(field=field, reason=f"{field} value {value!r} is not a STIX identifier (<type>--<UUID>)"))
    elif rule is not None and (rtype in rule[1]) != (rule[0] == "only"):
        add(Problem(field=field, reason=f"{field} must reference {rule[2]} objects, not {rtype}"))


def _check_hashes(field: str, hashes: Any, add: Callable[[Problem], None]) -> None:
    if type(hashes) is not dict or not hashes:
        add(Problem(field=field, reason=f"{field} must be a non-empty dictionary of hash values"))
        return
    for algo, digest in hashes.items():
        length = _HASH_HEX.get(algo.upper().replace("-", ""))
        if type(digest) is not str:
            add(Problem(field=f"{field}.{algo}", reason=f"{field}.{algo} must be a string"))
        elif length is not None and (len(digest) != length or not _HEX_RE.fullmatch(digest)):
            add(Problem(field=f"{field}.{algo}",
                        reason=f"{field}.{algo} {digest!r} is not {length} hexadecimal digits"))


def _check_pattern(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    pattern = obj.get("pattern", _MISSING)
    if pattern is _MISSING:
        return  # reported as a missing required property
    if type(pattern) is not str:
        add(Problem(field="pattern", reason="pattern must be a string"))
        return
    if obj.get("pattern_type") != "stix":
        return  # yara, snort, sigma, ... are opaque here
    if len(pattern) > MAX_PATTERN_LENGTH:  # the ANTLR pattern parser's cost grows with the length
        add(Problem(field="pattern", reason=f"STIX pattern longer than {MAX_PATTERN_LENGTH} characters"))
        return
    if not pattern.strip():  # stix2patterns' bracket check fails with UnboundLocalError on it
        add(Problem(field="pattern", reason="pattern is empty"))
        return
    try:
        if from_pattern(pattern) is not None:
            return
    except InvalidInput:
        pass  # a simple shape with a value outside our vocabulary: still valid STIX, let the parser judge
    from stix2patterns.validator import run_validator

    version = "2.0" if obj.get("pattern_version") == "2.0" else "2.1"
    try:
        errors = run_validator(pattern, stix_version=version)
    except RecursionError:  # the ANTLR tree walk recurses once per nested '(' or chained OR
        errors = ["the pattern nests too deeply to be checked"]
    except Exception as exc:  # noqa: BLE001 - a pattern that crashes the OASIS validator is not valid
        errors = [f"the pattern could not be parsed ({type(exc).__name__})"]
    if errors:
        detail = "; ".join(e.removeprefix("FAIL: ") for e in errors)
        add(Problem(field="pattern", reason=f"pattern is not a valid STIX {version} pattern: {detail}"))


def _int_in(obj: dict[str, Any], field: str, low: int, high: int, add: Callable[[Problem], None]) -> None:
    v = obj.get(field, _MISSING)
    if v is not _MISSING and (type(v) is not int or not low <= v <= high):
        add(Problem(field=field, reason=f"{field} {v!r} must be an integer from {low} to {high}"))


def _check_malware(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    fam = obj.get("is_family", _MISSING)
    if fam is not _MISSING and type(fam) is not bool:
        add(Problem(field="is_family", reason=f"is_family must be true or false, got {fam!r}"))
    elif fam is True and "name" not in obj:
        add(Problem(field="name", reason="name is required when is_family is true"))


def _check_location(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    lat, lon = obj.get("latitude", _MISSING), obj.get("longitude", _MISSING)
    if (lat is _MISSING) != (lon is _MISSING):
        field = "longitude" if lon is _MISSING else "latitude"
        add(Problem(field=field, reason="latitude and longitude must be given together"))
    elif "precision" in obj and lat is _MISSING:
        add(Problem(field="precision", reason="precision requires latitude and longitude"))
    for field, value, bound in (("latitude", lat, 90), ("longitude", lon, 180)):
        if value is not _MISSING and (type(value) not in (int, float) or not -bound <= value <= bound):
            add(Problem(field=field, reason=f"{field} {value!r} must be a number from -{bound} to {bound}"))


def _check_artifact(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    if "payload_bin" in obj and "url" in obj:
        add(Problem(field="url", reason="payload_bin and url must not both be present"))
    elif "url" in obj and "hashes" not in obj:
        add(Problem(field="hashes", reason="hashes is required when url is present"))


def _check_email_message(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    multi = obj.get("is_multipart", _MISSING)
    if multi is not _MISSING and type(multi) is not bool:
        add(Problem(field="is_multipart", reason=f"is_multipart must be true or false, got {multi!r}"))
    elif multi is True and "body" in obj:
        add(Problem(field="body", reason="body must not be present when is_multipart is true"))
    elif multi is False and "body_multipart" in obj:
        add(Problem(field="body_multipart", reason="body_multipart requires is_multipart to be true"))


def _check_network_traffic(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    if obj.get("is_active") is True and "end" in obj:
        add(Problem(field="end", reason="end must not be present when is_active is true"))


def _check_marking(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    if "extensions" not in obj:
        for field in ("definition_type", "definition"):
            if field not in obj:
                add(Problem(field=field, reason=f"required property {field} is missing (no extensions given)"))


def _check_relationship(obj: dict[str, Any], add: Callable[[Problem], None]) -> None:
    rtype = obj.get("relationship_type")
    if rtype is not None and (type(rtype) is not str or not _VOCAB_RE.fullmatch(rtype)):
        add(Problem(field="relationship_type",
                    reason=f"relationship_type {rtype!r} must be 3-250 characters of a-z, 0-9 and '-'"))


_EXTRA: dict[str, Callable[[dict[str, Any], Callable[[Problem], None]], None]] = {
    "indicator": _check_pattern, "malware": _check_malware, "location": _check_location,
    "artifact": _check_artifact, "email-message": _check_email_message,
    "network-traffic": _check_network_traffic, "marking-definition": _check_marking,
    "relationship": _check_relationship,
    "observed-data": lambda o, add: _int_in(o, "number_observed", 1, 999_999_999, add),
    "sighting": lambda o, add: _int_in(o, "count", 0, 999_999_999, add),
}


class _TypeRules(NamedTuple):
    """Everything validate_object needs to know about one type, looked up once per object."""

    required: tuple[str, ...]
    any_of: tuple[str, ...]
    timestamps: tuple[str, ...]
    order: tuple[tuple[str, str, bool], ...]
    refs: dict[str, _Rule]
    non_empty: bool
    extra: Callable[[dict[str, Any], Callable[[Problem], None]], None] | None


def _rules(otype: str | None, required: tuple[str, ...]) -> _TypeRules:
    return _TypeRules(
        required=required, any_of=_ANY_OF.get(otype, ()),
        timestamps=("created", "modified", *_TIMESTAMPS.get(otype, ())),
        order=(("created", "modified", False), *_ORDER.get(otype, ())),
        refs={**_COMMON_REFS, **_REFS.get(otype, {})}, non_empty=otype in _NON_EMPTY, extra=_EXTRA.get(otype))


_RULES = {t: _rules(t, required) for t, required in _REQUIRED.items()}
_CUSTOM_SDO = _rules(None, _CORE)  # an unknown type with created/modified: a custom SDO
_CUSTOM_SCO = _rules(None, ())
_CUSTOM_TYPES: set[str] = set()  # custom type names already found valid


def _custom_type_ok(otype: Any) -> bool:
    if type(otype) is not str:  # a list or object here is unhashable: check before the memo
        return False
    if otype in _CUSTOM_TYPES:
        return True
    if not 3 <= len(otype) <= 250 or not _TYPE_RE.fullmatch(otype):
        return False
    if len(_CUSTOM_TYPES) < _MEMO_MAX:
        _CUSTOM_TYPES.add(otype)
    return True


# The spec's reference properties. Custom ones (x_mitre_modified_by_ref, ...) are not
# checked: the OASIS validator and stix2 accept any value there, and real feeds
# (ATT&CK's empty x_mitre_data_source_ref) rely on it.
_SPEC_REFS = frozenset({"object_ref", "object_refs", *_COMMON_REFS, *(n for refs in _REFS.values() for n in refs)})

# Property name -> 0 plain, 1 reference, 2 reference list, 3 illegal name. Memoised: names repeat.
_NAME_KIND: dict[str, int] = {"id": 0}


def _name_kind(name: str) -> int:
    if not _PROP_RE.fullmatch(name):
        kind = 3
    elif name in _SPEC_REFS:
        kind = 1 if name.endswith("_ref") else 2
    else:
        kind = 0
    if len(_NAME_KIND) < _MEMO_MAX:
        _NAME_KIND[name] = kind
    return kind


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def validate_object(obj: dict[str, Any]) -> list[Problem]:
    """Fast semantic checks of one STIX 2.1 object; each problem names its field.

    File and location are left empty for the caller to fill in.
    """
    if type(obj) is not dict:
        return [Problem(reason=f"a STIX object must be a JSON object, not {type(obj).__name__}")]
    problems: list[Problem] = []
    add = problems.append
    otype = obj.get("type")
    rules = _RULES.get(otype) if type(otype) is str else None
    if rules is None:
        if otype is None:
            add(Problem(field="type", reason="required property type is missing"))
        elif _custom_type_ok(otype):
            rules = _CUSTOM_SDO if ("created" in obj or "modified" in obj) else _CUSTOM_SCO
        else:
            add(Problem(field="type", reason=f"type {otype!r} is not a valid STIX type name"))
    oid = obj.get("id")
    if oid is None:
        add(Problem(field="id", reason="required property id is missing"))
    elif not (rules is not None and type(oid) is str and oid.startswith(otype)
              and oid.startswith("--", len(otype)) and _UUID_RE.fullmatch(oid, len(otype) + 2)):
        m = _ID_RE.fullmatch(oid) if type(oid) is str else None
        if m is None:
            add(Problem(field="id", reason=f"id {oid!r} must be <type>--<UUID> with an RFC 4122 UUID"))
        elif rules is not None:
            add(Problem(field="id", reason=f"id prefix '{m[1]}--' does not match type '{otype}'"))
    if rules is None:
        return problems

    sv = obj.get("spec_version", _MISSING)
    if sv is not _MISSING and sv != "2.1":
        add(Problem(field="spec_version", reason=f"spec_version {sv!r} is not supported (must be '2.1')"))
    for prop in rules.required:
        if prop not in obj:
            add(Problem(field=prop, reason=f"required property {prop} is missing"))
    if rules.any_of and not any(p in obj for p in rules.any_of):
        add(Problem(field=rules.any_of[0], reason=f"{otype} must have at least one of {', '.join(rules.any_of)}"))
    if rules.non_empty and obj.keys() <= _SCO_COMMON:
        add(Problem(field="type", reason=f"{otype} must have at least one property of its own"))

    # Timestamps: format (strict UTC 'Z'), then ordering.
    keys: dict[str, tuple[str, str]] = {}
    for prop in rules.timestamps:
        value = obj.get(prop)
        if value is not None:
            key = _ts_key(value)
            if key is None:
                add(Problem(field=prop, reason=f"{prop} {value!r} is not a STIX timestamp "
                                               "(YYYY-MM-DDTHH:MM:SS[.s+]Z, UTC)"))
            else:
                keys[prop] = key
    for earlier, later, strict in rules.order:
        a, b = keys.get(earlier), keys.get(later)
        if a is not None and b is not None and (b <= a if strict else b < a):
            relation = "must be later than" if strict else "is earlier than"
            add(Problem(field=later, reason=f"{later} ({obj[later]}) {relation} {earlier} ({obj[earlier]})"))

    conf = obj.get("confidence", _MISSING)
    if conf is not _MISSING and (type(conf) is not int or not 0 <= conf <= 100):
        add(Problem(field="confidence", reason=f"confidence {conf!r} must be an integer from 0 to 100"))

    # Property names and references.
    for name, value in obj.items():
        kind = _NAME_KIND.get(name)
        if kind is None:
            kind = _name_kind(name)
        if kind == 0:
            continue
        if kind == 3:
            add(Problem(field=name, reason=f"property name {name!r} must be 3-250 characters of a-z, 0-9, '_'"))
        elif kind == 1:
            _check_ref(name, value, rules.refs.get(name), add)
        elif type(value) is not list or not value:
            add(Problem(field=name, reason=f"{name} must be a non-empty list of STIX identifiers"))
        else:
            rule = rules.refs.get(name)
            for ref in value:
                _check_ref(name, ref, rule, add)

    if "hashes" in obj:
        _check_hashes("hashes", obj["hashes"], add)
    for name in ("external_references", "granular_markings"):
        if name in obj and type(obj[name]) is not list:
            add(Problem(field=name, reason=f"{name} must be a list"))
    for i, ref in enumerate(_list(obj.get("external_references"))):
        if type(ref) is not dict or "source_name" not in ref:
            add(Problem(field=f"external_references[{i}]", reason="an external reference needs a source_name"))
        elif "hashes" in ref:
            _check_hashes(f"external_references[{i}].hashes", ref["hashes"], add)
    for i, gm in enumerate(_list(obj.get("granular_markings"))):
        field = f"granular_markings[{i}]"
        if type(gm) is not dict or type(gm.get("selectors")) is not list or not gm["selectors"]:
            add(Problem(field=field, reason="a granular marking needs a non-empty selectors list"))
        elif "marking_ref" in gm:
            _check_ref(f"{field}.marking_ref", gm["marking_ref"], _COMMON_REFS["object_marking_refs"], add)
        elif "lang" not in gm:
            add(Problem(field=field, reason="a granular marking needs marking_ref or lang"))

    if rules.extra is not None:
        rules.extra(obj, add)
    return problems


# ---------------------------------------------------------------- full (slow) validation

_VALIDATOR_FIELD = (
    re.compile(r"Pattern (failed) to validate"),
    re.compile(r"'([a-z0-9_]+)' is a required property"),
    re.compile(r"'([a-z0-9_]+)' \(.*\) must be later"),
    re.compile(r"'([^']+)' does not match any of the regexes"),
    re.compile(r"must contain at least one of '([a-z0-9_]+)'"),
    re.compile(r"([A-Za-z0-9_.\-\[\]]+): "),
)


def _validator_problem(message: str, oid: Any) -> Problem:
    text = message.removeprefix(f"{oid}: ") if isinstance(oid, str) else message
    for regex in _VALIDATOR_FIELD:
        m = regex.match(text) if regex is _VALIDATOR_FIELD[-1] else regex.search(text)
        if m:
            field = "pattern" if m[1] == "failed" else re.sub(r"\[\d+\]$", "", m[1])
            return Problem(field=field, reason=text)
    return Problem(reason=text)


def full_validate(obj: dict[str, Any]) -> list[Problem]:
    """validate_object plus the OASIS stix2-validator (slow: for dry runs and tests).

    Validator findings on a field validate_object already reported are dropped, and
    so are its field-less ones ("not valid under any of the given schemas") when
    validate_object has already said what is wrong.
    """
    from stix2validator import ValidationOptions, validate_instance
    from stix2validator.errors import ValidationError

    problems = validate_object(obj)
    if type(obj) is not dict:
        return problems
    try:
        result = validate_instance(obj, ValidationOptions(version="2.1", strict=False, silent=True))
        found = [_validator_problem(str(e), obj.get("id")) for e in result.errors]
    except ValidationError as exc:
        found = [Problem(reason=str(exc))]
    fields = {p.field for p in problems}
    problems.extend(p for p in found if p.field not in fields and (p.field is not None or not fields))
    return problems


# ---------------------------------------------------------------- STIX 2.0

_LABELS_TO = {"indicator": "indicator_types", "malware": "malware_types", "report": "report_types",
              "threat-actor": "threat_actor_types", "tool": "tool_types"}


def upgrade_20(obj: dict[str, Any]) -> dict[str, Any]:
    """A STIX 2.0 object as 2.1 (a new dict; objects that already carry spec_version are returned as is).

    Follows the 2.1 spec's changes: spec_version "2.1"; ``labels`` on indicator,
    malware, report, threat-actor and tool move to the 2.1 ``*_types``
    vocabularies; indicators get ``pattern_type`` "stix" and ``pattern_version``
    "2.0" (their pattern grammar); malware gets ``is_family`` true, as the
    stix2-elevator does (2.0 malware objects mostly describe families).
    Embedded observed-data ``objects`` stay (deprecated, still valid in 2.1).
    """
    if type(obj) is not dict or "spec_version" in obj:
        return obj
    new = dict(obj, spec_version="2.1")
    otype = new.get("type")
    types_prop = _LABELS_TO.get(otype) if type(otype) is str else None
    if types_prop is not None and "labels" in new and types_prop not in new:
        new[types_prop] = new.pop("labels")
    if otype == "indicator":
        new.setdefault("pattern_type", "stix")
        new.setdefault("pattern_version", "2.0")
    elif otype == "malware":
        new.setdefault("is_family", True)
    return new


# ---------------------------------------------------------------- streaming reader

_BUNDLE_ID = re.compile(rf"bundle--{_UUID}")
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


class _Tap:
    """A file wrapper that hands chunks to the main ijson parser and reads the envelope on the way.

    It follows the top-level keys with a second (event-only) parser until
    ``type``, ``id`` and the kind of ``objects`` are known, then goes quiet.
    Until the document is known to be a bundle it also builds the whole
    top-level value, which is what a single-object file needs.
    """

    def __init__(self, f: Any) -> None:
        self.f = f
        self.events = ijson.sendable_list()
        self.scan: Any = ijson.basic_parse_coro(self.events, use_float=True)
        self.whole = ijson.sendable_list()
        self.build: Any = ijson.items_coro(self.whole, "", use_float=True)
        self.depth = 0
        self.pending: str | None = None
        self.top: str | None = None  # first event: start_map for a bundle or object
        self.env: dict[str, Any] = {}  # top-level scalar values (type, id, spec_version)
        self.keys: set[str] = set()
        self.objects: str | None = None  # event that opened the objects value
        self.offset = 0  # bytes handed out before the current chunk
        self.lines = 0  # newlines before the current chunk
        self.chunk = b""
        self.first = True
        self.changed = False  # envelope state moved since the reader last looked

    def read(self, n: int = -1) -> bytes:
        if n == 0:
            return b""
        chunk = self.f.read(n)
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if self.first and chunk:
            self.first = False
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
        self.offset += len(self.chunk)
        self.lines += self.chunk.count(b"\n")
        self.chunk = chunk
        if self.scan is not None:
            if chunk:
                self.scan.send(chunk)
            else:
                self.scan.close()
                self.scan = None
            self._follow()
        if self.build is not None:
            if self.is_bundle:
                self.build = None
            elif chunk:
                self.build.send(chunk)
            else:
                self.build.close()
                self.build = None
        return chunk

    @property
    def is_bundle(self) -> bool:
        return self.objects == "start_array" or self.env.get("type") == "bundle"

    def _follow(self) -> None:
        self.changed = True
        depth, pending = self.depth, self.pending
        for event, value in self.events:
            if pending is not None:  # the value of a top-level key
                self.keys.add(pending)
                if pending == "objects":
                    self.objects = event
                if event not in _OPEN:
                    self.env[pending] = value
                pending = None
            if event == "map_key":
                if depth == 1:
                    pending = value
            elif event in _OPEN:
                if depth == 0:
                    self.top = event
                depth += 1
            elif event in _CLOSE:
                depth -= 1
        del self.events[:]
        self.depth, self.pending = depth, pending
        if self.scan is not None and {"type", "id"} <= self.keys and self.objects is not None:
            self.scan = None  # envelope known: the rest is the main parser's job

    def envelope_problems(self, *, final: bool) -> list[Problem]:
        """Problems of the bundle envelope seen so far (all of them when final)."""
        if not self.is_bundle:
            return []
        found = []
        if "type" in self.keys and self.env.get("type") != "bundle":
            found.append(Problem(field="type", reason=f"bundle type must be 'bundle', got {self.env.get('type')!r}"))
        elif final and "type" not in self.keys:
            found.append(Problem(field="type", reason="bundle has no type property (must be 'bundle')"))
        bid = self.env.get("id")
        if "id" in self.keys and not (type(bid) is str and _BUNDLE_ID.fullmatch(bid)):
            found.append(Problem(field="id", reason=f"bundle id {bid!r} must be bundle--<UUID>"))
        elif final and "id" not in self.keys:
            found.append(Problem(field="id", reason="bundle has no id property"))
        if self.objects is not None and self.objects != "start_array":
            found.append(Problem(field="objects", reason="bundle objects must be a JSON array"))
        return found

    def locate(self, message: str) -> str:
        """Where yajl's error points, as 'line L, column C (byte B)', from its context snippet."""
        lines = message.splitlines()
        if len(lines) >= 3 and "^" in lines[2]:
            # yajl prints up to 30 characters either side, newlines as spaces; the
            # caret sits just after the offending character.
            context, caret = lines[1], lines[2].index("^") - 1
            before, after = context[:caret].lstrip(" "), context[caret:]
            if before or after.strip():
                probe = re.compile("".join("[ \r\n]" if c == " " else re.escape(c) for c in before + after))
                chunk = self.chunk.decode("utf-8", "replace")
                m = probe.search(chunk)
                if m is not None:
                    text = chunk[:m.start() + len(before)]
                    line = self.lines + text.count("\n") + 1
                    column = len(text) - (text.rfind("\n") + 1) + 1
                    byte = self.offset + len(text.encode("utf-8"))
                    return f"line {line}, column {column} (byte {byte})"
        if not self.chunk:
            return f"byte {self.offset} (end of input)"
        return f"bytes {self.offset}-{self.offset + len(self.chunk)}"


def _is_20(obj: Any) -> bool:
    """A bundle member without spec_version that is not an SCO: STIX 2.0, by the 2.1 spec's own default."""
    if type(obj) is not dict or "spec_version" in obj:
        return False
    otype = obj.get("type")
    if type(otype) is not str:  # unhashable or absent: validate_object reports it
        return "created" in obj
    return otype not in _SCO and (otype in _SDO or otype in _SRO or otype in _META or "created" in obj)


def _located(problems: list[Problem], file_name: str, location: str) -> list[Problem]:
    return [Problem(p.reason, file_name, location, p.field) for p in problems]


def _location(index: int, obj: Any) -> str:
    oid = obj.get("id") if type(obj) is dict else None
    return f"object {index} ({oid})" if type(oid) is str else f"object {index}"


def iter_stix(source: str | os.PathLike[str] | BinaryIO, *, file_name: str,
              errors: list[Problem] | None = None) -> Iterator[ParsedItem]:
    """Yield the STIX 2.1 objects of a bundle or single-object file, validated, as they are parsed.

    A bad object raises InvalidInput (file, location, field) when ``errors`` is
    None; otherwise its problems are appended to ``errors`` and it is skipped
    (dry run). Bundle envelope problems are reported when seen, a missing
    ``type`` or ``id`` at the end. Invalid JSON always raises.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from _iter_stream(f, file_name, errors)
    else:
        yield from _iter_stream(source, file_name, errors)


def _report(problems: list[Problem], errors: list[Problem] | None) -> None:
    if errors is None:
        raise InvalidInput(problems)
    errors.extend(problems)


def _iter_stream(f: Any, file_name: str, errors: list[Problem] | None) -> Iterator[ParsedItem]:
    tap = _Tap(f)
    reported: set[str | None] = set()

    def envelope(final: bool) -> None:
        new = [p for p in tap.envelope_problems(final=final) if p.field not in reported]
        if new:
            reported.update(p.field for p in new)
            _report(_located(new, file_name, "bundle"), errors)

    def item(index: int, obj: Any, in_bundle: bool) -> ParsedItem | None:
        location = _location(index, obj)
        if too_deep(obj):  # later steps (json.dumps, deepcopy) recurse: refuse it here, located
            _report([Problem(nesting_problem(), file_name, location)], errors)
            return None
        if in_bundle and _is_20(obj) and tap.env.get("spec_version") != "2.1":
            obj = upgrade_20(obj)
        problems = validate_object(obj)
        if problems:
            _report(_located(problems, file_name, location), errors)
            return None
        return ParsedItem(obj, location)

    try:
        for index, obj in enumerate(ijson.items(tap, "objects.item", use_float=True, buf_size=_CHUNK)):
            if tap.changed:
                tap.changed = False
                envelope(final=False)
            parsed = item(index, obj, True)
            if parsed is not None:
                yield parsed
    except ijson.JSONError as exc:
        arg = exc.args[0] if exc.args else ""
        message = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
        reason = message.splitlines()[0] if message else "unexpected end of input"
        raise InvalidInput(Problem(f"not valid JSON: {reason}", file_name, tap.locate(message))) from None
    except UnicodeDecodeError as exc:  # yajl decodes each string as UTF-8 (found by fuzz/run.py stix)
        bad = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
        where = tap.chunk.find(exc.object) if isinstance(exc.object, bytes) and exc.object else -1
        line = tap.lines + tap.chunk[:where + exc.start].count(b"\n") + 1 if where >= 0 else None
        raise InvalidInput(Problem(f"not valid UTF-8: byte 0x{bad} cannot start or continue a character "
                                   "(STIX JSON must be UTF-8 encoded)", file_name,
                                   f"line {line}" if line else None)) from None
    if tap.top != "start_map":
        raise InvalidInput(Problem("the top-level JSON value must be an object (a STIX bundle or object)",
                                   file_name))
    if tap.is_bundle:
        envelope(final=True)
        return
    if tap.whole:  # a single top-level object
        parsed = item(0, tap.whole[0], False)
        if parsed is not None:
            yield parsed


__all__ = ["full_validate", "iter_stix", "upgrade_20", "validate_object"]
