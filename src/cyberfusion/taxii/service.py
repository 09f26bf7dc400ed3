"""TAXII 2.1 server operations: discovery, collections, reads, contributions, status.

Reads go through the policy gate (``objects_readable`` for the collection's purpose) with
the collection's membership on top; every read that returns intelligence is audited.
Objects are served as stored, with the effective handling attached as markings exactly
as the STIX export does (``export.stix.marked``): the TLP 2.0 marking of the handling the
viewer reads them under, and a statement marking spelling out the restrictions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cyberfusion.audit import service as audit
from cyberfusion.auth import tokens
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from cyberfusion.export.stix import _SKIP_MARKING, marked, statement_marking
from cyberfusion.ingest import limits
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.ingest.stix import validate_object
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import ApiToken
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import HandlingSpec, describe
from cyberfusion.sharing.markings import MARKING_TO_TLP, TLP2_MARKING_IDS
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.taxii import collections as cols
from cyberfusion.taxii import media, pagination, repository
from cyberfusion.taxii.collections import CollectionDef
from cyberfusion.taxii.models import TaxiiStatus
from cyberfusion.taxii.repository import Query, VersionSel

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
MAX_CONTENT_LENGTH = 50 * 1024 * 1024
TOKEN_TOUCH = timedelta(minutes=1)  # last_used_at is bookkeeping: written at most this often
_STATUS_NS = uuid.UUID("8c2d8f8a-1f8b-4a5e-b1e7-0f3c2a9d4e61")

# Query parameters each endpoint understands (anything else named match[...] is a 400).
OBJECTS_PARAMS = frozenset({"added_after", "limit", "next", "match[id]", "match[type]", "match[version]",
                            "match[spec_version]"})
OBJECT_PARAMS = frozenset({"added_after", "limit", "next", "match[version]", "match[spec_version]"})
VERSIONS_PARAMS = frozenset({"added_after", "limit", "next", "match[spec_version]"})
DELETE_PARAMS = frozenset({"match[version]", "match[spec_version]"})


# --- authentication ----------------------------------------------------------------------------

def authenticate(session: Session, authorization: str | None) -> Viewer:
    """HTTP Basic (member e-mail, API token as password) or Bearer (API token) → the viewer."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    email = None
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
    elif scheme.lower() == "basic" and value.strip():
        try:
            email, sep, token = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):  # binascii.Error, and non-ASCII header text
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep:
            raise Unauthenticated("Basic credentials must be 'e-mail:API token'")
    else:
        raise Unauthenticated("send 'Authorization: Basic <e-mail:API token>' or 'Authorization: Bearer <API token>'")
    member = tokens.authenticate(session, token)
    if email is not None and member.email != email.strip().lower():
        raise Unauthenticated("the API token does not belong to that e-mail address")
    for obj in list(session.dirty):
        if isinstance(obj, ApiToken):
            previous = inspect(obj).attrs.last_used_at.history.deleted
            if previous and previous[0] is not None and obj.last_used_at - previous[0] < TOKEN_TOUCH:
                set_committed_value(obj, "last_used_at", previous[0])  # recent enough: no write
    return partners.resolve_viewer(session, member)


# --- discovery, API root, collections ----------------------------------------------------------

def discovery(*, base_url: str) -> dict[str, Any]:
    root = f"{base_url.rstrip('/')}/taxii2/{cols.API_ROOT}/"
    return {"title": "cyberfusion TAXII 2.1", "contact": "the fusion centre's platform administrators",
            "description": "Intelligence shared under each contributor's handling rules; every collection "
                           "is filtered for the authenticated member's organisation.",
            "default": root, "api_roots": [root]}


def api_root(key: str) -> dict[str, Any]:
    if key != cols.API_ROOT:
        raise NotFound(f"no API root {key!r}")
    return {"title": "Cyber fusion centre", "description": "Collections by TLP, crime type, region, "
            "and your organisation's inbox.", "versions": [media.TAXII], "max_content_length": MAX_CONTENT_LENGTH}


def _custom(session: Session) -> list[CollectionDef]:
    return [cols.from_row(r) for r in repository.custom_collections(session)]


def collection_resource(viewer: Viewer, c: CollectionDef) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "description": c.description, "alias": c.alias,
            "can_read": cols.may_read(viewer, c), "can_write": cols.may_write(viewer, c),
            "media_types": list(c.media_types)}


def list_collections(session: Session, *, viewer: Viewer, root: str) -> dict[str, Any]:
    api_root(root)
    return {"collections": [collection_resource(viewer, c) for c in cols.visible(viewer, _custom(session))]}


