"""CSV/TSV indicator lists → STIX 2.1 indicators, one per row.

The first line that is neither blank nor a ``#`` comment is the header. Columns
are matched to fields by ``mapping`` (column header → field) or, without one,
by common header names (case-insensitive; spaces and hyphens count as ``_``):

==============  ===============================================================
field           headers recognised without a mapping
==============  ===============================================================
value (needed)  value, indicator, ioc, observable, ioc_value, indicator_value
type            type, kind, ioc_type, indicator_type, observable_type
first_seen      first_seen, firstseen, valid_from, date, date_added
last_seen       last_seen, lastseen, valid_until, expires, expiration
description     description, comment, comments, notes
labels          labels, tags, label, tag (split on ``,`` and ``;``)
confidence      confidence, score (0-100)
name            name, title
crime_type      crime_type, crime, threat_type
country         country, country_code, cc (ISO 3166-1 alpha-2)
==============  ===============================================================

Each row becomes one ``indicator``: ``type`` names a kind of
:mod:`cyberfusion.kit.observables` (or is guessed by ``detect``); the value is
refanged and normalised, so the id ``indicator--uuid5(NAMESPACE, "<kind>:<value>")``
is the same for every spelling and every re-import. ``created``/``modified``
are ``default_time`` (pass the same one to re-import byte-identically),
``valid_from`` is first_seen or ``default_time``. ``crime_type`` and ``country``
have no STIX property and travel as ``x_cyberfusion_crime_type`` /
``x_cyberfusion_country``. Records are one per line (no newlines in quoted
fields); a value repeated later in the file is ignored after its first row.

Problems name the file, the physical line (1-based; the header is line 1 when it
opens the file) and the column, e.g. ``iocs.csv, line 7: field 'value': not a
valid ipv4-addr: '300.1.1.1'``. With an ``errors`` list, bad rows are appended
there and skipped; without one, every good row is still yielded and one
:class:`InvalidInput` listing all bad rows is raised at the end.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.kit.observables import KINDS, detect, normalise, to_pattern
from cyberfusion.kit.refang import refang
from cyberfusion.kit.regions import country_code
from cyberfusion.kit.timeutil import format_ts

__all__ = ["NAMESPACE", "FIELDS", "RowError", "iter_csv", "indicator_id", "build_indicator",
           "detect_or_explain", "parse_time", "read_lines"]

# Ids of indicators built from (kind, value) alone; never change it: ids would change.
NAMESPACE = uuid.UUID("10941978-a60a-42c6-ac2d-ce826c510257")

FIELDS = ("value", "type", "first_seen", "last_seen", "description", "labels", "confidence",
          "name", "crime_type", "country")
_FIELD_ALIASES = {"valid_from": "first_seen", "valid_until": "last_seen"}

_HEADERS = {
    "value": ("value", "indicator", "ioc", "observable", "ioc_value", "indicator_value"),
    "type": ("type", "kind", "ioc_type", "indicator_type", "observable_type"),
    "first_seen": ("first_seen", "firstseen", "valid_from", "date", "date_added"),
    "last_seen": ("last_seen", "lastseen", "valid_until", "expires", "expiration"),
    "description": ("description", "comment", "comments", "notes"),
    "labels": ("labels", "tags", "label", "tag"),
    "confidence": ("confidence", "score"),
    "name": ("name", "title"),
    "crime_type": ("crime_type", "crime", "threat_type"),
    "country": ("country", "country_code", "cc"),
}
_HEADER_FIELD = {header: name for name, headers in _HEADERS.items() for header in headers}

# Everyday spellings of a kind in a "type" column.
_KIND_ALIASES = {
    "ip": "ipv4-addr", "ipv4": "ipv4-addr", "ip-dst": "ipv4-addr", "ip-src": "ipv4-addr",
    "ipv6": "ipv6-addr", "domain": "domain-name", "hostname": "domain-name", "fqdn": "domain-name",
    "uri": "url", "link": "url", "email": "email-addr", "e-mail": "email-addr",
    "sha-1": "sha1", "sha-256": "sha256", "sha-512": "sha512", "as": "asn",
    "vulnerability": "cve", "phone-number": "phone", "bitcoin": "btc", "ethereum": "eth",
    "monero": "xmr",
}
_DELIMITERS = (",", "\t", ";")
_LABEL_SPLIT = re.compile(r"[,;]")


class RowError(Exception):
    """One bad cell: the column (or field) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def indicator_id(kind: str, value: str) -> str:
    """The deterministic id of the indicator for one normalised observable."""
    return f"indicator--{uuid.uuid5(NAMESPACE, f'{kind}:{value}')}"


