"""The start page (sign-in or the dashboard per role) and the packaged static files."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cyberfusion.errors import CyberfusionError
from cyberfusion.web import nav
from cyberfusion.web import service as web
from cyberfusion.web.render import page, tlp_css
from cyberfusion.web.routing import Db, MaybeUser, WebRoute, settings_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(0, "Dashboard", "/")

STATIC = {"app.css": "text/css", "app.js": "text/javascript", "chart.js": "text/javascript"}
# Dashboard panels other areas add: (order, title, template, function(db, user, request) -> its data,
# or None when the panel does not apply to this member).
PANELS: list[tuple[int, str, str, Callable[..., Any]]] = []


def panel(order: int, title: str, template: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        PANELS.append((order, title, template, fn))
        PANELS.sort(key=lambda p: p[0])
        return fn
    return add


@router.get("/")
def home(request: Request, db: Db, user: MaybeUser) -> Response:
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    if user.needs_acknowledgement:
        return RedirectResponse("/acknowledge", status_code=303)
    viewer = user.viewer
    panels = []
    if viewer is not None:
        for _order, title, template, fn in PANELS:
            try:
                data = fn(db, user, request)
            except CyberfusionError as exc:  # e.g. a role or purpose this member lacks
                data = {"unavailable": exc.detail}
            if data is not None:
                panels.append({"title": title, "template": template, "data": data})
    contributions = web.my_contributions(db, viewer=viewer) if viewer is not None else []
    return page(request, "dashboard.html", {"panels": panels, "contributions": contributions,
                                            "k": settings_of(request).k_threshold}, title="Dashboard")


@router.get("/static/tlp.css")
def static_tlp(request: Request) -> Response:
    request.state.cacheable = True
    return Response(tlp_css(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/static/plotly.min.js")
def static_plotly(request: Request) -> Response:
    import plotly
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    request.state.cacheable = True
    return Response(path.read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static_file(request: Request, name: str) -> Response:
    media = STATIC.get(name)
    if media is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("cyberfusion.web").joinpath("static", name).read_bytes()
    request.state.cacheable = True
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
