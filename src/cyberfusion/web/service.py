"""Reads the web adds on top of intel.service: the faceted search and "my organisation's
contributions". Both go through the policy gate (intel.repository.objects_readable) and the
search is audited like intel.service.search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.errors import InvalidInput
from cyberfusion.intel.service import MAX_PAGE, decode_cursor, encode_cursor, summary
from cyberfusion.kit.observables import detect
from cyberfusion.kit.refang import refang
from cyberfusion.kit.regions import country_code
from cyberfusion.partners.models import CATEGORIES, ORG_KINDS
from cyberfusion.sharing import policy
from cyberfusion.sharing.handling import describe
from cyberfusion.sharing.markings import TLP_LEVELS, tlp_level
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import repository
from cyberfusion.web.repository import SearchFilter

FACETS = ("type", "category", "tlp", "country", "source_kind")  # the order of repository.FACET_COLUMNS
MAX_FACET_VALUES = 30


@dataclass
class SearchPage:
    items: list[dict[str, Any]]
    next_cursor: str | None
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def build_filter(*, q: str | None, types: list[str], categories: list[str], tlps: list[str],
                 countries: list[str], source_kinds: list[str], since: datetime | None,
                 until: datetime | None) -> SearchFilter:
    """Validate the facets (each error names its field) into one filter."""
    for c in categories:
        if c not in CATEGORIES:
            raise InvalidInput(f"{c!r} is not one of: {', '.join(CATEGORIES)}", field="category")
    for k in source_kinds:
        if k not in ORG_KINDS:
            raise InvalidInput(f"{k!r} is not one of: {', '.join(ORG_KINDS)}", field="source_kind")
    if since and until and since >= until:
        raise InvalidInput("must be before 'until'", field="since")
    text = q.strip() if q and q.strip() else None
    values: tuple[tuple[str, str], ...] = ()
    if text:
        hit = detect(refang(text))
        values = (hit,) if hit else ()
    return SearchFilter(text=text, values=values, types=tuple(t.strip() for t in types if t.strip()),
                        categories=tuple(categories), tlps=tuple(tlp_level(t, field="tlp") for t in tlps),
                        countries=tuple(country_code(c, field="country") for c in countries),
                        source_kinds=tuple(source_kinds), since=since, until=until)


def search(session: Session, *, viewer: Viewer, purpose: str, f: SearchFilter, cursor: str | None = None,
           limit: int = 25, with_facets: bool = True) -> SearchPage:
    """The latest readable versions matching the filter, newest first, keyset-paged; facet counts
    of what the viewer may read (never of anything else)."""
    policy.require_purpose(viewer, purpose)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PAGE}", field="limit")
    after = decode_cursor(cursor) if cursor else None
    conds = repository.matching(session, viewer, purpose, f)
    rows = repository.search_objects(session, conds=conds, f=f, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [summary(o) | {"category": category, "tlp": TLP_LEVELS[tlp]} for o, category, tlp in rows]
    facets = facet_counts(repository.facet_table(session, conds=conds), f) if with_facets else {}
    audit.record(session, action="intel.search", viewer=viewer, purpose=purpose,
                 object_ids=[i["id"] for i in items],
                 detail={"q": f.text, "via": "web", "types": list(f.types), "categories": list(f.categories),
                         "tlps": [TLP_LEVELS[t] for t in f.tlps], "countries": list(f.countries),
                         "source_kinds": list(f.source_kinds)})
    return SearchPage(items, encode_cursor(rows[-1][0]) if more and rows else None, facets)


def facet_counts(table: list[tuple[Any, ...]], f: SearchFilter) -> dict[str, list[tuple[str, int]]]:
    """Per facet, how many results each value has given the *other* facets' choices (so several
    values of one facet can be ticked), most frequent first."""
    chosen = [set(f.types), set(f.categories), set(f.tlps), set(f.countries), set(f.source_kinds)]
    out: dict[str, list[tuple[str, int]]] = {}
    for i, name in enumerate(FACETS):
        counts: dict[Any, int] = {}
        for row in table:
            if row[i] is not None and all(not chosen[j] or row[j] in chosen[j] for j in range(len(FACETS)) if j != i):
                counts[row[i]] = counts.get(row[i], 0) + row[-1]
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:MAX_FACET_VALUES]
        out[name] = [(TLP_LEVELS[v] if name == "tlp" else v, n) for v, n in ordered]
    return out


def object_labels(session: Session, *, viewer: Viewer, purpose: str, stix_ids: list[str]) -> dict[str, str]:
    """Names of referenced objects the viewer may read (to label links); unreadable ones are absent."""
    policy.require_purpose(viewer, purpose)
    labels = repository.object_labels(session, viewer=viewer, purpose=purpose, stix_ids=stix_ids)
    if labels:
        audit.record(session, action="intel.read", viewer=viewer, purpose=purpose, object_ids=sorted(labels),
                     detail={"via": "web", "what": "names of referenced objects"})
    return labels


def relationship_types(session: Session, *, viewer: Viewer, purpose: str, stix_ids: list[str]) -> dict[str, str]:
    """What each readable relationship says (indicates, uses, ...): part of reading those
    relationships, which intel.service.get_object already audited."""
    policy.require_purpose(viewer, purpose)
    return repository.relationship_types(session, viewer=viewer, purpose=purpose, stix_ids=stix_ids)


def my_contributions(session: Session, *, viewer: Viewer, limit: int = 10) -> list[dict[str, Any]]:
    """The viewer's organisation's latest contributions (its own, so no policy question arises)."""
    return [{"id": c.id, "created_at": c.created_at, "file_name": c.file_name, "format": c.source_format,
             "objects": c.object_count, "category": c.category, "status": c.status,
             "tlp": describe(h)["tlp"]}
            for c, h in repository.contributions_of(session, org_id=viewer.org_id, limit=limit)]
