"""MISP events → STIX 2.1 objects.

Reads one MISP event file in any of the forms MISP and PyMISP exchange
(``{"Event": {...}}``, ``{"response": [{"Event": ...}, ...]}``, a bare event dict,
or a JSON array of ``{"Event": ...}``), streaming event by event, and yields
:class:`ParsedItem` objects. A MISP feed directory is read with
:func:`iter_misp_feed`. Each event is loaded with PyMISP (validation, per-type ``to_ids``
defaults); the conversion itself reads the event's JSON, so positions, uuids and fields that
PyMISP would rewrite (it invents random uuids) survive.

Mapping
=======

=============================  ====================================================================
MISP                           STIX 2.1
=============================  ====================================================================
event                          ``report--<event uuid>``: ``name`` = info, ``published`` =
                               publish_timestamp (if published) else date, ``created`` = date,
                               ``modified`` = timestamp, ``object_refs`` = every object produced
                               for the event, ``labels`` = event tags, ``external_references`` =
                               ``{"source_name": "misp", "external_id": <event uuid>}``
Orgc                           ``identity--<org uuid>`` (organization), ``created_by_ref`` of
                               every SDO/SRO of the event (org identities and galaxy clusters
                               are shared reference objects: fixed created/modified 1970-01-01,
                               no marking, so every event yields the identical object and an
                               authoritative copy such as the ATT&CK bundle is always newer)
attribute, to_ids, patternable ``indicator--<attribute uuid>``; ``valid_from`` = first_seen or
                               timestamp, ``valid_until`` = last_seen (or an expiration sighting)
attribute, not to_ids          ``observed-data--<attribute uuid>`` + its SCOs (SCO ids are the
                               STIX deterministic UUIDv5 ids, so the same value dedupes
                               across events and sources)
text, comment, other, … and    ``note--<attribute uuid>`` (content = value, abstract =
values without an observable   ``<category> / <type>``)
vulnerability                  ``vulnerability--<attribute uuid>`` (name = CVE id, external
                               reference ``cve``), as misp-stix does
campaign-name                  ``campaign--<attribute uuid>``, as misp-stix does
object with to_ids attributes  ``indicator--<object uuid>``, pattern over its to_ids attributes
object, other attributes       ``observed-data--<object uuid>`` with SCOs of the remaining
                               attributes (file name/hashes/size/mime-type merged into one
                               ``file``); non-observable attributes → ``note--<object uuid>``
object reference               ``relationship--<reference uuid>`` between the primary objects
                               (indicator > observed-data > note) of source and target
tag ``tlp:*``                  handling hint ``tlp`` (tlp:white → clear) and the TLP 2.0
                               ``marking-definition--…`` in ``object_marking_refs``; the most
                               specific (attribute/object) TLP wins over the event's; several TLP
                               tags on one element → the strictest
other tags                     ``labels`` (local tags are not labels: MISP does not share them)
galaxy cluster                 ``threat-actor`` / ``intrusion-set`` / ``attack-pattern`` /
                               ``malware`` (incl. banker, botnet, ransomware, rat, exploit-kit …) /
                               ``tool`` / ``course-of-action`` ``--<cluster uuid>`` by galaxy
                               type (a uuid shared by several clusters, as older exports wrote
                               the galaxy's, becomes a UUIDv5 of type and value), in the report;
                               attribute clusters also get a relationship (``indicates`` from an
                               indicator, else ``related-to``); other galaxy types stay as
                               labels (their tag names)
sighting type 0                ``sighting`` per attribute and organisation: ``count``,
                               ``first_seen``/``last_seen``, ``sighting_of_ref`` = the attribute's
                               object, ``where_sighted_refs`` = ``identity--<org uuid>``
sighting type 1 (false pos.)   ``opinion`` ``strongly-disagree`` on the attribute's object
sighting type 2 (expiration)   indicator ``valid_until`` (earliest expiration after valid_from)
EventReport, analyst Note      ``note--<uuid>``; analyst Opinion → ``opinion--<uuid>`` (0-100
                               mapped onto the five STIX opinion values)
distribution                   handling hint ``distribution`` (raw 0..5; 5 = inherit) and, for 4,
                               ``sharing_group`` = the sharing group's name
deleted attribute/object       skipped; ShadowAttributes (proposals) and RelatedEvents ignored
=============================  ====================================================================

Attribute type → pattern (aligned with misp-stix where that is valid STIX):
ip-src/ip-dst → ``network-traffic:src_ref|dst_ref.type/.value`` (keeps the direction);
``…|port`` adds ``src_port``/``dst_port``; domain/hostname → ``domain-name:value``;
domain|ip → ``domain-name:value AND domain-name:resolves_to_refs[*].value``;
hostname|port → ``domain-name:value AND network-traffic:dst_port``; url/link/uri → ``url:value``;
email → ``email-addr:value``; email-src/-dst → ``email-message:from_ref.value``/``to_refs[*].value``;
email-subject/-message-id/-body/-x-mailer/-reply-to/-attachment → ``email-message:…``;
hashes (md5 … sha3-512, ssdeep, tlsh, imphash, pehash, authentihash, vhash, telfhash) →
``file:hashes.<ALG>``; filename|<hash> and malware-sample → ``file:name AND
file:hashes.<ALG>``; AS → ``autonomous-system:number``; mac-address, mutex, regkey, regkey|value,
x509-fingerprint-*, github-username, port, size-in-bytes, http-method, user-agent as misp-stix;
yara/sigma/snort/suricata → ``pattern_type`` of that language with the rule as the pattern;
btc/xmr/iban/phone-number → the kit's pattern. Single-observable types use ``kit.to_pattern``.
Of misp-stix's 80 reference attribute types, 62 give the identical pattern (or SDO) and 6 more
differ only in integer quoting. Deliberate differences: integers (ports, AS numbers, sizes) are
unquoted as STIX requires; a yara/sigma/snort/suricata rule is not wrapped in ``[...]``;
regkey|value uses ``values[*].data`` without escaping ``%``; ``sha512/224`` and ``sha512/256``
are not mapped onto SHA-224/SHA-256 (different algorithms) and stay notes; email-header stays a
note; sample/attachment payloads are not copied into patterns or SCOs (the hash identifies the
sample; the payload stays in MISP). Rule attributes inside objects are kept in the object's note.

Values that do not normalise (``kit.observables.normalise`` raises, or a hash fails its format):
the attribute is kept as a ``note`` carrying the raw value rather than failing the event. When
``to_ids`` was set, that is a rejected indicator, not just odd context: a :class:`Problem` is
appended to ``errors`` (if given) so the import report shows it. Structural errors (not JSON, an
events index, a sharing-group list, an event without ``info``) raise :class:`InvalidInput`.

Deterministic ids: MISP uuids are reused as STIX uuids like misp-stix does; anything without a
usable uuid (missing, not an RFC 4122 uuid, or already used by another attribute/object of the
event) gets a UUIDv5 derived from its place in the event, so re-importing the same file yields
the same ids. Locations read ``event N``, ``event N attribute M``, ``event N object M``
(1-based, counting deleted entries so positions match the file).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import stix2
from pymisp import MISPAttribute, MISPEvent
from stix2.hashes import check_hash, infer_hash_algorithm

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.limits import nesting_problem, too_deep
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.kit.observables import normalise, to_pattern
from cyberfusion.kit.timeutil import format_ts, parse_ts

__all__ = ["iter_misp", "iter_misp_feed", "summarise_misp", "TLP_MARKINGS"]

_KNOWN_TYPES = frozenset(MISPAttribute().known_types)
# Derived ids for MISP elements that carry no usable uuid.
_NAMESPACE = uuid.UUID("2d14ac9d-cf6c-4007-81c9-1ec7f464b036")

TLP_MARKINGS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP_NAMES = {"white": "clear", "clear": "clear", "green": "green", "amber": "amber",
              "amber+strict": "amber+strict", "red": "red"}
_TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
# Organisation identities and galaxy clusters are shared reference objects: every event must
# yield the identical object (no creator, no marking, a fixed time), and an authoritative copy
# of the same id (e.g. the ATT&CK bundle) is always the newer version.
_SHARED_TIME = "1970-01-01T00:00:00.000Z"


# --------------------------------------------------------------------------- public API


def iter_misp(source: str | os.PathLike[str] | BinaryIO, *, file_name: str,
              errors: list[Problem] | None = None,
              default_time: datetime | None = None) -> Iterator[ParsedItem]:
    """Yield the STIX objects of every event in a MISP event file, event by event.

    ``default_time`` stamps elements that carry no time at all (an event without
    date or timestamp); it defaults to 1970-01-01 so output stays deterministic.
    """
    for number, raw in _raw_events(source, file_name):
        yield from _Event(raw, number=number, file_name=file_name, errors=errors,
                          default_time=default_time).convert()


def iter_misp_feed(directory: str | os.PathLike[str], *, errors: list[Problem] | None = None,
                   default_time: datetime | None = None) -> Iterator[ParsedItem]:
    """Yield the STIX objects of a MISP feed directory (``manifest.json`` + ``<uuid>.json``).

    A manifest entry whose event file is missing is a problem: appended to
    ``errors`` when given (the other events still import), raised otherwise.
    """
    root = Path(directory)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise InvalidInput(Problem("not a MISP feed: no manifest.json", file=str(root)))
    try:
        with manifest_path.open("rb") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise InvalidInput(Problem(f"manifest is not valid JSON: {exc}",
                                   file="manifest.json")) from exc
    if not isinstance(manifest, dict):
        raise InvalidInput(Problem("manifest must be an object keyed by event uuid",
                                   file="manifest.json"))
    for key in manifest:
        event_uuid = _valid_uuid(key)
        name = f"{event_uuid}.json"
        # Keys name files: anything but a uuid could point outside the feed directory.
        if event_uuid is None or not (root / name).is_file():
            problem = Problem("event listed in manifest.json but its file is missing"
                              if event_uuid else f"manifest key {key!r} is not an event uuid",
                              file=name if event_uuid else "manifest.json",
                              location="manifest.json")
            if errors is None:
                raise InvalidInput(problem)
            errors.append(problem)
            continue
        yield from iter_misp(root / name, file_name=name, errors=errors,
                             default_time=default_time)


def summarise_misp(source: str | os.PathLike[str] | BinaryIO, *,
                   file_name: str | None = None) -> dict[str, int]:
    """Count what a MISP event file holds, straight from its JSON.

    ``attributes`` counts non-deleted attributes, event-level plus those inside
    non-deleted objects (``event_attributes``/``object_attributes`` split them);
    ``tags`` counts tag attachments on the event, its non-deleted attributes and
    objects; ``galaxies``/``clusters`` count event- and attribute-level entries;
    ``sightings`` those on non-deleted attributes.
    """
    name = file_name or _name_of(source)
    counts = dict.fromkeys(("events", "attributes", "event_attributes", "object_attributes",
                            "objects", "tags", "galaxies", "clusters", "sightings",
                            "event_reports"), 0)
    for _, ev in _raw_events(source, name):
        counts["events"] += 1
        counts["tags"] += len(ev.get("Tag") or [])
        counts["event_reports"] += len(ev.get("EventReport") or [])
        _count_galaxies(ev, counts)
        for attr in ev.get("Attribute") or []:
            if not _truthy(attr.get("deleted")):
                counts["event_attributes"] += 1
                _count_attribute(attr, counts)
        for obj in ev.get("Object") or []:
            if _truthy(obj.get("deleted")):
                continue
            counts["objects"] += 1
            counts["tags"] += len(obj.get("Tag") or [])
            for attr in obj.get("Attribute") or []:
                if not _truthy(attr.get("deleted")):
                    counts["object_attributes"] += 1
                    _count_attribute(attr, counts)
    counts["attributes"] = counts["event_attributes"] + counts["object_attributes"]
    return counts


def _count_attribute(attr: dict[str, Any], counts: dict[str, int]) -> None:
    counts["tags"] += len(attr.get("Tag") or [])
    counts["sightings"] += len(attr.get("Sighting") or [])
    _count_galaxies(attr, counts)


def _count_galaxies(holder: dict[str, Any], counts: dict[str, int]) -> None:
    for galaxy in holder.get("Galaxy") or []:
        counts["galaxies"] += 1
        counts["clusters"] += len(galaxy.get("GalaxyCluster") or [])


# --------------------------------------------------------------------------- reading


def _name_of(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else "<stream>"


def _raw_events(source: Any, file_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based number, raw event dict), checking the file's shape as it streams."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            yield from _stream_events(fh, file_name)
    else:
        fh = source if _seekable(source) else io.BytesIO(source.read())
        yield from _stream_events(fh, file_name)


def _seekable(fh: Any) -> bool:
    try:
        return bool(fh.seekable())
    except (AttributeError, OSError):
        return False


def _stream_events(fh: BinaryIO, file_name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    start = fh.tell()
    first = _first_token(fh, file_name)
    fh.seek(start)
    try:
        if first == "[":
            items = ijson.items(fh, "item", use_float=True)
            number = 0
            for item in items:
                number += 1
                if number == 1:
                    _check_array_item(item, file_name)
                yield number, _unwrap(item, file_name, number)
            if number == 0:
                raise InvalidInput(Problem("empty JSON array: no MISP event", file=file_name))
            return
        key = _first_key(fh, file_name)
        fh.seek(start)
        if key == "response":
            number = 0
            for item in ijson.items(fh, "response.item", use_float=True):
                number += 1
                yield number, _unwrap(item, file_name, number)
            if number == 0:
                raise InvalidInput(Problem("empty 'response': no MISP event", file=file_name))
        elif key == "Event":
            for item in ijson.items(fh, "Event", use_float=True):
                yield 1, _checked(item, file_name, 1)
                break
        else:
            for item in ijson.items(fh, "", use_float=True):
                yield 1, _checked(item, file_name, 1)
    except ijson.JSONError as exc:
        arg = exc.args[0] if exc.args else ""
        message = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
        reason = message.strip().splitlines()[0] if message.strip() else "unexpected end of input"
        raise InvalidInput(Problem(f"not valid JSON: {reason}", file=file_name)) from None
    except UnicodeDecodeError as exc:  # yajl decodes each string as UTF-8 (found by fuzz/run.py misp)
        bad = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
        line = _line_of(fh, start, exc.object, exc.start) if isinstance(exc.object, bytes) else None
        raise InvalidInput(Problem(f"not valid UTF-8: byte 0x{bad} cannot start or continue a character "
                                   "(MISP JSON must be UTF-8 encoded)", file=file_name,
                                   location=f"line {line}" if line else None)) from None


def _line_of(fh: BinaryIO, start: int, token: bytes, offset: int, chunk: int = 1 << 20) -> int | None:
    """The line of the first place the undecodable token occurs (an error path: one more pass)."""
    if not token:
        return None
    fh.seek(start)
    lines, tail = 1, b""
    while block := fh.read(chunk):
        data = tail + block
        where = data.find(token)
        if where >= 0:
            return lines + data[:where + offset].count(b"\n")
        keep = len(token) - 1
        lines += data[:len(data) - keep].count(b"\n") if keep else data.count(b"\n")
        tail = data[len(data) - keep:] if keep else b""
    return None


def _first_token(fh: BinaryIO, file_name: str) -> str:
    head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] not in (b"{", b"["):
        raise InvalidInput(Problem("not a MISP event: expected a JSON object with 'Event' or "
                                   "'info'", file=file_name))
    return head[:1].decode()


def _first_key(fh: BinaryIO, file_name: str) -> str | None:
    try:
        for prefix, event, value in ijson.parse(fh):
            if prefix == "" and event == "map_key":
                return value
            if prefix == "" and event == "end_map":
                return None
    except ijson.JSONError as exc:
        raise InvalidInput(Problem(f"not valid JSON: {exc}", file=file_name)) from exc
    return None


def _check_array_item(item: Any, file_name: str) -> None:
    """A top-level array is accepted only as a list of ``{"Event": ...}`` wrappers."""
    if isinstance(item, dict) and isinstance(item.get("Event"), dict):
        return
    if isinstance(item, dict) and "SharingGroup" in item and "info" not in item:
        reason = ("a list of MISP sharing groups, not an event: no 'Event' and no mandatory "
                  "'info'")
    elif isinstance(item, dict) and "info" in item:
        reason = ("a MISP events index (event summaries without attributes), not an event: "
                  "expected an object with 'Event' or a full event with 'info'; fetch each "
                  "event in full")
    else:
        reason = "a JSON array that is not a list of MISP events: no 'Event' and no 'info'"
    raise InvalidInput(Problem(reason, file=file_name, field="info"))


def _unwrap(item: Any, file_name: str, number: int) -> dict[str, Any]:
    if isinstance(item, dict) and isinstance(item.get("Event"), dict):
        item = item["Event"]
    return _checked(item, file_name, number)


def _checked(event: Any, file_name: str, number: int) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidInput(Problem("not a MISP event: expected a JSON object",
                                   file=file_name, location=f"event {number}"))
    info = event.get("info")
    if not isinstance(info, str) or not info.strip():
        raise InvalidInput(Problem("missing mandatory field 'info': not a full MISP event "
                                   "(an event fragment?)", file=file_name,
                                   location=f"event {number}", field="info"))
    if too_deep(event):
        raise InvalidInput(Problem(nesting_problem(), file=file_name, location=f"event {number}"))
    _check_shape(event, "event", f"event {number}", file_name)
    return event


# Which keys of each MISP element hold lists of elements, and what kind those are: the
# converter walks exactly these, so a wrong shape is reported here, with its place.
_SHAPE: dict[str, dict[str, str]] = {
    "event": {"Attribute": "attribute", "Object": "object", "Tag": "tag", "Galaxy": "galaxy",
              "EventReport": "report", "Note": "note", "Opinion": "opinion"},
    "object": {"Attribute": "attribute", "ObjectReference": "reference", "Tag": "tag", "Note": "note",
               "Opinion": "opinion"},
    "attribute": {"Tag": "tag", "Sighting": "sighting", "Galaxy": "galaxy", "Note": "note",
                  "Opinion": "opinion"},
    "galaxy": {"GalaxyCluster": "cluster"},
    "report": {"Note": "note", "Opinion": "opinion"},
}


def _check_shape(element: dict[str, Any], kind: str, location: str, file_name: str) -> None:
    for key, child in _SHAPE.get(kind, {}).items():
        items = element.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidInput(Problem(f"'{key}' must be a list of JSON objects", file=file_name,
                                       location=location, field=key))
        for i, item in enumerate(items, 1):
            _check_shape(item, child, f"{location} {child} {i}", file_name)


# --------------------------------------------------------------------------- small helpers


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _valid_uuid(value: Any) -> str | None:
    try:
        parsed = uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
    return str(parsed) if parsed.variant == uuid.RFC_4122 else None


def _derived(*parts: Any) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _when(value: Any) -> datetime | None:
    """A MISP time (datetime, date, epoch seconds, ISO string) as aware UTC, or None."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        if isinstance(value, (int, float)) or str(value).strip().isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        return parse_ts(str(value).strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _lit(value: str | int) -> str:
    """A STIX pattern literal: integers bare, strings quoted and escaped."""
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _key(name: str) -> str:
    return name if _SIMPLE_KEY.match(name) else f"'{name}'"