def get_collection(session: Session, *, viewer: Viewer, root: str, key: str) -> CollectionDef:
    api_root(root)
    c = cols.builtin(key)
    if c is not None and cols.may_read(viewer, c):
        return c  # what find() returns (built-ins are listed first), without reading the custom collections
    return cols.find(viewer, key, _custom(session))


# --- query parameters ---------------------------------------------------------------------------

def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]


def parse_query(params: Mapping[str, Sequence[str]], allowed: frozenset[str], *,
                default_version: str = "last") -> tuple[Query, int, str | None]:
    """(filters, limit, next) from the query string; 400 for anything malformed."""
    for name in params:
        if name.startswith("match[") and name not in allowed:
            raise InvalidInput(f"the filter {name} is not supported here; supported: "
                               + ", ".join(sorted(allowed)), field=name)
    limit = DEFAULT_LIMIT
    if params.get("limit") and "limit" in allowed:
        raw = params["limit"][-1]
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:  # isdigit alone takes '²', int() does not
            raise InvalidInput(f"limit must be a positive integer, got {raw!r}", field="limit")
        limit = min(int(raw), MAX_LIMIT)
    added_after = None
    if params.get("added_after") and "added_after" in allowed:
        added_after = media.parse_timestamp(params["added_after"][-1], field="added_after")
    versions = _values(params, "match[version]") if "match[version]" in allowed else []
    sel = VersionSel()
    for v in versions or [default_version]:
        if v == "first":
            sel = VersionSel(True, sel.last, sel.all, sel.at)
        elif v == "last":
            sel = VersionSel(sel.first, True, sel.all, sel.at)
        elif v == "all":
            sel = VersionSel(sel.first, sel.last, True, sel.at)
        else:
            sel = VersionSel(sel.first, sel.last, sel.all,
                             (*sel.at, media.parse_timestamp(v, field="match[version]")))
    spec_versions = tuple(_values(params, "match[spec_version]"))
    for sv in spec_versions:
        if sv not in ("2.0", "2.1"):
            raise InvalidInput(f"match[spec_version] must be 2.0 or 2.1, got {sv!r}", field="match[spec_version]")
    ids = tuple(_values(params, "match[id]"))
    types = tuple(_values(params, "match[type]"))
    if len(ids) > MAX_LIMIT or len(types) > 200:
        raise InvalidInput("too many values in one filter", field="match[id]" if len(ids) > MAX_LIMIT else "match[type]")
    nxt = params["next"][-1] if params.get("next") and "next" in allowed else None
    return Query(ids=ids, types=types, versions=sel, spec_versions=spec_versions, added_after=added_after), limit, nxt


# --- reads ------------------------------------------------------------------------------------

@dataclass
class ReadResult:
    body: bytes
    headers: dict[str, str]
    object_ids: list[str] = field(default_factory=list)


class _Marker:
    """Attach the effective handling markings to stored canonical JSON, without re-parsing it.

    The stored text is canonical (sorted keys, no spaces, quotes inside strings escaped), so
    the literal ``"object_marking_refs":[`` can only be a key; when it is the top-level key (no
    object opens before it, none after it) and holds plain marking ids, the list is rewritten
    in place; otherwise the object is parsed and marked with ``export.stix.marked``: the same
    result, slower. Handling rows are read once per page, for all its handling ids at once.
    """

    _KEY = '"object_marking_refs":['
    # A list of plain marking ids (what the in-place rewrite handles); anything else is parsed.
    _PLAIN = re.compile(r'(?:"marking-definition--[0-9a-f-]{36}"(?:,"marking-definition--[0-9a-f-]{36}")*)?')
    _TLP_QUOTED = frozenset(f'"{k}"' for k in MARKING_TO_TLP)
    _SKIP = tuple(f"{t}--" for t in _SKIP_MARKING)

    def __init__(self, session: Session) -> None:
        self.session = session
        # handling id -> (described handling, quoted refs to add, suffix for an object without refs)
        self.by_handling: dict[int, tuple[dict[str, Any], str, str]] = {}
        # (handling id, stored refs) -> the refs that replace them: a page repeats a few combinations
        self.refs: dict[tuple[int, str], str] = {}

    def _load(self, handling_ids: set[int]) -> None:
        missing = handling_ids - self.by_handling.keys()
        for hid, row in repository.handling_rows(self.session, list(missing)).items():
            h = describe(row)
            tail = f'"{TLP2_MARKING_IDS[h["tlp"]]}","{statement_marking(h)["id"]}"'
            self.by_handling[hid] = (h, tail, f',{self._KEY}{tail}]}}')

    def _replaced(self, handling_id: int, refs: str) -> str | None:
        """The refs replacing a plain list of marking ids; None when the list is not plain."""
        if self._PLAIN.fullmatch(refs) is None:
            return None
        kept = [r for r in refs.split(",") if r and r not in self._TLP_QUOTED]
        kept.append(self.by_handling[handling_id][1])
        out = self.refs[handling_id, refs] = ",".join(kept)
        return out

    def page(self, rows: Sequence[Any]) -> list[str]:
        """The marked JSON text of each (pk, date_added, stix_id, handling_id, data) row."""
        self._load({r[3] for r in rows})
        # str.find, and the rewritten list from a cache, instead of a regex search per object: this
        # loop runs once per served object (1,000 stored indicators: 1.20 -> 0.88 ms, best of 30,
        # 2026-11-27; a json.loads/dumps per object cost several times more).
        by_handling, refs_cache, key, skip = self.by_handling, self.refs, self._KEY, self._SKIP
        key_len = len(key)
        find = str.find
        out = []
        append = out.append
        for _pk, _added, stix_id, hid, data in rows:
            if stix_id.startswith(skip):
                append(data)
                continue
            at = find(data, key)
            if at == -1:
                append(data[:-1] + by_handling[hid][2])
                continue
            start = at + key_len
            end = find(data, "]", start)  # plain marking ids hold no ']'; a list that does is not plain
            refs = data[start:end]
            if find(data, "{", 1, at) == -1 and find(data, key, end) == -1:  # the top-level key, only once
                new = refs_cache.get((hid, refs)) or self._replaced(hid, refs)
                if new is not None:
                    append(data[:start] + new + data[end:])
                    continue
            obj, _statement = marked(json.loads(data), by_handling[hid][0])
            append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        return out


