"""Fusion pages: the hit/no-hit lookup, the owners' hit inbox (with answers), the asker's sent
references, watchlists and the alerts inbox — each a thin page over cyberfusion.fusion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from cyberfusion.errors import InvalidInput
from cyberfusion.fusion import alerts, hits, watch
from cyberfusion.web import nav
from cyberfusion.web.pages_home import panel
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(30, "Lookup", "/lookup", nav.receives)
nav.register(31, "Hit inbox", "/hits", nav.roles(*hits.INBOX_ROLES))
nav.register(32, "Watchlists", "/watchlists", nav.receives)
nav.register(33, "Alerts", "/alerts", nav.receives)
Text = Annotated[str, Form()]
MAX_FORM_VALUES = 10_000


def _values(text: str) -> list[str]:
    return [v.strip() for v in text.replace("\r", "").split("\n") if v.strip()]


# --- lookup ----------------------------------------------------------------------------------------


def _lookup_page(request: Request, *, values: str = "", result: dict[str, Any] | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return page(request, "lookup.html", {"values": values, "result": result, "errors": errors or {}},
                status=status, title="Hit/no-hit lookup")


@router.get("/lookup")
def lookup_form(request: Request, viewer: CurrentViewer) -> Response:
    return _lookup_page(request)


@router.post("/lookup")
def lookup(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, values: Text = "") -> Response:
    try:
        wanted = _values(values)
        if len(wanted) > MAX_FORM_VALUES:
            raise InvalidInput(f"at most {MAX_FORM_VALUES:,} values in the form; use the API for more",
                               field="values")
        result = hits.lookup(db, viewer=viewer, purpose=purpose, values=wanted,
                             settings=request.app.state.settings)
    except InvalidInput as exc:
        db.rollback()
        return _lookup_page(request, values=values, errors={exc.field or "values": exc.problems[0].reason},
                            status=422)
    return _lookup_page(request, values=values, result=result.as_dict())


# --- the owners' hit inbox and the asker's sent references -------------------------------------------


@router.get("/hits")
def hit_inbox(request: Request, db: Db, viewer: CurrentViewer, status: str = "open") -> Response:
    rows = hits.inbox(db, viewer=viewer, status=status or None, limit=200)
    sent = hits.sent(db, viewer=viewer, limit=50)
    return page(request, "hits.html", {"rows": rows, "sent": sent, "status": status,
                                       "decisions": hits.DECISIONS}, title="Hit inbox")


@router.post("/hits/{reference}/answer")
def hit_answer(request: Request, reference: str, db: Db, viewer: CurrentViewer, decision: Text = "",
               message: Text = "") -> Response:
    hits.answer(db, viewer=viewer, reference=reference, decision=decision, message=message)
    return RedirectResponse("/hits?notice=answered", status_code=303)


@panel(30, "Hit notifications to answer", "panel_hits.html")
def hits_panel(db: Session, user: WebUser, request: Request) -> dict[str, Any] | None:
    if user.viewer is None or not user.viewer.has_role(*hits.INBOX_ROLES):
        return None
    return {"rows": hits.inbox(db, viewer=user.viewer, status="open", limit=5)}


# --- watchlists ----------------------------------------------------------------------------------


def _watch_page(request: Request, db: Session, viewer: Any, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, secret: str | None = None, status: int = 200) -> Response:
    return page(request, "watchlists.html", {
        "lists": watch.list_watchlists(db, viewer=viewer), "item_types": watch.ITEM_TYPES, "scopes": watch.SCOPES,
        "form": form or {"name": "", "scope": "member", "items": "", "item_type": "value", "email": "",
                         "webhook_url": ""},
        "errors": errors or {}, "secret": secret}, status=status, title="Watchlists")


@router.get("/watchlists")
def watchlists(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    return _watch_page(request, db, viewer)


@router.post("/watchlists")
def create_watchlist(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, name: Text = "",
                     scope: Text = "member", item_type: Text = "value", items: Text = "", email: Text = "",
                     webhook_url: Text = "") -> Response:
    form = {"name": name, "scope": scope, "items": items, "item_type": item_type, "email": email,
            "webhook_url": webhook_url}
    try:
        wl, secret = watch.create_watchlist(db, viewer=viewer, name=name, purpose=purpose, scope=scope,
                                            webhook_url=webhook_url or None, email=email or None,
                                            items=[{"type": item_type, "value": v} for v in _values(items)])
    except InvalidInput as exc:
        db.rollback()
        field = (exc.field or "items").split(".")
        return _watch_page(request, db, viewer, form=form, status=422,
                           errors={"items" if field[0] == "items" else field[0]: exc.problems[0].reason})
    if secret:  # shown once, like an API token
        return _watch_page(request, db, viewer, secret=secret)
    return RedirectResponse("/watchlists?notice=saved", status_code=303)


@router.post("/watchlists/{watchlist_id}/items")
def add_watch_item(request: Request, watchlist_id: int, db: Db, viewer: CurrentViewer, item_type: Text = "value",
                   value: Text = "") -> Response:
    try:
        watch.add_item(db, viewer=viewer, watchlist_id=watchlist_id, type=item_type, value=value)
    except InvalidInput as exc:
        db.rollback()
        return _watch_page(request, db, viewer, errors={f"add-{watchlist_id}": exc.problems[0].reason}, status=422)
    return RedirectResponse("/watchlists?notice=saved", status_code=303)


@router.post("/watchlists/{watchlist_id}/items/{item_id}/delete")
def remove_watch_item(watchlist_id: int, item_id: int, db: Db, viewer: CurrentViewer) -> Response:
    watch.remove_item(db, viewer=viewer, watchlist_id=watchlist_id, item_id=item_id)
    return RedirectResponse("/watchlists?notice=deleted", status_code=303)


@router.post("/watchlists/{watchlist_id}/delete")
def delete_watchlist(watchlist_id: int, db: Db, viewer: CurrentViewer) -> Response:
    watch.delete_watchlist(db, viewer=viewer, watchlist_id=watchlist_id)
    return RedirectResponse("/watchlists?notice=deleted", status_code=303)


# --- alerts -------------------------------------------------------------------------------------------


@router.get("/alerts")
def alert_inbox(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, unread: bool = False) -> Response:
    rows = alerts.inbox(db, viewer=viewer, purpose=purpose, unread=unread, limit=200)
    return page(request, "alerts.html", {"rows": rows, "unread": unread, "purpose": purpose}, title="Alerts")


@router.post("/alerts/read")
async def alerts_read(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    form = await request.form()
    try:
        ids = [int(v) for v in form.getlist("ids")]
    except ValueError:
        raise InvalidInput("alert numbers only", field="ids") from None
    from starlette.concurrency import run_in_threadpool
    await run_in_threadpool(lambda: alerts.mark_read(db, viewer=viewer, ids=ids))
    return RedirectResponse("/alerts?notice=marked", status_code=303)


@panel(20, "Alerts", "panel_alerts.html")
def alerts_panel(db: Session, user: WebUser, request: Request) -> dict[str, Any] | None:
    if user.viewer is None or not user.viewer.may_receive:
        return None
    return {"rows": alerts.inbox(db, viewer=user.viewer, purpose=user.purpose, unread=True, limit=5)}
