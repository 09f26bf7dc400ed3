"""Products pages: country reports (list, generate, viewer, downloads) and trends (interactive
chart with a static image and a data table for everyone), plus the dashboard's sparklines."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.kit.regions import REGIONS
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.products import service as reports
from cyberfusion.products.models import REPORT_FORMATS
from cyberfusion.trends import charts
from cyberfusion.trends import service as trends
from cyberfusion.trends.series import DIMENSIONS, INTERVALS, MEASURES
from cyberfusion.web import nav, security
from cyberfusion.web.pages_home import panel
from cyberfusion.web.pages_search import parse_day, query_string
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(50, "Reports", "/reports", nav.receives)
nav.register(51, "Trends", "/trends", nav.receives)
Text = Annotated[str, Form()]
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def _keeper(viewer: Any) -> bool:
    return viewer.org_kind == "host_centre" and viewer.has_role("analyst")


# --- country reports ------------------------------------------------------------------------------------


def _reports_page(request: Request, db: Session, viewer: Any, *, form: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, generated: list[dict[str, Any]] | None = None,
                  skipped: list[dict[str, str]] | None = None, status: int = 200) -> Response:
    rows = reports.list_reports(db, viewer=viewer, limit=100)
    return page(request, "reports.html", {
        "rows": rows, "can_generate": _keeper(viewer), "generated": generated, "skipped": skipped or [],
        "form": form or {"period": datetime.now().strftime("%Y-%m"), "countries": "", "send": True},
        "errors": errors or {}}, status=status, title="Country reports")


@router.get("/reports")
def report_list(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    return _reports_page(request, db, viewer)


@router.post("/reports")
def report_generate(request: Request, db: Db, viewer: CurrentViewer, period: Text = "", countries: Text = "",
                    send: Text = "") -> Response:
    codes = [c.strip() for c in countries.replace(";", ",").replace(" ", ",").split(",") if c.strip()]
    form = {"period": period, "countries": countries, "send": send == "yes"}
    try:
        batch = reports.generate(db, viewer=viewer, period=period, countries=codes,
                                 k=request.app.state.settings.k_threshold, send=send == "yes")
    except (InvalidInput, NotFound) as exc:
        db.rollback()
        field = exc.field if isinstance(exc, InvalidInput) else "countries"
        reason = exc.problems[0].reason if isinstance(exc, InvalidInput) else exc.detail
        return _reports_page(request, db, viewer, form=form, errors={
            "countries" if field in ("country", "recipient") else (field or "period"): reason}, status=422)
    return _reports_page(request, db, viewer, form=form, generated=batch.summary_rows(), skipped=batch.skipped)


@router.get("/reports/{report_id}")
def report_view(request: Request, report_id: str, db: Db, viewer: CurrentViewer) -> Response:
    data = reports.get_report(db, viewer=viewer, report_id=report_id)
    entitled = data["recipient_org_id"] == viewer.org_id and data["sent_at"] is not None
    return page(request, "report.html", {"r": data, "entitled": entitled, "can_send": _keeper(viewer),
                                         "formats": REPORT_FORMATS}, title=f"Country report {data['country']}")


@router.post("/reports/{report_id}/send")
def report_send(report_id: str, db: Db, viewer: CurrentViewer) -> Response:
    reports.send(db, viewer=viewer, report_id=report_id)
    return RedirectResponse(f"/reports/{report_id}?notice=saved", status_code=303)


@router.get("/reports/{report_id}/download")
def report_download(request: Request, report_id: str, db: Db, viewer: CurrentViewer, format: str = "pdf",
                    inline: bool = False) -> Response:
    content, media_type, name = reports.download(db, viewer=viewer, report_id=report_id, fmt=format)
    disposition = "inline" if inline and format in ("html", "pdf") else "attachment"
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'{disposition}; filename="{name}"', "Content-Security-Policy": DOWNLOAD_CSP})


# --- trends ---------------------------------------------------------------------------------------------


def _trend_args(request: Request, viewer: Any) -> dict[str, Any]:
    q = request.query_params
    return {"measure": q.get("measure") or "indicators", "by": q.get("by") or "crime_type",
            "interval": q.get("interval") or "week", "crime_type": q.get("crime_type") or None,
            "region": q.get("region") if "region" in q else viewer.org_region, "country": q.get("country") or None,
            "since": parse_day(q.get("since"), "since"), "until": parse_day(q.get("until"), "until", end=True)}


def title_of(result: dict[str, Any]) -> str:
    by = result["by"].replace("_", " ")
    scope = ", ".join(str(v) for v in result["filters"].values() if v)
    return (f"{result['measure'].capitalize()} per {result['interval']}" + (f" by {by}" if by != "total" else "")
            + (f" — {scope}" if scope else ""))


def figure(result: dict[str, Any]) -> dict[str, Any]:
    """Plotly figure data (traces and layout as JSON, drawn by the packaged plotly.js)."""
    data: list[dict[str, Any]] = []
    for s in result["series"]:
        data.append({"type": "scatter", "mode": "lines+markers", "name": s["group"], "x": result["buckets"],
                     "y": s["values"], "connectgaps": False})
        if s["spikes"]:
            data.append({"type": "scatter", "mode": "markers", "name": f"{s['group']}: spike",
                         "x": [p["bucket"] for p in s["spikes"]], "y": [p["value"] for p in s["spikes"]],
                         "text": [p["explanation"] for p in s["spikes"]], "hoverinfo": "text",
                         "marker": {"size": 14, "symbol": "circle-open", "color": "red"}})
        fc = s.get("forecast")
        if fc:
            data.append({"type": "scatter", "mode": "lines", "name": f"{s['group']}: forecast", "x": fc["buckets"],
                         "y": fc["values"], "line": {"dash": "dash"}})
    layout = {"title": {"text": title_of(result)}, "xaxis": {"title": {"text": result["interval"]}},
              "yaxis": {"title": {"text": result["measure"]}}, "margin": {"t": 50, "r": 20}, "height": 420}
    return {"data": data, "layout": layout}


@router.get("/trends")
def trends_page(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose) -> Response:
    try:
        args = _trend_args(request, viewer)
        result = trends.series(db, viewer=viewer, purpose=purpose, k=request.app.state.settings.k_threshold,
                               horizon=4, **args)
    except InvalidInput as exc:
        db.rollback()
        return page(request, "trends.html", {"result": None, "args": dict(request.query_params),
                                             "errors": {exc.field or "by": exc.problems[0].reason},
                                             "choices": _choices()}, status=422, title="Trends")
    query = query_string({k: v for k, v in request.query_params.items()})
    response = page(request, "trends.html", {
        "result": result, "args": dict(request.query_params) | {"region": args["region"] or ""},
        "figure": json.loads(json.dumps(figure(result), default=str)), "png_url": "/trends/chart.png?" + query,
        "choices": _choices(), "purpose": purpose}, title="Trends")
    response.headers["Content-Security-Policy"] = security.CSP_CHARTS
    return response


def _choices() -> dict[str, Any]:
    return {"measures": MEASURES, "dimensions": DIMENSIONS, "intervals": INTERVALS, "regions": REGIONS,
            "categories": CATEGORIES}


@router.get("/trends/chart.png")
def trends_png(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose) -> Response:
    result = trends.series(db, viewer=viewer, purpose=purpose, k=request.app.state.settings.k_threshold,
                           horizon=4, **_trend_args(request, viewer))
    return Response(charts.png(result), media_type="image/png")


def sparkline(values: list[int | None], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points for a series; hidden (None) cells break the line into gaps."""
    known = [v for v in values if v is not None]
    top = max(known, default=0) or 1
    step = width / max(1, len(values) - 1)
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        runs[-1].append(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}")
    return "|".join(" ".join(r) for r in runs if r)


@panel(40, "Trends in your region", "panel_trends.html", lazy=True)
def trends_panel(db: Session, user: WebUser, request: Request) -> dict[str, Any] | None:
    viewer = user.viewer
    if viewer is None or not viewer.may_receive:
        return None
    result = trends.series(db, viewer=viewer, purpose=user.purpose, k=request.app.state.settings.k_threshold,
                           by="crime_type", interval="week", region=viewer.org_region, horizon=0,
                           audit_action="trends.dashboard")
    rows = [{"group": s["group"], "points": sparkline(s["values"]),
             "last": next((v for v in reversed(s["values"]) if v is not None), None),
             "total": sum(v for v in s["values"] if v is not None), "spikes": len(s["spikes"]),
             "all_hidden": all(v is None for v in s["values"])}
            for s in result["series"]]
    rows.sort(key=lambda r: -r["total"])
    return {"rows": rows[:8], "region": viewer.org_region, "suppressed": result["suppressed_cells"],
            "k": result["k_threshold"]}
