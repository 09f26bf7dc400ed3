"""What every page shares: one transaction per request, CSRF on every unsafe request,
errors rendered as pages, security headers, and the signed-in member's context.

``WebRoute`` wraps each page handler:
  * opens the request's database session (``Db``) and commits it once when the
    handler returns, or rolls it back when it raises;
  * refuses a POST/PUT/PATCH/DELETE whose CSRF token does not match the browser's cookie;
  * turns ``cyberfusion.errors`` into pages (sign-in redirect, 403, 404, 422 with the
    problems listed), never problem+json;
  * adds the security headers (CSP without inline scripts, nosniff, frame-ancestors
    'none', Referrer-Policy, HSTS over TLS).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cyberfusion.config import Settings
from cyberfusion.errors import CyberfusionError, Forbidden, InvalidInput, Problem
from cyberfusion.partners import service as partners
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import auth, security

log = logging.getLogger("cyberfusion.web")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(CyberfusionError):
    status = 401
    title = "Sign-in required"
    slug = "sign-in-required"


class AcknowledgementRequired(CyberfusionError):
    status = 403
    title = "Confidentiality acknowledgement required"
    slug = "acknowledgement-required"


@dataclass
class WebUser:
    """The signed-in member, as plain values (pages still render after a rollback)."""

    session_id: str
    token: str
    member_id: int
    email: str
    name: str
    roles: frozenset[str]
    org_name: str
    purpose: str
    viewer: Viewer | None
    reason: str | None
    needs_acknowledgement: bool

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def secret_of(request: Request) -> str:
    cached = getattr(request.app.state, "web_secret", None)
    if cached is None:
        cached = request.app.state.web_secret = settings_of(request).effective_secret_key()
    return cached


# --- dependencies ------------------------------------------------------------------------------


def get_db(request: Request) -> Session:
    return request.state.db


Db = Annotated[Session, Depends(get_db)]


def optional_user(request: Request, db: Db) -> WebUser | None:
    if hasattr(request.state, "user"):
        return request.state.user
    user = None
    token = request.cookies.get(security.SESSION_COOKIE)
    found = auth.current(db, token=token, settings=settings_of(request))
    if found is not None and token:
        row, member = found
        state = partners.access_state(db, member)
        org = partners.get_org(db, member.organisation_id)
        user = WebUser(session_id=row.id, token=token, member_id=member.id, email=member.email, name=member.name,
                       roles=frozenset(member.roles), org_name=org.name, purpose=row.purpose, viewer=state.viewer,
                       reason=state.reason, needs_acknowledgement=state.needs_acknowledgement)
    elif token:
        request.state.clear_session_cookie = True
    request.state.user = user
    return user


MaybeUser = Annotated[WebUser | None, Depends(optional_user)]


def signed_in(user: MaybeUser) -> WebUser:
    if user is None:
        raise SignInRequired("please sign in")
    if user.needs_acknowledgement:
        raise AcknowledgementRequired("confidentiality acknowledgement required before any access")
    return user


User = Annotated[WebUser, Depends(signed_in)]


def active_viewer(user: User) -> Viewer:
    if user.viewer is None:
        raise Forbidden(user.reason or "access denied")
    return user.viewer


CurrentViewer = Annotated[Viewer, Depends(active_viewer)]


def purpose_of(request: Request, user: User) -> str:
    """The purpose of this read: ?purpose= when given, else the one chosen for the session."""
    return request.query_params.get("purpose") or user.purpose


Purpose = Annotated[str, Depends(purpose_of)]


# --- the page frame -------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    user = getattr(request.state, "user", None)
    if user is not None:
        return security.csrf_for(secret_of(request), user.token)
    anon = request.cookies.get(security.ANON_COOKIE) or getattr(request.state, "new_anon", None)
    if not anon:
        anon = request.state.new_anon = security.new_token()
    return security.csrf_for(secret_of(request), anon)


def frame_context(request: Request) -> dict[str, Any]:
    from cyberfusion.web.nav import navigation
    user: WebUser | None = getattr(request.state, "user", None)
    return {"request": request, "path": request.url.path, "user": user, "csrf": csrf_token(request),
            "nav": navigation(user) if user is not None and not user.needs_acknowledgement else []}


# --- errors as pages ------------------------------------------------------------------------------


def _problems_of(exc: Exception) -> list[Problem]:
    if isinstance(exc, InvalidInput):
        return exc.problems
    if isinstance(exc, RequestValidationError):
        return [Problem(reason=str(e.get("msg")), field=".".join(str(p) for p in e.get("loc", ())[1:]) or None)
                for e in exc.errors()]
    return []


def error_page(request: Request, exc: Exception) -> Response:
    from cyberfusion.web.render import page
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, AcknowledgementRequired):
        return RedirectResponse("/acknowledge", status_code=303)
    if isinstance(exc, RequestValidationError):
        status, title, detail = 422, "Invalid input", "Some of what was sent is not valid."
    elif isinstance(exc, CyberfusionError):
        status, title, detail = exc.status, exc.title, exc.detail
    elif isinstance(exc, HTTPException):
        status, title, detail = exc.status_code, "Error", str(exc.detail)
    elif isinstance(exc, OperationalError):
        status, title, detail = 503, "Service unavailable", "The database is unavailable; retry shortly."
    else:
        log.error("unexpected error on %s", request.url.path, exc_info=exc)
        status, title, detail = 500, "Internal error", "An unexpected error occurred; it was logged."
    return page(request, "error.html", {"status": status, "heading": title, "detail": detail,
                                        "problems": _problems_of(exc)}, status=status, title=title)


# --- the route class ------------------------------------------------------------------------------


async def _submitted_csrf(request: Request) -> str | None:
    header = request.headers.get(security.CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # a malformed or oversized body raises HTTPException(400)
        value = form.get(security.CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


class WebRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.method in UNSAFE:
                cookies = [request.cookies.get(security.SESSION_COOKIE, ""),
                           request.cookies.get(security.ANON_COOKIE, "")]
                try:
                    submitted = await _submitted_csrf(request)
                except HTTPException as exc:
                    response = _form_refused(request, exc)
                    security.add_headers(request, response)
                    return response
                if not security.csrf_ok(secret_of(request), submitted, cookies):
                    response = _csrf_refused(request)
                    security.add_headers(request, response)
                    return response
            db: Session = request.app.state.sessionmaker()
            request.state.db = db
            try:
                try:
                    response = await original(request)
                    await run_in_threadpool(db.commit)
                except Exception as exc:  # noqa: BLE001 - every error becomes a page
                    await run_in_threadpool(db.rollback)
                    response = await run_in_threadpool(error_page, request, exc)
            finally:
                await run_in_threadpool(db.close)
            _cookies(request, response)
            security.add_headers(request, response, cacheable=getattr(request.state, "cacheable", False))
            return response

        return handler


def _csrf_refused(request: Request) -> Response:
    from cyberfusion.web.render import ENV
    html = ENV.get_template("csrf.html").render(user=None, nav=[], csrf="", path=request.url.path,
                                                 title="Form expired", notice=None, errors={})
    return HTMLResponse(html, status_code=403)


def _form_refused(request: Request, exc: HTTPException) -> Response:
    """A form the server cannot read (e.g. a text field over 1 MB): said plainly, before any work."""
    from cyberfusion.web.render import ENV
    detail = (f"The form could not be read ({exc.detail}). Large inputs go in as a file upload, "
              "not pasted text.")
    html = ENV.get_template("error.html").render(user=None, nav=[], csrf="", path=request.url.path,
                                                  title="Form not accepted", notice=None, errors={},
                                                  status=exc.status_code, heading="Form not accepted",
                                                  detail=detail, problems=[])
    return HTMLResponse(html, status_code=exc.status_code)


def _cookies(request: Request, response: Response) -> None:
    if getattr(request.state, "clear_session_cookie", False):
        security.clear_cookie(request, response, security.SESSION_COOKIE)
    new_anon = getattr(request.state, "new_anon", None)
    if new_anon:
        security.set_cookie(request, response, security.ANON_COOKIE, new_anon, max_age=None)
