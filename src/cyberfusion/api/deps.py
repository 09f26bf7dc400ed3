"""Request-scoped dependencies: the session (the request owns the transaction) and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cyberfusion.auth import throttle, tokens
from cyberfusion.db import utcnow
from cyberfusion.errors import Unauthenticated
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member
from cyberfusion.sharing.viewer import Viewer


def get_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit happens before the response is sent, so a failing commit is an
# error response (503/500 problem+json), never a 200 for work that was rolled back.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("missing 'Authorization: Bearer <token>' header")
    return value.strip()


def current_member(request: Request, session: SessionDep) -> Member:
    token, now = _bearer(request), utcnow()
    try:
        member = tokens.authenticate_request(session, token, now=now)
    except Unauthenticated:
        throttle.failed_attempt(session, client=client_address(request), settings=request.app.state.settings,
                                now=now)
        raise
    # The last-used time is bookkeeping: keep it even when the request itself fails later.
    session.commit()
    return member


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy: what uvicorn --proxy-headers took from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


CurrentMember = Annotated[Member, Depends(current_member)]


def current_viewer(session: SessionDep, member: CurrentMember) -> Viewer:
    return partners.resolve_viewer(session, member)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