def _scope(collection: CollectionDef, endpoint: str, viewer: Viewer, stix_id: str | None = None) -> str:
    return f"{collection.id}|{endpoint}|{viewer.org_id}|{stix_id or ''}"


def read(session: Session, *, viewer: Viewer, collection: CollectionDef, endpoint: str, q: Query, limit: int,
         next_cursor: str | None, secret: str, stix_id: str | None = None) -> ReadResult:
    """One page of an objects / manifest / object / versions response, filtered for the viewer."""
    if not cols.may_read(viewer, collection):
        raise Forbidden(f"collection {collection.alias!r} is write-only for you")
    purpose = collection.purpose
    policy.require_purpose(viewer, purpose)
    if stix_id is not None:
        q = Query(ids=(stix_id,), types=(), versions=q.versions, spec_versions=q.spec_versions,
                  added_after=q.added_after)
    scope = _scope(collection, endpoint, viewer, stix_id)
    after = None
    if next_cursor:
        pos = pagination.decode(next_cursor, secret=secret, scope=scope)
        after = (pos.date_added, pos.pk)
    with_data = endpoint in ("objects", "object")
    rows = repository.page(session, viewer=viewer, purpose=purpose, m=collection.membership, q=q, after=after,
                           limit=limit + 1, columns="objects" if with_data else "manifest")
    more = len(rows) > limit
    rows = rows[:limit]
    if stix_id is not None and not rows and after is None:
        probe = Query(ids=(stix_id,), versions=VersionSel(all=True))
        if not repository.page(session, viewer=viewer, purpose=purpose, m=collection.membership, q=probe,
                               after=None, limit=1, columns="exists"):
            raise NotFound(f"no object {stix_id} in collection {collection.alias!r}")
    head: dict[str, Any] = {"more": more}
    headers = {}
    if rows:
        first, last = repository.as_utc(rows[0][1]), repository.as_utc(rows[-1][1])
        headers = {"X-TAXII-Date-Added-First": media.format_added(first),
                   "X-TAXII-Date-Added-Last": media.format_added(last)}
        if more:
            head["next"] = pagination.encode(pagination.Position(last, rows[-1][0]), secret=secret, scope=scope)
    if not rows:
        body = json.dumps(head)
    elif endpoint == "versions":
        body = json.dumps({**head, "versions": [media.format_version(r[3]) for r in rows]})
    elif endpoint == "manifest":
        body = json.dumps({**head, "objects": [
            {"id": r[2], "date_added": media.format_added(repository.as_utc(r[1])),
             "version": media.format_version(r[3]), "media_type": f"application/stix+json;version={r[4]}"}
            for r in rows]})
    else:
        body = json.dumps(head)[:-1] + ',"objects":[' + ",".join(_Marker(session).page(rows)) + "]}"
    return ReadResult(body.encode(), headers, [r[2] for r in rows])


def record_read(session: Session, *, viewer: Viewer, collection: CollectionDef, endpoint: str,
                result: ReadResult) -> None:
    """Audit one read that returned intelligence (ids and versions are intelligence too)."""
    if result.object_ids:
        audit.record(session, action="taxii.read", viewer=viewer, purpose=collection.purpose,
                     object_ids=sorted(set(result.object_ids)),
                     detail={"collection": collection.alias, "endpoint": endpoint, "count": len(result.object_ids)})