_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")


def _finish_sco(spec: dict[str, Any]) -> dict[str, Any]:
    """Give an SCO its STIX deterministic id (UUIDv5 over its id-contributing properties)."""
    sco = {"type": spec["type"], "spec_version": "2.1", **{k: v for k, v in spec.items()
                                                             if k != "type"}}
    generated = stix2.parse(sco, allow_custom=True, version="2.1").id
    if uuid.UUID(generated.split("--", 1)[1]).version != 5:
        # No id-contributing property set: stix2 would pick a random id.
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        generated = f"{spec['type']}--{uuid.uuid5(_SCO_NAMESPACE, canonical)}"
    return {"type": spec["type"], "spec_version": "2.1", "id": generated,
            **{k: v for k, v in spec.items() if k != "type"}}


# --------------------------------------------------------------------------- attribute types


class _Unusable(Exception):
    """The value does not fit its MISP type; the attribute is kept as a note."""


Comparison = tuple[str, str, "str | int"]  # (object type, property path, value)


@dataclass(slots=True)
class _Mapped:
    comparisons: list[Comparison] = field(default_factory=list)
    # SCO specs; a ref property holds the *index* of another spec in this list.
    scos: list[dict[str, Any]] = field(default_factory=list)
    simple: tuple[str, str] | None = None  # (kit kind, normalised value) for to_pattern
    signature: str | None = None           # pattern_type of a rule language
    sdo: dict[str, Any] | None = None      # vulnerability / campaign


