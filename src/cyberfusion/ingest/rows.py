"""One parsed object turned into what the store needs of it: a pure function of the object.

``prepare`` works out, from a ParsedItem alone, everything ``pipeline.Importer`` stores for it
except what depends on the import (contribution, owner, handling row, ingest clock): the version
key, the canonical text, the indexed columns and the observable rows. Being pure, it runs where
the parsing runs: in the importing process, or in the ingest worker process
(``ingest.worker``), which sends the results to the importer while it writes the previous ones.
This module imports no database code, so that a worker starts quickly.
"""

from __future__ import annotations

import json
import json.encoder
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cyberfusion.ingest.limits import contains_nul
from cyberfusion.ingest.observables import observables_of
from cyberfusion.ingest.types import ParsedItem
from cyberfusion.kit.observables import ip_range
from cyberfusion.kit.timeutil import parse_ts, sqlite_text_of
from cyberfusion.kit.timeutil import sqlite_datetime as sqlite_text  # also the importer's name for it

SCO_VERSION = datetime(1970, 1, 1, tzinfo=UTC)
_IP_KINDS = frozenset({"ipv4-addr", "ipv6-addr"})

# The object columns prepare fills, in the order of Prepared.row; the importer appends
# CONTEXT_COLUMNS (the same for every object of a contribution but the handling row).
OBJECT_COLUMNS = ("stix_id", "type", "spec_version", "created", "modified", "created_by_ref", "revoked",
                  "valid_from", "valid_until", "confidence", "labels", "name", "search_text", "source_ref",
                  "target_ref", "data")
OBJECT_CONTEXT = ("contribution_id", "organisation_id", "handling_id", "date_added")
# Observable columns of Prepared.observables; the importer appends OBSERVABLE_CONTEXT.
OBSERVABLE_COLUMNS = ("kind", "value", "range_start", "range_end", "stix_id", "object_type", "seen_at")
OBSERVABLE_CONTEXT = ("contribution_id", "organisation_id", "handling_id")


class Prepared(NamedTuple):
    """What the importer needs of one parsed object (plain values: it crosses a process boundary)."""

    stix_id: str
    modified: datetime | str  # with stix_id, the version key (str: with_sqlite_times)
    refs: Any  # object_marking_refs as parsed (decides the handling, with hints)
    hints: dict[str, Any]  # ParsedItem.handling
    location: str
    nul: bool  # the canonical text holds U+0000 (refused if stored: PostgreSQL text cannot hold it)
    row: tuple[Any, ...]  # OBJECT_COLUMNS
    observables: list[tuple[Any, ...]]  # OBSERVABLE_COLUMNS each

    def item(self) -> ParsedItem:
        """A stand-in ParsedItem carrying what decides the handling (pipeline._object_spec)."""
        obj = {} if self.refs is None else {"object_marking_refs": self.refs}
        return ParsedItem(obj, self.location, self.hints)


def _canonical_dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) builds a JSONEncoder
# and its C encoder on every call; this is that same C encoder built once (same function, same
# arguments: the same text), 58 against 88 ms of CPU per 20,000 indicators. Its cycle check is
# off (markers None): parsed JSON has no cycles, and too_deep has bounded every object's depth.
_C_ENCODER = json.encoder.c_make_encoder
_ENCODE = (_C_ENCODER(None, json.JSONEncoder().default, json.encoder.encode_basestring,
                      None, ":", ",", True, False, True) if _C_ENCODER is not None else None)


def canonical(obj: dict[str, Any]) -> str:
    """The stored form of an object: sorted keys, no spaces, UTF-8 text as is."""
    return "".join(_ENCODE(obj, 0)) if _ENCODE is not None else _canonical_dumps(obj)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ts(obj: dict[str, Any], key: str) -> datetime | None:
    v = obj.get(key)
    return parse_ts(v) if isinstance(v, str) else None


_JSON_NULL = json.dumps(None)