# --- contributions ------------------------------------------------------------------------------

def _entry(obj: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str)
                             else "unknown"}
    if isinstance(obj, dict):
        version = obj.get("modified") or obj.get("created")
        if isinstance(version, str):
            entry["version"] = version
    return entry


def status_resource(row: TaxiiStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "status": row.status,
                           "request_timestamp": media.format_added(row.request_timestamp),
                           "total_count": row.total_count, "success_count": row.success_count,
                           "failure_count": row.failure_count, "pending_count": row.pending_count}
    for name in ("successes", "failures", "pendings"):
        if getattr(row, name):
            out[name] = getattr(row, name)
    return out


def parse_envelope(body: bytes) -> list[Any]:
    envelope = limits.loads(body, field="body")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects", []), list):
        raise InvalidInput("the body must be a TAXII envelope: an object with an 'objects' list", field="objects")
    return list(envelope.get("objects", []))


def add_objects(session: Session, *, viewer: Viewer, collection: CollectionDef, body: bytes,
                tmp_dir: Path) -> dict[str, Any]:
    """Contribute the envelope's valid objects as one contribution (all or nothing) through the
    ingest pipeline with the collection's handling; invalid objects are reported, not stored."""
    if not cols.may_write(viewer, collection):
        raise Forbidden(f"you may not add objects to collection {collection.alias!r}")
    objects = parse_envelope(body)
    request_time = utcnow()
    status = TaxiiStatus(id=str(uuid.uuid4()), collection_id=collection.id, organisation_id=viewer.org_id,
                         member_id=viewer.member_id, status="complete", request_timestamp=request_time,
                         total_count=len(objects), pending_count=0, pendings=[])
    successes, failures, valid = [], [], []
    for obj in objects:
        problems = validate_object(obj)
        if problems:
            failures.append({**_entry(obj), "message": "; ".join(str(p) for p in problems)})
        else:
            valid.append(obj)
            successes.append(_entry(obj))
    if valid:
        canonical = json.dumps(valid, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        bundle = '{"type":"bundle","id":"bundle--%s","objects":%s}' % (uuid.uuid5(_STATUS_NS, digest), canonical)
        tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=".json") as tmp:
            tmp.write(bundle.encode())
            tmp.flush()
            result = import_file(session, viewer=viewer, path=Path(tmp.name), fmt="stix",
                                 spec=collection.handling or HandlingSpec(),
                                 file_name=f"taxii-{collection.alias}-{status.id}.json", source_format="taxii")
        status.contribution_id = result.contribution_id
    status.successes, status.failures = successes, failures
    status.success_count, status.failure_count = len(successes), len(failures)
    repository.add(session, status)
    audit.record(session, action="taxii.add", viewer=viewer, object_ids=[status.id],
                 detail={"collection": collection.alias, "contribution_id": status.contribution_id,
                         "total": status.total_count, "failures": status.failure_count})
    return status_resource(status)


def get_status(session: Session, *, viewer: Viewer, root: str, status_id: str) -> dict[str, Any]:
    api_root(root)
    row = repository.status_by_id(session, status_id)
    if row is None or row.organisation_id != viewer.org_id:
        raise NotFound(f"no status {status_id!r}")
    return status_resource(row)


def delete_object(session: Session, *, viewer: Viewer, collection: CollectionDef, stix_id: str,
                  q: Query) -> int:
    """Remove versions of an object your organisation contributed, from its inbox only."""
    if not (cols.may_write(viewer, collection) and collection.membership.own_only):
        raise Forbidden("objects can only be deleted from your organisation's inbox, by a contributor")
    rows = repository.own_versions(session, org_id=viewer.org_id, stix_id=stix_id, q=q)
    sel = q.versions
    if rows and not sel.all:
        modified = sorted({m for _pk, m, _c in rows})
        wanted = set(sel.at) | ({modified[0]} if sel.first else set()) | ({modified[-1]} if sel.last else set())
        rows = [r for r in rows if r[1] in wanted]
    if not rows:
        raise NotFound(f"no object {stix_id} in collection {collection.alias!r}")
    n = repository.delete_versions(session, org_id=viewer.org_id, stix_id=stix_id, pks=[r[0] for r in rows])
    audit.record(session, action="taxii.delete", viewer=viewer, object_ids=[stix_id],
                 detail={"collection": collection.alias, "versions": n})
    return n


__all__ = ["authenticate", "discovery", "api_root", "list_collections", "get_collection", "parse_query",
           "read", "record_read", "add_objects", "get_status", "delete_object"]