_HASH_KEYS = {
    "md5": "MD5", "sha1": "SHA-1", "sha224": "SHA-224", "sha256": "SHA-256",
    "sha384": "SHA-384", "sha512": "SHA-512", "sha3-224": "SHA3-224", "sha3-256": "SHA3-256",
    "sha3-384": "SHA3-384", "sha3-512": "SHA3-512", "ssdeep": "SSDEEP", "tlsh": "TLSH",
    "imphash": "IMPHASH", "pehash": "PEHASH", "authentihash": "AUTHENTIHASH", "vhash": "VHASH",
    "telfhash": "TELFHASH",
}
_KIT_HASHES = {"md5", "sha1", "sha256", "sha512"}
_EMAIL_TYPES = {"email", "email-src", "email-dst", "email-reply-to", "target-email",
                "whois-registrant-email", "dns-soa-email", "email-addr"}
_URL_TYPES = {"url", "link", "uri"}
_SIGNATURES = {"yara", "sigma", "snort", "suricata"}
_KIT_ONLY = {"btc": "btc", "xmr": "xmr", "iban": "iban", "phone-number": "phone"}


def _norm(kind: str, value: str) -> str:
    try:
        return normalise(kind, value)
    except InvalidInput as exc:
        raise _Unusable(exc.problems[0].reason) from exc


def _ip(value: str) -> tuple[str, str]:
    kind = "ipv6-addr" if ":" in value else "ipv4-addr"
    return kind, _norm(kind, value.strip())


def _port(value: str) -> int:
    port = _int(str(value).strip())
    if port is None or not 0 <= port <= 65535:
        raise _Unusable(f"not a valid port: {value!r}")
    return port


def _hash(misp_type: str, value: str) -> tuple[str, str]:
    key = _HASH_KEYS[misp_type]
    value = value.strip()
    if misp_type in _KIT_HASHES:
        return key, _norm(misp_type, value)
    algorithm = infer_hash_algorithm(key)
    if not value or (algorithm is not None and not check_hash(algorithm, value)):
        raise _Unusable(f"not a valid {misp_type}: {value!r}")
    return key, value.lower() if misp_type not in ("ssdeep", "vhash", "pehash") else value


def _split(value: str, misp_type: str) -> tuple[str, str]:
    # A hash never holds "|", a file name might: split file types at the last bar.
    last = misp_type.startswith("filename|") or misp_type == "malware-sample"
    left, sep, right = value.rpartition("|") if last else value.partition("|")
    if not sep or not left.strip() or not right.strip():
        raise _Unusable(f"{misp_type} value must be 'a|b': {value!r}")
    return left.strip(), right.strip()


