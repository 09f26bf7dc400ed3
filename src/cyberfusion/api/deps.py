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
from cyberfusion.errors import CyberfusionError, Unauthenticated
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
        for key, value in kwargs.items():
            if type(value) is PendingViewer:
                kwargs[key] = value.resolve()
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


class PendingViewer:
    """The viewer of a token checked moments ago (``tokens.recently_checked``), not read yet:
    SessionRoute reads it in the endpoint's own thread, just before the endpoint runs, with the
    request's session, so a lookup makes one trip to the thread pool instead of two. What is read
    and refused is as before, on every request: the member (inactive: 401, a failed attempt),
    organisation, agreement and secondment (403 with the reason).

    Measured (benchmarks/lookup.py store, one keep-alive client, callgrind): a no-hit lookup
    5.74 -> 5.32 M instructions in the server, besides the trip's own system time."""

    # Not the request itself: kept on the request's state, it would make a reference cycle
    # (state -> this -> request -> scope -> state) that only the cyclic collector frees.
    __slots__ = ("session", "member_id", "now", "client", "settings")

    def __init__(self, request: Request, session: Session, member_id: int, now: datetime) -> None:
        self.session, self.member_id, self.now = session, member_id, now
        self.client, self.settings = client_address(request), request.app.state.settings

    def resolve(self, session: Session | None = None) -> Viewer:
        session = session or self.session
        try:
            return partners.resolve_viewer_by_id(session, self.member_id)
        except Unauthenticated:  # deactivated since its token was checked: a failed attempt, as before
            throttle.failed_attempt(session, client=self.client, settings=self.settings, now=self.now)
            raise


async def current_viewer(request: Request, session: SessionDep) -> Viewer:
    """The caller's viewer. For a token checked moments ago and an endpoint that SessionRoute runs
    in the thread pool, a PendingViewer that the endpoint's thread reads (no I/O here, on the
    event loop: the bearer header and the in-memory check of the token). Otherwise read in the
    thread pool now (``viewer_now``)."""
    if getattr(request.scope.get("endpoint"), "_commits_on_return", False) and \
            getattr(request.state, "member", None) is None:
        now = utcnow()
        member_id = tokens.recently_checked(_bearer(request), now=now)
        if member_id is not None:
            pending = request.state.pending_viewer = PendingViewer(request, session, member_id, now)
            return pending  # type: ignore[return-value]  # SessionRoute hands the endpoint a Viewer
    return await run_in_threadpool(viewer_now, request, session)


def viewer_now(request: Request, session: Session) -> Viewer:
    """The caller's viewer, read now. Authenticates itself rather than depending on
    current_member (each sync dependency is a trip to the thread pool of its own), and for a
    token checked moments ago reads member, organisation and agreement in one statement, without
    loading the member."""
    member = getattr(request.state, "member", None)
    if member is not None:
        return partners.resolve_viewer(session, member)
    now = utcnow()
    member_id = tokens.recently_checked(_bearer(request), now=now)
    if member_id is None:
        return partners.resolve_viewer(session, _authenticated(request, session))
    return PendingViewer(request, session, member_id, now).resolve()


def refusal_before_validation(request: Request) -> CyberfusionError | None:
    """A PendingViewer's refusal, for a request whose parameters or body did not validate: the
    caller hears 401/403 rather than 422, as when the viewer was read before validation."""
    pending: PendingViewer | None = getattr(request.state, "pending_viewer", None)
    if pending is None:
        return None
    with request.app.state.sessionmaker() as session:
        try:
            pending.resolve(session)
        except CyberfusionError as exc:
            return exc
    return None


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