def build_indicator(kind: str, value: str, *, created: datetime,
                    valid_from: datetime | None = None, valid_until: datetime | None = None,
                    **extra: Any) -> dict[str, Any]:
    """One indicator for an already normalised (kind, value); ``extra`` adds properties."""
    stamp = format_ts(created)
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": indicator_id(kind, value),
        "created": stamp, "modified": stamp, "pattern": to_pattern(kind, value),
        "pattern_type": "stix", "pattern_version": "2.1",
        "valid_from": format_ts(valid_from or created),
    }
    if valid_until is not None:
        obj["valid_until"] = format_ts(valid_until)
    obj.update({k: v for k, v in extra.items() if v not in (None, "", [])})
    return obj


def read_lines(source: str | os.PathLike[str] | BinaryIO | TextIO) -> Iterator[str]:
    """The text lines of a path or stream (UTF-8, BOM tolerated), read lazily."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8-sig", newline="") as fh:
            yield from fh
        return
    if isinstance(source, io.TextIOBase):
        yield from source
        return
    # Decoded line by line rather than through a TextIOWrapper, which would close the
    # caller's stream when it is collected.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    for raw in source:
        yield decoder.decode(raw)
    if tail := decoder.decode(b"", final=True):
        yield tail


def iter_csv(source: str | os.PathLike[str] | BinaryIO | TextIO, *, file_name: str,
             mapping: dict[str, str] | None = None, delimiter: str | None = None,
             errors: list[Problem] | None = None,
             default_time: datetime | None = None) -> Iterator[ParsedItem]:
    """Yield one STIX indicator per data row of a CSV/TSV file (see the module docstring)."""
    now = default_time or datetime.now(UTC)
    problems: list[Problem] = []
    columns: dict[str, int] | None = None
    headers: list[str] = []
    seen: set[str] = set()
    try:
        for number, line in enumerate(read_lines(source), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if columns is None:
                delimiter = delimiter or _sniff(stripped)
                try:
                    headers = [h.strip() for h in _split(line, delimiter)]
                except RowError as exc:
                    raise InvalidInput(Problem(exc.reason, file=file_name, location=f"line {number}",
                                               field=exc.field)) from None
                columns = _columns(headers, mapping, file_name, number)
                continue
            try:
                cells = _split(line, delimiter or ",")
                if not any(c.strip() for c in cells):
                    continue
                obj = _row(cells, columns, headers, now)
            except RowError as exc:
                problem = Problem(exc.reason, file=file_name, location=f"line {number}",
                                  field=exc.field)
                (problems if errors is None else errors).append(problem)
                continue
            if obj["id"] in seen:
                continue
            seen.add(obj["id"])
            yield ParsedItem(obj, f"line {number}")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(f"not UTF-8 text: {exc.reason}", file=file_name)) from exc
    if columns is None:
        raise InvalidInput(Problem("no header line: the file is empty", file=file_name))
    if problems:
        raise InvalidInput(problems)


def _sniff(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the order: comma first
    return best if counts[best] else ","


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
    except csv.Error as exc:  # a lone carriage return, a cell over the csv module's size limit
        raise RowError("line", f"not a CSV record: {exc}") from None


def _canon_header(header: str) -> str:
    return re.sub(r"[\s-]+", "_", header.strip().lower())


def _columns(headers: list[str], mapping: dict[str, str] | None, file_name: str,
             number: int) -> dict[str, int]:
    """field → column index, from the mapping or the recognised header names."""
    where = {"file": file_name, "location": f"line {number}"}
    index = {_canon_header(h): i for i, h in reversed(list(enumerate(headers)))}
    columns: dict[str, int] = {}
    if mapping is not None:
        for header, target in mapping.items():
            name = _FIELD_ALIASES.get(target, target)
            if name not in FIELDS:
                raise InvalidInput(Problem(f"mapping names unknown field {target!r}; one of: "
                                           f"{', '.join(FIELDS)}", field=header, **where))
            column = index.get(_canon_header(header))
            if column is None:
                raise InvalidInput(Problem(f"mapped column {header!r} is not in the header",
                                           field=header, **where))
            if name in columns:
                raise InvalidInput(Problem(f"two columns are mapped to {name!r}",
                                           field=header, **where))
            columns[name] = column
    else:
        for i, header in enumerate(headers):
            name = _HEADER_FIELD.get(_canon_header(header))
            if name is not None and name not in columns:
                columns[name] = i
    if "value" not in columns:
        raise InvalidInput(Problem("no column for the indicator value; name it one of "
                                   f"{', '.join(_HEADERS['value'])} or pass a mapping",
                                   field="value", **where))
    return columns


def _row(cells: list[str], columns: dict[str, int], headers: list[str],
         now: datetime) -> dict[str, Any]:
    def cell(name: str) -> str:
        i = columns.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def header(name: str) -> str:
        return headers[columns[name]]

    raw = cell("value")
    if not raw:
        raise RowError(header("value"), "empty value")
    value = refang(raw)
    declared = cell("type")
    if declared:
        kind = _kind(declared)
        if kind is None:
            raise RowError(header("type"), f"unknown type {declared!r}; one of: "
                                            f"{', '.join(KINDS)}")
        try:
            value = normalise(kind, value)
        except InvalidInput as exc:
            raise RowError(header("value"), exc.problems[0].reason) from None
    else:
        kind, value = detect_or_explain(value, header("value"))
    valid_from = _time(cell("first_seen"), "first_seen", columns, headers)
    valid_until = _time(cell("last_seen"), "last_seen", columns, headers)
    if valid_until is not None and valid_until <= (valid_from or now):
        raise RowError(header("last_seen"), "must be later than first_seen"
                        if valid_from else "must be later than the import time")
    confidence = None
    if cell("confidence"):
        confidence = _int(cell("confidence"))
        if confidence is None or not 0 <= confidence <= 100:
            raise RowError(header("confidence"),
                            f"not a confidence 0-100: {cell('confidence')!r}")
    country = None
    if cell("country"):
        try:
            country = country_code(cell("country"))
        except InvalidInput as exc:
            raise RowError(header("country"), exc.problems[0].reason) from None
    labels = [lab.strip() for lab in _LABEL_SPLIT.split(cell("labels")) if lab.strip()]
    return build_indicator(kind, value, created=now, valid_from=valid_from,
                           valid_until=valid_until, name=cell("name"),
                           description=cell("description"), labels=list(dict.fromkeys(labels)),
                           confidence=confidence, x_cyberfusion_crime_type=cell("crime_type"),
                           x_cyberfusion_country=country)


def detect_or_explain(value: str, field: str) -> tuple[str, str]:
    """``detect``, or a reason as specific as the value's shape allows."""
    found = detect(value)
    if found is not None:
        return found
    shaped = ("ipv4-addr" if re.fullmatch(r"[0-9]+(\.[0-9]+){3}", value) else
              "url" if "://" in value else
              "email-addr" if "@" in value and " " not in value else None)
    if shaped is not None:
        try:
            normalise(shaped, value)
        except InvalidInput as exc:
            raise RowError(field, exc.problems[0].reason) from None
    raise RowError(field, f"not a recognised indicator: {value!r}")


def _kind(declared: str) -> str | None:
    key = declared.strip().lower()
    if key in KINDS:
        return key
    return _KIND_ALIASES.get(key)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _time(text: str, name: str, columns: dict[str, int], headers: list[str]) -> datetime | None:
    if not text:
        return None
    parsed = parse_time(text)
    if parsed is None:
        raise RowError(headers[columns[name]], f"not a date or time: {text!r}")
    return parsed


def parse_time(text: str) -> datetime | None:
    """ISO 8601 date or date-time (naive means UTC), or epoch seconds; None if neither."""
    text = text.strip()
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
