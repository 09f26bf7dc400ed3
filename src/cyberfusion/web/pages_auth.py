"""Sign-in, sign-out, the seconded expert's confidentiality acknowledgement, the reading purpose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from cyberfusion.errors import InvalidInput
from cyberfusion.web import auth, security
from cyberfusion.web.render import page
from cyberfusion.web.routing import (
    CurrentViewer,
    Db,
    MaybeUser,
    SignInRequired,
    User,
    WebRoute,
    settings_of,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a local path: never an open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/signin")
def signin_form(request: Request, user: MaybeUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "signin.html", {"next": safe_next(next), "email": "", "message": None}, title="Sign in")


@router.post("/signin")
def signin(request: Request, db: Db, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
           next: Annotated[str, Form()] = "/") -> Response:
    try:
        result = auth.sign_in(db, email=email, password=password, client=_client(request),
                              user_agent=request.headers.get("user-agent", ""), settings=settings_of(request))
    except InvalidInput as exc:
        return page(request, "signin.html", {"next": safe_next(next), "email": email, "message": None,
                                             "errors": {exc.field or "email": exc.problems[0].reason}},
                    status=422, title="Sign in")
    if not result.ok:
        response = page(request, "signin.html", {"next": safe_next(next), "email": email,
                                                 "message": result.message}, status=401, title="Sign in")
        if result.retry_after:
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    assert result.token is not None
    response = RedirectResponse(safe_next(next), status_code=303)
    security.set_cookie(request, response, security.SESSION_COOKIE, result.token,
                        max_age=settings_of(request).web_session_hours * 3600)
    security.clear_cookie(request, response, security.ANON_COOKIE)
    return response


@router.post("/signout")
def signout(request: Request, db: Db, user: MaybeUser) -> Response:
    if user is not None:
        auth.sign_out(db, session_id=user.session_id, member_id=user.member_id)
    response = RedirectResponse("/signin?notice=signed_out", status_code=303)
    security.clear_cookie(request, response, security.SESSION_COOKIE)
    return response


@router.get("/acknowledge")
def acknowledge_form(request: Request, user: MaybeUser) -> Response:
    if user is None:
        raise SignInRequired("please sign in")
    if not user.needs_acknowledgement:
        return RedirectResponse("/", status_code=303)
    return page(request, "acknowledge.html", title="Confidentiality acknowledgement")


@router.post("/acknowledge")
def acknowledge(request: Request, db: Db, user: MaybeUser, accept: Annotated[str, Form()] = "") -> Response:
    if user is None:
        raise SignInRequired("please sign in")
    if not user.needs_acknowledgement:
        return RedirectResponse("/", status_code=303)
    if accept != "yes":
        return page(request, "acknowledge.html", {"errors": {"accept": "tick the box to accept the terms"}},
                    status=422, title="Confidentiality acknowledgement")
    auth.acknowledge(db, session_id=user.session_id, member_id=user.member_id)
    return RedirectResponse("/?notice=acknowledged", status_code=303)


@router.post("/purpose")
def set_purpose(request: Request, db: Db, user: User, viewer: CurrentViewer,
                purpose: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
    auth.set_purpose(db, session_id=user.session_id, viewer=viewer, purpose=purpose)
    target = safe_next(next)
    return RedirectResponse(target + ("&" if "?" in target else "?") + "notice=purpose", status_code=303)
