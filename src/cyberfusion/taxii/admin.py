"""Administrator-defined collections: add, list (with the built-ins), remove."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, InvalidInput, NotFound
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.taxii import collections as cols
from cyberfusion.taxii import repository
from cyberfusion.taxii.models import TaxiiCollection


def add_collection(session: Session, *, alias: str, title: str, purpose: str, description: str = "",
                   tlp: list[str] | None = None, categories: list[str] | None = None,
                   regions: list[str] | None = None, types: list[str] | None = None, writable: bool = False,
                   handling: HandlingSpec | None = None) -> TaxiiCollection:
    alias = cols.validate_alias(alias)
    if not title.strip():
        raise InvalidInput("must not be empty", field="title")
    if repository.collection_by_alias(session, alias):
        raise Conflict(f"a collection {alias!r} exists", extra={"field": "alias"})
    filters = cols.validate_filters(tlp=tlp or [], categories=categories or [], regions=regions or [],
                                    types=types or [])
    row = TaxiiCollection(id=str(uuid.uuid4()), alias=alias, title=title.strip(), description=description,
                          purpose=cols.validate_purpose(purpose), filters=filters, can_write=writable,
                          handling=cols.handling_to_json(handling or HandlingSpec()) if writable else None,
                          enabled=True, created_at=utcnow())
    return repository.add(session, row)


def _filters_text(m: cols.Membership) -> str:
    parts = []
    if m.own_only:
        parts.append("own organisation")
    if m.tlp:
        parts.append("tlp " + ",".join(TLP_LEVELS[t] for t in m.tlp))
    if m.categories:
        parts.append("category " + ",".join(m.categories))
    if m.regions:
        parts.append("region " + ",".join(m.regions))
    if m.types:
        parts.append("type " + ",".join(m.types))
    return "; ".join(parts) or "everything readable"


def _describe(c: cols.CollectionDef) -> dict[str, Any]:
    return {"alias": c.alias, "id": c.id, "title": c.title, "purpose": c.purpose,
            "filters": _filters_text(c.membership), "can_write": c.can_write, "builtin": c.builtin}


def describe_collection(row: TaxiiCollection) -> dict[str, Any]:
    return _describe(cols.from_row(row))


def list_collections(session: Session) -> list[dict[str, Any]]:
    rows = [_describe(c) for c in cols.BUILTINS]
    rows.append({"alias": "inbox", "id": "(one per organisation)", "title": "Inbox of <organisation>",
                 "purpose": cols.DEFAULT_PURPOSE, "filters": "own organisation", "can_write": True, "builtin": True})
    rows.extend(_describe(cols.from_row(r)) for r in repository.custom_collections(session, enabled_only=False))
    return rows


def remove_collection(session: Session, *, alias: str) -> None:
    row = repository.collection_by_alias(session, alias)
    if row is None:
        raise NotFound(f"no administrator-defined collection {alias!r}")
    session.delete(row)
    session.flush()
