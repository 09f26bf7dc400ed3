"""Request-scoped dependencies: the session (the request owns the transaction) and the caller."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from cyberfusion.auth import throttle, tokens
from cyberfusion.db import utcnow
from cyberfusion.errors import Unauthenticated
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member
from cyberfusion.sharing.viewer import Viewer


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Opening a session does no I/O (a connection is taken at its first statement), so it is
    # made on the event loop; the request's work runs in the thread pool (sync endpoints and
    # dependencies), and the end of the transaction is one more trip there. A sync generator
    # dependency took two trips (enter and exit), each about half a millisecond of CPU.
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_end, session, commit=False)
        raise
    if session.in_transaction():
        await run_in_threadpool(_end, session, commit=True)
    else:  # committed by SessionRoute in the endpoint's thread: closing it does no I/O
        session.close()


def _end(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit happens before the response is sent, so a failing commit is an
# error response (503/500 problem+json), never a 200 for work that was rolled back.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class SessionRoute(APIRoute):
    """The route class of the API's routers: a sync endpoint that takes the request's session
    commits it in the thread that ran it, the moment it returns (TAXII's routes do the same with
    their own unit of work).

    Committed by get_session instead, a transaction stayed open for two more trips, to the event
    loop and back to the thread pool, each waiting its turn among the other requests: a lookup
    held SQLite's one write lock (writelock.py) for them, which made every other writer wait too
    (benchmarks/load.py, docs/operations.md). A failing commit is an error response as before."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _commit_on_return(endpoint), **kwargs)


def _commit_on_return(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if (inspect.iscoroutinefunction(endpoint) or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint) or getattr(endpoint, "_commits_on_return", False)):
        # async endpoints commit in get_session; streams are not wrapped; include_router makes a
        # route again from the endpoint it was given, already wrapped
        return endpoint

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                value.commit()
        return result

    run._commits_on_return = True  # type: ignore[attr-defined]
    return run


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("missing 'Authorization: Bearer <token>' header")
    return value.strip()


def _authenticated(request: Request, session: Session) -> Member:
    """The caller's member, authenticated once per request (kept on the request's state)."""
    member: Member | None = getattr(request.state, "member", None)
    if member is not None:
        return member
    token, now = _bearer(request), utcnow()
    try:
        member = tokens.authenticate_request(session, token, now=now)
    except Unauthenticated:
        _failed(request, session, now)
        raise
    if session.dirty:
        # The last-used time is bookkeeping: keep it even when the request itself fails later.
        session.commit()
    request.state.member = member
    return member


def _failed(request: Request, session: Session, now: datetime) -> None:
    throttle.failed_attempt(session, client=client_address(request), settings=request.app.state.settings, now=now)


def current_member(request: Request, session: SessionDep) -> Member:
    return _authenticated(request, session)


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy: what uvicorn --proxy-headers took from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


CurrentMember = Annotated[Member, Depends(current_member)]


def current_viewer(request: Request, session: SessionDep) -> Viewer:
    """The caller's viewer. Authenticates itself rather than depending on current_member (each
    sync dependency is a trip to the thread pool of its own), and for a token checked moments
    ago reads member, organisation and agreement in one statement, without loading the member."""
    member = getattr(request.state, "member", None)
    if member is not None:
        return partners.resolve_viewer(session, member)
    now = utcnow()
    member_id = tokens.recently_checked(_bearer(request), now=now)
    if member_id is None:
        return partners.resolve_viewer(session, _authenticated(request, session))
    try:
        return partners.resolve_viewer_by_id(session, member_id)
    except Unauthenticated:  # deactivated since its token was checked: a failed attempt, as before
        _failed(request, session, now)
        raise


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