def _map(misp_type: str, value: str) -> _Mapped | None:
    """Map one MISP attribute onto pattern comparisons and SCOs; None = text only."""
    t = misp_type
    v = value if isinstance(value, str) else str(value)
    m = _Mapped()
    if t in ("ip-src", "ip-dst"):
        kind, ip = _ip(v)
        side = "src" if t == "ip-src" else "dst"
        m.comparisons = [("network-traffic", f"{side}_ref.type", kind),
                         ("network-traffic", f"{side}_ref.value", ip)]
        m.scos = [{"type": kind, "value": ip}]
    elif t in ("ip-src|port", "ip-dst|port"):
        left, right = _split(v, t)
        kind, ip = _ip(left)
        port = _port(right)
        side = "src" if t.startswith("ip-src") else "dst"
        m.comparisons = [("network-traffic", f"{side}_ref.type", kind),
                         ("network-traffic", f"{side}_ref.value", ip),
                         ("network-traffic", f"{side}_port", port)]
        m.scos = [{"type": kind, "value": ip},
                  {"type": "network-traffic", f"{side}_ref": 0, f"{side}_port": port,
                   "protocols": ["tcp"]}]
    elif t in ("domain", "hostname"):
        name = _norm("domain-name", v.strip())
        m.simple = ("domain-name", name)
        m.comparisons = [("domain-name", "value", name)]
        m.scos = [{"type": "domain-name", "value": name}]
    elif t == "domain|ip":
        left, right = _split(v, t)
        name = _norm("domain-name", left)
        kind, ip = _ip(right)
        m.comparisons = [("domain-name", "value", name),
                         ("domain-name", "resolves_to_refs[*].value", ip)]
        m.scos = [{"type": "domain-name", "value": name, "resolves_to_refs": [1]},
                  {"type": kind, "value": ip}]
    elif t == "hostname|port":
        left, right = _split(v, t)
        name = _norm("domain-name", left)
        port = _port(right)
        m.comparisons = [("domain-name", "value", name), ("network-traffic", "dst_port", port)]
        m.scos = [{"type": "domain-name", "value": name},
                  {"type": "network-traffic", "dst_ref": 0, "dst_port": port,
                   "protocols": ["tcp"]}]
    elif t in _URL_TYPES:
        try:
            url = _norm("url", v.strip())
            m.simple = ("url", url)
        except _Unusable:
            if t != "uri" or not v.strip():
                raise
            url = v.strip()  # a MISP uri is often a bare path, which is still a useful value
        m.comparisons = [("url", "value", url)]
        m.scos = [{"type": "url", "value": url}]
    elif t in _EMAIL_TYPES:
        addr = _norm("email-addr", v.strip())
        path = {"email-src": ("email-message", "from_ref.value"),
                "email-dst": ("email-message", "to_refs[*].value"),
                "email-reply-to": ("email-message", "additional_header_fields.reply_to")
                }.get(t, ("email-addr", "value"))
        if path[0] == "email-addr":
            m.simple = ("email-addr", addr)
        m.comparisons = [(path[0], path[1], addr)]
        m.scos = [{"type": "email-addr", "value": addr}]
    elif t in ("email-subject", "email-message-id", "email-body", "email-x-mailer"):
        prop = {"email-subject": "subject", "email-message-id": "message_id",
                "email-body": "body", "email-x-mailer": "additional_header_fields.x_mailer"}[t]
        m.comparisons = [("email-message", prop, v)]
        sco: dict[str, Any] = {"type": "email-message", "is_multipart": False}
        if t == "email-x-mailer":
            sco["additional_header_fields"] = {"X-Mailer": v}
        else:
            sco[prop] = v
        m.scos = [sco]
    elif t in _HASH_KEYS:
        key, digest = _hash(t, v)
        if t in _KIT_HASHES:
            m.simple = (t, digest)
        m.comparisons = [("file", f"hashes.{_key(key)}", digest)]
        m.scos = [{"type": "file", "hashes": {key: digest}}]
    elif t == "email-attachment":
        name = v.strip()
        if not name:
            raise _Unusable("empty file name")
        m.comparisons = [("email-message", "body_multipart[*].body_raw_ref.name", name)]
        m.scos = [{"type": "file", "name": name}]
    elif t in ("filename", "attachment"):
        name = v.strip()
        if not name:
            raise _Unusable("empty file name")
        m.comparisons = [("file", "name", name)]
        m.scos = [{"type": "file", "name": name}]
    elif t == "malware-sample" and "|" not in v:
        # PyMISP fills the hash in on upload; a sample file may carry only its name.
        if not v.strip():
            raise _Unusable("empty file name")
        m.comparisons = [("file", "name", v.strip())]
        m.scos = [{"type": "file", "name": v.strip()}]
    elif (t.startswith("filename|") and t[9:] in _HASH_KEYS) or t == "malware-sample":
        left, right = _split(v, t)
        key, digest = _hash("md5" if t == "malware-sample" else t[9:], right)
        m.comparisons = [("file", "name", left), ("file", f"hashes.{_key(key)}", digest)]
        m.scos = [{"type": "file", "name": left, "hashes": {key: digest}}]
    elif t == "AS":
        number = int(_norm("asn", v.strip())[2:])  # canonical form is "AS<n>"
        m.comparisons = [("autonomous-system", "number", number)]
        m.scos = [{"type": "autonomous-system", "number": number}]
    elif t == "mac-address":
        mac = v.strip().lower().replace("-", ":")
        if not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac):
            raise _Unusable(f"not a valid mac-address: {v!r}")
        m.comparisons = [("mac-addr", "value", mac)]
        m.scos = [{"type": "mac-addr", "value": mac}]
    elif t == "mutex":
        m.comparisons = [("mutex", "name", v)]
        m.scos = [{"type": "mutex", "name": v}]
    elif t == "regkey":
        m.comparisons = [("windows-registry-key", "key", v)]
        m.scos = [{"type": "windows-registry-key", "key": v}]
    elif t == "regkey|value":
        key, data = _split(v, t)
        m.comparisons = [("windows-registry-key", "key", key),
                         ("windows-registry-key", "values[*].data", data)]
        m.scos = [{"type": "windows-registry-key", "key": key, "values": [{"data": data}]}]
    elif t.startswith("x509-fingerprint-") and t[17:] in ("md5", "sha1", "sha256"):
        key, digest = _hash(t[17:], v)
        m.comparisons = [("x509-certificate", f"hashes.{_key(key)}", digest)]
        m.scos = [{"type": "x509-certificate", "hashes": {key: digest}}]
    elif t == "github-username":
        m.comparisons = [("user-account", "account_type", "github"),
                         ("user-account", "account_login", v.strip())]
        m.scos = [{"type": "user-account", "account_type": "github",
                   "account_login": v.strip()}]
    elif t == "port":
        m.comparisons = [("network-traffic", "dst_port", _port(v))]
    elif t == "size-in-bytes":
        size = _int(v.strip())
        if size is None or size < 0:
            raise _Unusable(f"not a valid size: {v!r}")
        m.comparisons = [("file", "size", size)]
        m.scos = [{"type": "file", "size": size}]
    elif t == "mime-type":
        m.comparisons = [("file", "mime_type", v.strip())]
        m.scos = [{"type": "file", "mime_type": v.strip()}]
    elif t == "http-method":
        m.comparisons = [("network-traffic",
                          "extensions.'http-request-ext'.request_method", v.strip())]
    elif t == "user-agent":
        m.comparisons = [("network-traffic",
                          "extensions.'http-request-ext'.request_header.'User-Agent'", v)]
    elif t in _SIGNATURES:
        m.signature = t
    elif t == "vulnerability":
        cve = _norm("cve", v.strip())
        m.sdo = {"type": "vulnerability", "name": cve,
                 "external_references": [{"source_name": "cve", "external_id": cve}]}
    elif t == "campaign-name":
        m.sdo = {"type": "campaign", "name": v.strip()}
    elif t in _KIT_ONLY:
        kind = _KIT_ONLY[t]
        m.simple = (kind, _norm(kind, v.strip()))
        m.comparisons = _comparisons_of(to_pattern(*m.simple))
    else:
        return None
    return m


_SIMPLE_PATTERN = re.compile(r"^\[([a-z0-9-]+):(\S+) = (.+)\]$", re.S)


def _comparisons_of(pattern: str) -> list[Comparison]:
    match = _SIMPLE_PATTERN.match(pattern)
    if not match:
        return []
    literal = match.group(3)
    value: str | int = (literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")
                        if literal.startswith("'") else int(literal))
    return [(match.group(1), match.group(2), value)]


def _pattern(comparisons: Iterable[Comparison]) -> str:
    """One observation, as misp-stix writes it: properties AND-ed, several values of one
    property OR-ed (``[file:name = 'a' AND (file:hashes.MD5 = 'x' OR file:hashes.MD5 = 'y')]``)."""
    paths: dict[str, list[str]] = {}
    for root, path, value in comparisons:
        literals = paths.setdefault(f"{root}:{path}", [])
        if _lit(value) not in literals:
            literals.append(_lit(value))
    parts = []
    for path, literals in paths.items():
        terms = [f"{path} = {literal}" for literal in literals]
        parts.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    return "[" + " AND ".join(parts) + "]"


