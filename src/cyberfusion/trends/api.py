"""/api/v1/trends: series with spikes and forecast, charts, the trend brief, horizon notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.errors import InvalidInput
from cyberfusion.products.schemas import HorizonNoteIn
from cyberfusion.trends import brief as briefs
from cyberfusion.trends import charts, notes, service

router = APIRouter(prefix="/api/v1", tags=["trends"], route_class=SessionRoute)
Purpose = Annotated[str, Query(description="Why you read: threat_reporting, research, ...")]


def _series(request: Request, session: Any, viewer: Any, purpose: str, **kw: Any) -> dict[str, Any]:
    for key in ("since", "until"):
        kw[key] = service.as_utc(kw[key])
    return service.series(session, viewer=viewer, purpose=purpose, k=request.app.state.settings.k_threshold, **kw)


@router.get("/trends")
def trends(request: Request, session: SessionDep, viewer: CurrentViewer, purpose: Purpose,
           measure: str = "indicators", by: str = "crime_type", interval: str = "week",
           since: datetime | None = None, until: datetime | None = None, crime_type: str | None = None,
           region: str | None = None, country: str | None = None, sector: str | None = None,
           horizon: int = 4) -> dict[str, Any]:
    return _series(request, session, viewer, purpose, measure=measure, by=by, interval=interval, since=since,
                   until=until, crime_type=crime_type, region=region, country=country, sector=sector,
                   horizon=horizon)


@router.get("/trends/chart", response_class=Response)
def chart(request: Request, session: SessionDep, viewer: CurrentViewer, purpose: Purpose,
          format: str = Query("png", description="png (static) or html (interactive)"),
          kind: str = Query("line", description="line, area or heatmap"), measure: str = "indicators",
          by: str = "crime_type", interval: str = "week", since: datetime | None = None,
          until: datetime | None = None, crime_type: str | None = None, region: str | None = None,
          country: str | None = None, sector: str | None = None, horizon: int = 4) -> Response:
    if format not in ("png", "html"):
        raise InvalidInput("must be png or html", field="format")
    if kind not in charts.KINDS:
        raise InvalidInput(f"must be one of: {', '.join(charts.KINDS)}", field="kind")
    result = _series(request, session, viewer, purpose, measure=measure, by=by, interval=interval, since=since,
                     until=until, crime_type=crime_type, region=region, country=country, sector=sector,
                     horizon=horizon)
    if format == "png":
        return Response(charts.png(result, kind=kind), media_type="image/png")
    return HTMLResponse(charts.interactive_html(result, kind=kind))


@router.get("/trends/brief", response_class=Response)
def brief(request: Request, session: SessionDep, viewer: CurrentViewer, purpose: Purpose, period: str,
          format: str = Query("html", description="html, pdf or json")) -> Any:
    if format not in ("html", "pdf", "json"):
        raise InvalidInput("must be html, pdf or json", field="format")
    data = briefs.compile_brief(session, viewer=viewer, purpose=purpose, period=period,
                                k=request.app.state.settings.k_threshold)
    if format == "json":
        return JSONResponse(jsonable_encoder(
            data | {"regions": [{k: v for k, v in r.items() if k != "chart"} for r in data["regions"]]}))
    if format == "pdf":
        return Response(briefs.pdf_bytes(data), media_type="application/pdf")
    return HTMLResponse(briefs.html(data))


@router.post("/horizon-notes", status_code=201)
def add_note(body: HorizonNoteIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return notes.add_note(session, viewer=viewer, title=body.title, text=body.text, tags=body.tags,
                          region=body.region, country=body.country, crime_type=body.crime_type, spec=body.spec())


@router.get("/horizon-notes")
def list_notes(session: SessionDep, viewer: CurrentViewer, purpose: Purpose, since: datetime | None = None,
               until: datetime | None = None, region: str | None = None, crime_type: str | None = None,
               tag: str | None = None, limit: int = Query(100, ge=1, le=500)) -> dict[str, Any]:
    return {"items": notes.list_notes(session, viewer=viewer, purpose=purpose, since=service.as_utc(since),
                                      until=service.as_utc(until), region=region, crime_type=crime_type, tag=tag,
                                      limit=limit)}
