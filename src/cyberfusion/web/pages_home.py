"""The start page (sign-in or the dashboard per role) and the packaged static files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cyberfusion.errors import CyberfusionError, NotFound
from cyberfusion.web import nav
from cyberfusion.web import service as web
from cyberfusion.web.render import ENV, page, tlp_css
from cyberfusion.web.routing import Db, MaybeUser, User, WebRoute, settings_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(0, "Dashboard", "/")

STATIC = {"app.css": "text/css", "app.js": "text/javascript", "chart.js": "text/javascript"}


@dataclass(frozen=True)
class Panel:
    """A dashboard panel another area adds: ``load(db, user, request)`` returns its template's data,
    or None when the panel does not apply to this member. A slow panel is ``lazy``: the dashboard
    links to it and app.js fetches it after the page has loaded."""

    order: int
    name: str
    title: str
    template: str
    load: Callable[..., Any]
    lazy: bool = False


PANELS: list[Panel] = []


def panel(order: int, title: str, template: str, *, lazy: bool = False) -> Callable[[Callable[..., Any]],
                                                                                    Callable[..., Any]]:
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        PANELS.append(Panel(order, fn.__name__.removesuffix("_panel"), title, template, fn, lazy))
        PANELS.sort(key=lambda p: p.order)
        return fn
    return add


def _load(p: Panel, db: Any, user: Any, request: Request) -> Any:
    try:
        return p.load(db, user, request)
    except CyberfusionError as exc:  # e.g. a role or purpose this member lacks
        return {"unavailable": exc.detail}


@router.get("/")
def home(request: Request, db: Db, user: MaybeUser) -> Response:
    if user is None:
        return RedirectResponse("/signin", status_code=303)
    if user.needs_acknowledgement:
        return RedirectResponse("/acknowledge", status_code=303)
    viewer = user.viewer
    panels = []
    if viewer is not None:
        for p in PANELS:
            data = None if p.lazy else _load(p, db, user, request)
            if p.lazy or data is not None:
                panels.append({"name": p.name, "title": p.title, "template": p.template, "data": data,
                               "lazy": p.lazy})
    contributions = web.my_contributions(db, viewer=viewer) if viewer is not None else []
    return page(request, "dashboard.html", {"panels": panels, "contributions": contributions,
                                            "k": settings_of(request).k_threshold}, title="Dashboard")


@router.get("/panels/{name}")
def one_panel(request: Request, name: str, db: Db, user: User, fragment: bool = False) -> Response:
    """A lazy panel: the bare fragment for app.js, or a page of its own without scripts."""
    found = next((p for p in PANELS if p.name == name), None)
    if found is None or user.viewer is None:
        raise NotFound(f"no panel {name!r}")
    data = _load(found, db, user, request)
    if data is None:
        raise NotFound(f"no panel {name!r}")
    context = {"p": {"title": found.title, "template": found.template, "data": data}}
    if fragment:
        return HTMLResponse(ENV.get_template("panel_fragment.html").render(context))
    return page(request, "panel_page.html", context, title=found.title)


@router.get("/static/tlp.css")
def static_tlp(request: Request) -> Response:
    request.state.cacheable = True
    return Response(tlp_css(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    """plotly.js as the installed plotly package ships it (nothing copied into this repository)."""
    import plotly
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


@router.get("/static/plotly.min.js")
def static_plotly(request: Request) -> Response:
    request.state.cacheable = True
    return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/{name}")
def static_file(request: Request, name: str) -> Response:
    media = STATIC.get(name)
    if media is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data = resources.files("cyberfusion.web").joinpath("static", name).read_bytes()
    request.state.cacheable = True
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=3600"})