def _build_scos(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resolve index refs between SCO specs and give each its deterministic id."""
    ids: dict[int, str] = {}
    done: dict[int, dict[str, Any]] = {}
    pending = list(range(len(specs)))
    while pending:
        progressed = False
        for i in list(pending):
            spec = specs[i]
            refs = [r for k, r in spec.items() if k.endswith("_ref")] + \
                   [r for k, rs in spec.items() if k.endswith("_refs") for r in rs]
            if all(r in ids for r in refs):
                resolved = {k: (ids[r] if k.endswith("_ref") else r) for k, r in spec.items()}
                for k, rs in spec.items():
                    if k.endswith("_refs"):
                        resolved[k] = [ids[r] for r in rs]
                sco = _finish_sco(resolved)
                ids[i] = sco["id"]
                done[i] = sco
                pending.remove(i)
                progressed = True
        if not progressed:  # a reference cycle: drop what cannot be resolved
            break
    return [done[i] for i in sorted(done)]


def _merge_files(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within one MISP object, all plain file facts describe one file."""
    merged: dict[str, Any] | None = None
    out: list[dict[str, Any]] = []
    remap: dict[int, int] = {}
    for i, spec in enumerate(specs):
        if spec["type"] == "file" and not any(k.endswith(("_ref", "_refs")) for k in spec):
            if merged is None:
                merged = {"type": "file"}
                remap[i] = len(out)
                out.append(merged)
            else:
                remap[i] = out.index(merged)
            for k, v in spec.items():
                if k == "hashes":
                    merged.setdefault("hashes", {}).update(v)
                elif k != "type":
                    merged.setdefault(k, v)
        else:
            remap[i] = len(out)
            out.append(spec)
    for spec in out:
        for k, v in list(spec.items()):
            if k.endswith("_ref"):
                spec[k] = remap[v]
            elif k.endswith("_refs"):
                spec[k] = [remap[r] for r in v]
    return out


def _identifying(spec: dict[str, Any]) -> bool:
    """A file known only by size or MIME type identifies nothing: not worth an SCO."""
    return spec["type"] != "file" or bool(spec.get("name") or spec.get("hashes"))


# --------------------------------------------------------------------------- one event


@dataclass(slots=True)
class _Handling:
    tlp: str | None
    distribution: int | None
    sharing_group: str | None

    def hints(self) -> dict[str, Any]:
        hints: dict[str, Any] = {}
        if self.tlp:
            hints["tlp"] = self.tlp
        if self.distribution is not None:
            hints["distribution"] = self.distribution
            if self.distribution == 4 and self.sharing_group:
                hints["sharing_group"] = self.sharing_group
        return hints


_GALAXY_MALWARE = {"banker": "trojan", "botnet": "bot", "ransomware": "ransomware",
                   "rat": "remote-access-trojan", "exploit-kit": "exploit-kit",
                   "backdoor": "backdoor", "stealer": "spyware", "android": None,
                   "malpedia": None, "cryptominers": "resource-exploitation"}
_ALIASES = {"threat-actor", "intrusion-set", "malware", "tool", "attack-pattern"}
_KILL_CHAINS = {"attack-pattern", "malware", "tool"}
_INDICATES = {"attack-pattern", "campaign", "infrastructure", "intrusion-set", "malware",
              "threat-actor", "tool"}


def _galaxy_sdo_type(galaxy_type: str) -> str | None:
    t = (galaxy_type or "").strip().lower()
    if t.endswith("threat-actor") or t == "microsoft-activity-group":
        return "threat-actor"
    if t.endswith("intrusion-set"):
        return "intrusion-set"
    if t.endswith("attack-pattern"):
        return "attack-pattern"
    if t.endswith("course-of-action"):
        return "course-of-action"
    if t == "tool" or t.endswith("-tool"):
        return "tool"
    if t.endswith("malware") or t in _GALAXY_MALWARE:
        return "malware"
    return None


def _opinion_value(score: Any) -> str:
    n = _int(score)
    n = 50 if n is None else n
    return ("strongly-disagree" if n <= 20 else "disagree" if n <= 40 else
            "neutral" if n <= 60 else "agree" if n <= 80 else "strongly-agree")


class _Event:
    """Converts one raw MISP event; ``convert`` yields the report first, then the rest."""

    def __init__(self, raw: dict[str, Any], *, number: int, file_name: str,
                 errors: list[Problem] | None, default_time: datetime | None) -> None:
        self.file_name = file_name
        self.number = number
        self.errors = errors
        self.raw = copy.deepcopy(raw)  # pymisp's from_dict mutates its input
        self._fill_uuids(self.raw)
        self.event = MISPEvent()
        try:
            self.event.load({"Event": self._for_pymisp()})
        except Exception as exc:  # pymisp raises many kinds on malformed content
            raise InvalidInput(Problem(f"MISP event could not be parsed: {exc}",
                                       file=file_name, location=self.where())) from exc
        self.uuid = self.raw["uuid"]
        self.report_id = f"report--{self.uuid}"
        fallback = default_time or datetime(1970, 1, 1, tzinfo=UTC)
        ev_date = _when(getattr(self.event, "date", None) or self.raw.get("date"))
        ev_stamp = _when(self.raw.get("timestamp"))
        self.modified = ev_stamp or ev_date or fallback
        self.created = min(ev_date or self.modified, self.modified)
        self.out: dict[str, ParsedItem] = {}   # id → item, in production order
        self.primary: dict[str, str] = {}      # MISP attribute/object uuid → STIX id
        self.sharing_groups = self._sharing_groups()
        self.handling = _Handling(self._tlp(self._tag_names(self.raw)),
                                  _int(self.raw.get("distribution")),
                                  self._sg_name(self.raw))
        self.unmapped_galaxy_labels: list[str] = []
        self.cluster_uuids = self._usable_cluster_uuids()
        self.default_to_ids = {a.uuid: bool(a.to_ids) for a in self.event.attributes}
        self.default_to_ids.update({a.uuid: bool(a.to_ids) for o in self.event.objects
                                    for a in o.attributes})
        self.created_by = self._identity(self.raw.get("Orgc"))

    def _for_pymisp(self) -> dict[str, Any]:
        """A copy PyMISP accepts: it rejects a whole event for one attribute type newer than
        its own list, and such an attribute is still converted (as a note) from the raw event."""
        known = _KNOWN_TYPES
        event = copy.deepcopy(self.raw)  # from_dict mutates its input
        for i, attr in enumerate(self.raw.get("Attribute") or []):
            if attr.get("type") not in known and not _truthy(attr.get("deleted")):
                self.problem(f"attribute type {attr.get('type')!r} unknown to PyMISP: kept as "
                             "a note", self.where(f"attribute {i + 1}"), "type")
        event["Attribute"] = [a for a in event.get("Attribute") or [] if a.get("type") in known]
        for obj in event.get("Object") or []:
            obj["Attribute"] = [a for a in obj.get("Attribute") or [] if a.get("type") in known]
            for attr in obj["Attribute"]:
                attr.setdefault("object_relation", attr.get("type"))
        return event

    # ---- bookkeeping

    def where(self, *parts: str) -> str:
        return " ".join((f"event {self.number}", *parts))

    def problem(self, reason: str, location: str, field_name: str | None = None) -> None:
        problem = Problem(reason, file=self.file_name, location=location, field=field_name)
        if self.errors is not None and problem not in self.errors:
            self.errors.append(problem)

    def emit(self, obj: dict[str, Any], location: str, handling: _Handling, *,
             mark: bool = True) -> dict[str, Any]:
        if handling.tlp and mark:
            obj["object_marking_refs"] = [TLP_MARKINGS[handling.tlp]]
        if obj["id"] not in self.out:
            self.out[obj["id"]] = ParsedItem(obj, location, handling.hints())
        return self.out[obj["id"]].obj

    def _fill_uuids(self, ev: dict[str, Any]) -> None:
        """Missing, non-RFC-4122 or repeated uuids become UUIDv5s derived from the element's
        place (a repeated attribute or object uuid would merge two STIX objects into one)."""
        given = _valid_uuid(ev.get("uuid"))
        if given is None:
            canonical = json.dumps(ev, sort_keys=True, ensure_ascii=False, default=str)
            given = _derived("event", canonical)
        ev["uuid"] = given

        used: set[str] = set()

        def fix(item: dict[str, Any], *where: Any) -> None:
            if not isinstance(item, dict):
                return
            valid = _valid_uuid(item.get("uuid"))
            item["uuid"] = valid if valid and valid not in used else \
                _derived(given, *where, item.get("uuid"))
            used.add(item["uuid"])

        def fix_attribute(attr: dict[str, Any], *where: Any) -> None:
            fix(attr, *where, attr.get("type"), attr.get("value"))
            for k, s in enumerate(attr.get("Sighting") or []):
                fix(s, *where, "sighting", k)
            for kind in ("Note", "Opinion"):
                for k, a in enumerate(attr.get(kind) or []):
                    fix(a, *where, kind, k)

        for i, attr in enumerate(ev.get("Attribute") or []):
            fix_attribute(attr, "attribute", i)
        for i, obj in enumerate(ev.get("Object") or []):
            fix(obj, "object", i, obj.get("name"))
            for j, attr in enumerate(obj.get("Attribute") or []):
                fix_attribute(attr, "object", i, "attribute", j)
            for j, ref in enumerate(obj.get("ObjectReference") or []):
                fix(ref, "object", i, "reference", j)
            for kind in ("Note", "Opinion"):
                for k, a in enumerate(obj.get(kind) or []):
                    fix(a, "object", i, kind, k)
        for i, report in enumerate(ev.get("EventReport") or []):
            fix(report, "report", i)
            for k, a in enumerate(report.get("Opinion") or []):
                fix(a, "report", i, "opinion", k)
        for kind in ("Note", "Opinion"):
            for k, a in enumerate(ev.get(kind) or []):
                fix(a, kind, k)

    def _usable_cluster_uuids(self) -> set[str]:
        """Cluster uuids that name one cluster. Older MISP exports put the galaxy's uuid in
        every cluster of it; those are not identifiers of the cluster."""
        values: dict[str, set[str]] = {}
        holders = [self.raw, *(self.raw.get("Attribute") or []),
                   *(a for o in self.raw.get("Object") or [] for a in o.get("Attribute") or [])]
        for holder in holders:
            for galaxy in holder.get("Galaxy") or []:
                for cluster in galaxy.get("GalaxyCluster") or []:
                    c_uuid = _valid_uuid(cluster.get("uuid"))
                    if c_uuid and c_uuid != _valid_uuid(galaxy.get("uuid")):
                        values.setdefault(c_uuid, set()).add(str(cluster.get("value")))
        return {c_uuid for c_uuid, names in values.items() if len(names) == 1}

    def _sharing_groups(self) -> dict[int, str]:
        groups: dict[int, str] = {}

        def add(holder: dict[str, Any]) -> None:
            sg = holder.get("SharingGroup")
            if isinstance(sg, dict) and sg.get("name") and _int(sg.get("id")) is not None:
                groups[_int(sg["id"])] = sg["name"]

        add(self.raw)
        for attr in self.raw.get("Attribute") or []:
            add(attr)
        for obj in self.raw.get("Object") or []:
            add(obj)
            for attr in obj.get("Attribute") or []:
                add(attr)
        return groups

    def _sg_name(self, holder: dict[str, Any]) -> str | None:
        if _int(holder.get("distribution")) != 4:
            return None
        sg = holder.get("SharingGroup")
        if isinstance(sg, dict) and sg.get("name"):
            return sg["name"]
        name = self.sharing_groups.get(_int(holder.get("sharing_group_id")))
        if name is None:
            self.problem(f"distribution 4 (sharing group) but sharing group "
                         f"{holder.get('sharing_group_id')!r} is not described in the file",
                         self.where(), "sharing_group_id")
        return name

    @staticmethod
    def _tag_names(holder: dict[str, Any]) -> list[tuple[str, bool]]:
        names = []
        for tag in holder.get("Tag") or []:
            if isinstance(tag, dict) and isinstance(tag.get("name"), str):
                names.append((tag["name"].strip(), _truthy(tag.get("local"))))
        return names

    @staticmethod
    def _tlp(tags: list[tuple[str, bool]]) -> str | None:
        found = [_TLP_NAMES.get(name.split(":", 1)[1].strip().lower())
                 for name, _ in tags if name.lower().startswith("tlp:")]
        found = [f for f in found if f]
        return max(found, key=_TLP_ORDER.index) if found else None

    @staticmethod
    def _labels(tags: list[tuple[str, bool]]) -> list[str]:
        labels = []
        for name, local in tags:
            tlp = name.lower().startswith("tlp:") and \
                _TLP_NAMES.get(name.split(":", 1)[1].strip().lower())
            if name and not local and not tlp and name not in labels:
                labels.append(name)
        return labels

    def _handling_of(self, holder: dict[str, Any], parent: _Handling) -> _Handling:
        tlp = self._tlp(self._tag_names(holder)) or parent.tlp
        distribution = _int(holder.get("distribution"))
        if distribution is None:
            return _Handling(tlp, parent.distribution, parent.sharing_group)
        return _Handling(tlp, distribution, self._sg_name(holder))

    def _identity(self, org: Any) -> str | None:
        if not isinstance(org, dict) or not _valid_uuid(org.get("uuid")) or not org.get("name"):
            return None
        ident = f"identity--{_valid_uuid(org['uuid'])}"
        if ident not in self.out:
            self.emit({"type": "identity", "spec_version": "2.1", "id": ident,
                       "created": _SHARED_TIME, "modified": _SHARED_TIME,
                       "name": str(org["name"]), "identity_class": "organization"},
                      self.where(), self.handling, mark=False)
        return ident

    def _sdo(self, stix_type: str, ident: str, created: datetime, modified: datetime,
             **props: Any) -> dict[str, Any]:
        obj: dict[str, Any] = {"type": stix_type, "spec_version": "2.1",
                               "id": f"{stix_type}--{ident}" if "--" not in ident else ident,
                               "created": format_ts(created),
                               "modified": format_ts(max(created, modified))}
        if self.created_by:
            obj["created_by_ref"] = self.created_by
        obj.update({k: v for k, v in props.items() if v not in (None, [], {}, "")})
        return obj

    # ---- conversion

    def convert(self) -> Iterator[ParsedItem]:
        for i, raw_attr in enumerate(self.raw.get("Attribute") or []):
            if not _truthy(raw_attr.get("deleted")):
                self._attribute(raw_attr, self.where(f"attribute {i + 1}"), self.handling)
        for i, raw_obj in enumerate(self.raw.get("Object") or []):
            if not _truthy(raw_obj.get("deleted")):
                self._object(raw_obj, self.where(f"object {i + 1}"))
        for i, raw_obj in enumerate(self.raw.get("Object") or []):
            if not _truthy(raw_obj.get("deleted")):
                self._references(raw_obj, self.where(f"object {i + 1}"))
        for i, galaxy in enumerate(self.raw.get("Galaxy") or []):
            self._galaxy(galaxy, None, self.where(f"galaxy {i + 1}"), self.handling)
        self._analyst(self.raw, self.report_id, self.where(), self.handling)
        for i, report in enumerate(self.raw.get("EventReport") or []):
            self._event_report(report, self.where(f"event report {i + 1}"))
        report = self._report()
        yield ParsedItem(report, self.where(), self.handling.hints())
        yield from self.out.values()

    def _report(self) -> dict[str, Any]:
        published = None
        if _truthy(self.raw.get("published")):
            published = _when(self.raw.get("publish_timestamp"))
        published = published or _when(self.raw.get("date")) or self.created
        refs = [i for i in self.out]
        if not refs:
            # STIX requires object_refs: an empty event is still recorded, as a note.
            note = self._sdo("note", _derived(self.uuid, "empty"), self.created, self.modified,
                             abstract="MISP event without attributes or objects",
                             content=self.raw["info"], object_refs=[self.report_id])
            refs = [self.emit(note, self.where(), self.handling)["id"]]
        labels = self._labels(self._tag_names(self.raw))
        labels += [lab for lab in self.unmapped_galaxy_labels if lab not in labels]
        report = self._sdo("report", self.report_id, self.created, self.modified,
                           name=self.raw["info"], report_types=["threat-report"],
                           published=format_ts(published), object_refs=refs, labels=labels,
                           external_references=[{"source_name": "misp",
                                                 "external_id": self.uuid}])
        if self.handling.tlp:
            report["object_marking_refs"] = [TLP_MARKINGS[self.handling.tlp]]
        return report

    def _times(self, holder: dict[str, Any]) -> tuple[datetime, datetime | None, datetime | None]:
        stamp = _when(holder.get("timestamp")) or self.modified
        return stamp, _when(holder.get("first_seen")), _when(holder.get("last_seen"))

    def _attribute(self, raw: dict[str, Any], location: str, parent: _Handling) -> None:
        handling = self._handling_of(raw, parent)
        a_uuid = raw["uuid"]
        a_type = str(raw.get("type") or "")
        value = raw.get("value")
        value = "" if value is None else str(value)
        to_ids = _truthy(raw.get("to_ids")) if "to_ids" in raw else \
            self.default_to_ids.get(a_uuid, False)  # PyMISP's per-type default
        stamp, first, last = self._times(raw)
        tags = self._tag_names(raw)
        labels = [f'misp:type="{a_type}"', f'misp:category="{raw.get("category") or ""}"']
        labels += [lab for lab in self._labels(tags) if lab not in labels]
        description = raw.get("comment") or None
        try:
            mapped = _map(a_type, value)
        except _Unusable as exc:
            mapped = None
            if to_ids:
                self.problem(f"to_ids attribute not turned into an indicator ({exc}); kept as "
                             f"a note", location, "value")
        primary: dict[str, Any]
        if mapped is not None and mapped.sdo is not None:
            primary = self._sdo(mapped.sdo["type"], a_uuid, stamp, stamp, description=description,
                                labels=labels, **{k: v for k, v in mapped.sdo.items()
                                                  if k != "type"})
        elif mapped is not None and to_ids and (mapped.signature or mapped.simple
                                                or mapped.comparisons):
            if mapped.signature:
                pattern, pattern_type = value, mapped.signature
            else:
                pattern = to_pattern(*mapped.simple) if mapped.simple and \
                    len(mapped.comparisons) <= 1 else _pattern(mapped.comparisons)
                pattern_type = "stix"
            valid_from = first or stamp
            ends = [e for e in (last, self._expiry(raw)) if e and e > valid_from]
            valid_until = min(ends) if ends else None
            primary = self._sdo("indicator", a_uuid, stamp, stamp, description=description,
                                pattern=pattern, pattern_type=pattern_type,
                                pattern_version="2.1" if pattern_type == "stix" else None,
                                valid_from=format_ts(valid_from),
                                valid_until=format_ts(valid_until) if valid_until else None,
                                labels=labels)
        elif mapped is not None and mapped.scos and all(_identifying(s) for s in mapped.scos):
            scos = _build_scos(mapped.scos)
            for sco in scos:
                self.emit(sco, location, handling)
            primary = self._observed(a_uuid, stamp, first, last, [s["id"] for s in scos],
                                     labels)
        else:
            primary = self._note(a_uuid, stamp, value, f"{raw.get('category') or ''} / {a_type}",
                                 labels, [self.report_id])
        primary = self.emit(primary, location, handling)
        self.primary[a_uuid] = primary["id"]
        self._sightings(raw, primary, location, handling)
        for i, galaxy in enumerate(raw.get("Galaxy") or []):
            self._galaxy(galaxy, primary, f"{location} galaxy {i + 1}", handling)
        self._analyst(raw, primary["id"], location, handling)

    def _observed(self, ident: str, stamp: datetime, first: datetime | None,
                  last: datetime | None, refs: list[str], labels: list[str]) -> dict[str, Any]:
        first_observed = first or stamp
        last_observed = last if last and last >= first_observed else first_observed
        return self._sdo("observed-data", ident, stamp, stamp,
                         first_observed=format_ts(first_observed),
                         last_observed=format_ts(last_observed), number_observed=1,
                         object_refs=refs, labels=labels)

    def _note(self, ident: str, stamp: datetime, content: str, abstract: str,
              labels: list[str], refs: list[str]) -> dict[str, Any]:
        return self._sdo("note", ident, stamp, stamp, abstract=abstract,
                         content=content or "(empty)", object_refs=refs, labels=labels)

    @staticmethod
    def _expiry(raw: dict[str, Any]) -> datetime | None:
        """The earliest expiration sighting (MISP sighting type 2) of an attribute."""
        ends = [_when(s.get("date_sighting")) for s in raw.get("Sighting") or []
                if str(s.get("type")) == "2"]
        return min((e for e in ends if e), default=None)

    def _object(self, raw: dict[str, Any], location: str) -> None:
        handling = self._handling_of(raw, self.handling)
        o_uuid = raw["uuid"]
        name = str(raw.get("name") or "object")
        stamp, first, last = self._times(raw)
        labels = [f'misp:name="{name}"', f'misp:meta-category="{raw.get("meta-category") or ""}"']
        labels += [lab for lab in self._labels(self._tag_names(raw)) if lab not in labels]
        comparisons: list[Comparison] = []
        specs: list[dict[str, Any]] = []
        text: list[str] = []
        members: list[tuple[int, dict[str, Any]]] = []
        for j, attr in enumerate(raw.get("Attribute") or []):
            if _truthy(attr.get("deleted")):
                continue
            members.append((j, attr))
            a_type = str(attr.get("type") or "")
            value = "" if attr.get("value") is None else str(attr.get("value"))
            relation = attr.get("object_relation") or a_type
            to_ids = _truthy(attr.get("to_ids"))
            try:
                mapped = _map(a_type, value)
            except _Unusable as exc:
                mapped = None
                if to_ids:
                    self.problem(f"to_ids attribute left out of the object's indicator ({exc});"
                                 f" kept in a note", f"{location} attribute {j + 1}", "value")
            if mapped is not None and to_ids and mapped.comparisons:
                comparisons += mapped.comparisons
            elif mapped is not None and mapped.scos:
                offset = len(specs)
                for spec in mapped.scos:
                    specs.append({k: (v + offset if k.endswith("_ref") else
                                      [r + offset for r in v] if k.endswith("_refs") else v)
                                  for k, v in spec.items()})
            else:
                text.append(f"{relation}: {value}")
        description = raw.get("comment") or raw.get("description") or None
        made: list[dict[str, Any]] = []
        if comparisons:
            valid_from = first or stamp
            valid_until = last if last and last > valid_from else None
            made.append(self._sdo("indicator", o_uuid, stamp, stamp, name=name,
                                  description=description, pattern=_pattern(comparisons),
                                  pattern_type="stix", pattern_version="2.1",
                                  valid_from=format_ts(valid_from),
                                  valid_until=format_ts(valid_until) if valid_until else None,
                                  labels=labels))
        specs = [s for s in _merge_files(specs) if _identifying(s)]
        if specs:
            scos = _build_scos(specs)
            for sco in scos:
                self.emit(sco, location, handling)
            made.append(self._observed(o_uuid, stamp, first, last, [s["id"] for s in scos],
                                       labels))
        if text:
            refs = [made[0]["id"]] if made else [self.report_id]
            made.append(self._note(o_uuid, stamp, "\n".join(text),
                                   f"MISP object {name}", labels, refs))
        if not made:
            return
        made = [self.emit(obj, location, handling) for obj in made]
        primary = made[0]
        self.primary[o_uuid] = primary["id"]
        for j, attr in members:
            self.primary.setdefault(attr["uuid"], primary["id"])
            a_loc = f"{location} attribute {j + 1}"
            a_handling = self._handling_of(attr, handling)
            self._sightings(attr, primary, a_loc, a_handling)
            for k, galaxy in enumerate(attr.get("Galaxy") or []):
                self._galaxy(galaxy, primary, f"{a_loc} galaxy {k + 1}", a_handling)
            self._analyst(attr, primary["id"], a_loc, a_handling)
        self._analyst(raw, primary["id"], location, handling)

    def _references(self, raw: dict[str, Any], location: str) -> None:
        handling = self._handling_of(raw, self.handling)
        source = self.primary.get(raw["uuid"])
        for k, ref in enumerate(raw.get("ObjectReference") or []):
            if _truthy(ref.get("deleted")):
                continue
            target_uuid = _valid_uuid(ref.get("referenced_uuid"))
            target = self.primary.get(target_uuid) if target_uuid else None
            if source is None or target is None:
                self.problem(f"object reference to {ref.get('referenced_uuid')!r} not converted:"
                             f" its target is not in the event", f"{location} reference {k + 1}",
                             "referenced_uuid")
                continue
            rtype = re.sub(r"[^a-z0-9-]+", "-", str(ref.get("relationship_type") or
                                                    "related-to").strip().lower()).strip("-")
            stamp = _when(ref.get("timestamp")) or self.modified
            self.emit(self._sdo("relationship", f"relationship--{ref['uuid']}", stamp, stamp,
                                relationship_type=rtype or "related-to", source_ref=source,
                                target_ref=target, description=ref.get("comment") or None),
                      f"{location} reference {k + 1}", handling)

    def _galaxy(self, galaxy: dict[str, Any], about: dict[str, Any] | None, location: str,
                handling: _Handling) -> None:
        g_type = str(galaxy.get("type") or "")
        sdo_type = _galaxy_sdo_type(g_type)
        for c, cluster in enumerate(galaxy.get("GalaxyCluster") or []):
            tag = cluster.get("tag_name") or f'misp-galaxy:{g_type}="{cluster.get("value")}"'
            if sdo_type is None or not cluster.get("value"):
                if tag not in self.unmapped_galaxy_labels:
                    self.unmapped_galaxy_labels.append(tag)
                continue
            ident = _valid_uuid(cluster.get("uuid"))
            if ident not in self.cluster_uuids:
                ident = _derived("galaxy-cluster", g_type, cluster.get("value"))
            sdo = self._cluster(sdo_type, ident, g_type, galaxy.get("name"), cluster)
            sdo = self.emit(sdo, f"{location} cluster {c + 1}", handling, mark=False)
            if about is not None:
                rtype = "indicates" if about["type"] == "indicator" and sdo_type in _INDICATES \
                    else "related-to"
                rel_id = f"relationship--{_derived(about['id'], rtype, sdo['id'])}"
                self.emit(self._sdo("relationship", rel_id, self.created, self.modified,
                                    relationship_type=rtype, source_ref=about["id"],
                                    target_ref=sdo["id"]), f"{location} cluster {c + 1}",
                          handling)

    def _cluster(self, sdo_type: str, ident: str, g_type: str, g_name: Any,
                 cluster: dict[str, Any]) -> dict[str, Any]:
        meta = cluster.get("meta") if isinstance(cluster.get("meta"), dict) else {}
        name = str(cluster["value"])
        ext_ids = meta.get("external_id") or []
        ext_ids = [ext_ids] if isinstance(ext_ids, str) else [str(x) for x in ext_ids]
        for ext in ext_ids:
            if name.endswith(f" - {ext}"):
                name = name[: -len(ext) - 3]
        refs: list[dict[str, Any]] = []
        if g_type.startswith("mitre-"):
            refs += [{"source_name": "mitre-attack", "external_id": ext} for ext in ext_ids]
        refs += [{"source_name": "url", "url": str(u)} for u in meta.get("refs") or []
                 if isinstance(u, str) and u.strip()]
        props: dict[str, Any] = {
            "name": name, "description": cluster.get("description") or None,
            "labels": [f'misp:galaxy-name="{g_name or g_type}"', f'misp:galaxy-type="{g_type}"'],
            "external_references": refs,
        }
        if sdo_type in _ALIASES:
            props["aliases"] = [str(s) for s in meta.get("synonyms") or [] if str(s) != name]
        if sdo_type in _KILL_CHAINS:
            phases = []
            for entry in meta.get("kill_chain") or []:
                chain, _, phase = str(entry).rpartition(":")
                if chain and phase:
                    phases.append({"kill_chain_name": chain, "phase_name": phase})
            props["kill_chain_phases"] = phases
        if sdo_type == "malware":
            props["is_family"] = True
            kind = _GALAXY_MALWARE.get(g_type.lower())
            props["malware_types"] = [kind] if kind else None
        return {"type": sdo_type, "spec_version": "2.1", "id": f"{sdo_type}--{ident}",
                "created": _SHARED_TIME, "modified": _SHARED_TIME,
                **{k: v for k, v in props.items() if v not in (None, [], {}, "")}}

    def _sightings(self, raw: dict[str, Any], about: dict[str, Any], location: str,
                   handling: _Handling) -> None:
        groups: dict[str, list[tuple[datetime, dict[str, Any]]]] = {}
        for k, s in enumerate(raw.get("Sighting") or []):
            when = _when(s.get("date_sighting"))
            if when is None:
                self.problem("sighting without a date: skipped",
                             f"{location} sighting {k + 1}", "date_sighting")
                continue
            org = s.get("Organisation") if isinstance(s.get("Organisation"), dict) else {}
            kind = str(s.get("type") or "0")
            if kind == "1":
                op_id = f"opinion--{s['uuid']}"
                self.emit(self._sdo("opinion", op_id, when, when, opinion="strongly-disagree",
                                    explanation="MISP false-positive sighting" +
                                    (f" ({s['source']})" if s.get("source") else ""),
                                    authors=[str(org["name"])] if org.get("name") else None,
                                    object_refs=[about["id"]]),
                          f"{location} sighting {k + 1}", handling)
            elif kind == "0":
                key = _valid_uuid(org.get("uuid")) or str(org.get("name") or s.get("source") or "")
                groups.setdefault(key, []).append((when, org))
        for key, seen in groups.items():
            first = min(w for w, _ in seen)
            last = max(w for w, _ in seen)
            org = seen[0][1]
            identity = self._identity(org)
            sighting = self._sdo("sighting", f"sighting--{_derived(raw['uuid'], 'sighting', key)}",
                                 first, last, count=len(seen), first_seen=format_ts(first),
                                 last_seen=format_ts(last), sighting_of_ref=about["id"],
                                 where_sighted_refs=[identity] if identity else None,
                                 description=f"MISP sightings by {org.get('name')}"
                                 if org.get("name") else None)
            self.emit(sighting, location, handling)

    def _analyst(self, holder: dict[str, Any], about: str, location: str,
                 handling: _Handling) -> None:
        for k, note in enumerate(holder.get("Note") or []):
            created = _when(note.get("created")) or self.created
            modified = _when(note.get("modified")) or created
            self.emit(self._sdo("note", note["uuid"], created, modified,
                                content=str(note.get("note") or "(empty)"),
                                authors=[str(note["authors"])] if note.get("authors") else None,
                                lang=note.get("language") or None, object_refs=[about]),
                      f"{location} note {k + 1}", handling)
        for k, op in enumerate(holder.get("Opinion") or []):
            created = _when(op.get("created")) or self.created
            modified = _when(op.get("modified")) or created
            self.emit(self._sdo("opinion", op["uuid"], created, modified,
                                opinion=_opinion_value(op.get("opinion")),
                                explanation=op.get("comment") or None,
                                authors=[str(op["authors"])] if op.get("authors") else None,
                                object_refs=[about]), f"{location} opinion {k + 1}", handling)

    def _event_report(self, raw: dict[str, Any], location: str) -> None:
        if _truthy(raw.get("deleted")):
            return
        handling = self._handling_of(raw, self.handling)
        stamp = _when(raw.get("timestamp")) or self.modified
        note = self.emit(self._sdo("note", raw["uuid"], stamp, stamp,
                                   abstract=raw.get("name") or None,
                                   content=str(raw.get("content") or "(empty)"),
                                   object_refs=[self.report_id]), location, handling)
        self._analyst(raw, note["id"], location, handling)
