"""Search with facets and keyset paging; the observable page (corroboration, sightings, related values)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cyberfusion.errors import InvalidInput
from cyberfusion.partners.models import CATEGORIES, ORG_KINDS
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.web import nav
from cyberfusion.web import service as web
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(10, "Search", "/search", nav.receives)
Multi = Annotated[list[str], Query()]
PAGE_SIZE = 25


def parse_day(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    """A yyyy-mm-dd form date as a UTC instant (the end of the day for 'until')."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date (yyyy-mm-dd): {value!r}", field=field) from None
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def query_string(params: dict[str, object]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if isinstance(value, list):
            pairs.extend((key, str(v)) for v in value)
        elif value:
            pairs.append((key, str(value)))
    return urlencode(pairs)


@router.get("/search")
def search(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, q: str = "",
           type: Multi = [], category: Multi = [], tlp: Multi = [], country: Multi = [],  # noqa: B006
           source_kind: Multi = [], since: str = "", until: str = "", cursor: str = "") -> Response:  # noqa: B006
    selected = {"type": type, "category": category, "tlp": tlp, "country": country, "source_kind": source_kind}
    form = {"q": q, "since": since, "until": until, **selected}
    try:
        f = web.build_filter(q=q, types=type, categories=category, tlps=tlp, countries=country,
                             source_kinds=source_kind, since=parse_day(since, "since"),
                             until=parse_day(until, "until", end=True))
        # Facet counts do not change from page to page: counted on the first page only.
        result = web.search(db, viewer=viewer, purpose=purpose, f=f, cursor=cursor or None, limit=PAGE_SIZE,
                            with_facets=not cursor)
    except InvalidInput as exc:
        db.rollback()
        return page(request, "search.html", {"form": form, "result": None, "facets": [], "next_url": None,
                                             "purpose": purpose, "errors": {exc.field or "q": exc.problems[0].reason}},
                    status=422, title="Search")
    facets = []
    labels = {"type": "Object type", "category": "Crime type", "tlp": "TLP", "country": "Source country",
              "source_kind": "Source kind"}
    for name, title in labels.items():
        counts = dict(result.facets.get(name, []))
        options = list(counts) + [v for v in selected[name] if v not in counts]
        facets.append({"name": name, "title": title, "selected": selected[name],
                       "options": [(v, counts.get(v, 0) if result.facets else None) for v in options]})
    next_url = None
    if result.next_cursor:
        next_url = "/search?" + query_string({**form, "purpose": purpose, "cursor": result.next_cursor})
    return page(request, "search.html", {"form": form, "result": result, "facets": facets, "next_url": next_url,
                                         "purpose": purpose, "categories": CATEGORIES, "kinds": ORG_KINDS,
                                         "tlps": TLP_LEVELS, "paged": bool(cursor)}, title="Search")


@router.get("/observable")
def observable(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, value: str,
               kind: str | None = None) -> Response:
    from cyberfusion.fusion import correlate
    data = correlate.correlations(db, viewer=viewer, purpose=purpose, value=value, kind=kind or None,
                                  settings=request.app.state.settings)
    ids = [o["id"] for o in data["objects"]]
    labels = web.object_labels(db, viewer=viewer, purpose=purpose, stix_ids=ids)
    return page(request, "observable.html", {"data": data, "labels": labels, "purpose": purpose},
                title=f"{data['kind']} {data['value']}")