def _sqlite_labels(labels: Any, memo: dict[Any, str]) -> str:
    if labels is None:
        return _JSON_NULL  # SQLAlchemy's JSON type stores None as 'null'
    if type(labels) is list and all(type(x) is str for x in labels):
        key = ("labels", *labels)
        text = memo.get(key)
        if text is None:
            text = memo[key] = json.dumps(labels)
        return text
    return json.dumps(labels)


def _sqlite_ts(obj: dict[str, Any], key: str, memo: dict[Any, str]) -> str | None:
    """``sqlite_text(_ts(obj, key))``, memoised by the text: straight from the text when it is a
    timestamp in the strict form (``sqlite_text_of``), else through a datetime (and its errors)."""
    v = obj.get(key)
    if not isinstance(v, str):
        return None
    text = memo.get(v)
    if text is None:
        if len(memo) >= 65_536:
            memo.clear()
        text = memo[v] = sqlite_text_of(v) or sqlite_text(parse_ts(v))
    return text


_SCO_VERSION_TEXT = sqlite_text(SCO_VERSION)


def prepare(item: ParsedItem, sqlite: dict[Any, str] | None = None) -> Prepared:
    """The version key, object row and observable rows of one parsed object.

    With ``sqlite`` (a memo, kept across a file's objects), the values are SQLite's, as
    intel.repository's bulk insert would convert them: timestamps (version key included) as
    text, labels as JSON text, revoked as 0/1. The ingest worker sends rows this way to an import
    on SQLite: the importer then inserts them as they are (its conversions were 15 % of its CPU),
    a text is cheaper to unpickle than a datetime, and the memo gives equal values one str
    object, which pickle sends once per message."""
    obj = item.obj
    get = obj.get
    stix_id = obj["id"]
    # SCOs have no timestamps: one fixed version, so the same SCO is stored once per owner.
    created: Any
    if sqlite is None:
        created = _ts(obj, "created")
        modified: Any = _ts(obj, "modified") or created or SCO_VERSION
        valid_from, valid_until = _ts(obj, "valid_from"), _ts(obj, "valid_until")
        seen_at: Any = valid_from or _ts(obj, "first_observed") or created or modified
    else:
        created = _sqlite_ts(obj, "created", sqlite)
        modified = _sqlite_ts(obj, "modified", sqlite) or created or _SCO_VERSION_TEXT
        valid_from, valid_until = _sqlite_ts(obj, "valid_from", sqlite), _sqlite_ts(obj, "valid_until", sqlite)
        seen_at = valid_from or _sqlite_ts(obj, "first_observed", sqlite) or created or modified
    data = canonical(obj)
    nul = "\\u0000" in data and contains_nul(obj)
    otype = obj["type"]
    name = get("name")
    name = name if isinstance(name, str) else None  # "" stays ""
    search = " ".join([x for x in (name, _text(get("description")), _text(get("value")),
                                   _text(get("pattern"))) if x]).lower()[:4000] or None
    source_ref = get("source_ref") or get("sighting_of_ref")
    target_ref = get("target_ref")
    confidence = get("confidence")
    revoked: Any = bool(get("revoked", False))
    labels = get("labels")
    if sqlite is not None:
        revoked, labels = int(revoked), _sqlite_labels(labels, sqlite)
    row = (stix_id, otype, get("spec_version", "2.1"), created, modified, get("created_by_ref"), revoked,
           valid_from, valid_until, confidence if isinstance(confidence, int) else None, labels, name, search,
           source_ref if isinstance(source_ref, str) else None,
           target_ref if isinstance(target_ref, str) else None, data)
    observables = []
    for kind, val in item.observables if item.observables is not None else observables_of(obj):
        start = end = None
        if kind in _IP_KINDS:
            start, end = ip_range(val)
        observables.append((kind, val, start, end, stix_id, otype, seen_at))
    return Prepared(stix_id, modified, get("object_marking_refs"), item.handling, item.location, nul, row,
                    observables)
