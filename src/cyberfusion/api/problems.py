"""The one mapping of errors to RFC 9457 problem+json responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from cyberfusion.api import deps
from cyberfusion.db import database_error
from cyberfusion.errors import (
    CyberfusionError,
    InvalidInput,
    Problem,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

MEDIA_TYPE = "application/problem+json"
POOL_EXHAUSTED = "the server is busy (no database connection came free in time); retry shortly"
log = logging.getLogger("cyberfusion.api")


def problem_response(request: Request, exc: CyberfusionError) -> JSONResponse:
    body = exc.as_problem()
    body["instance"] = str(request.url.path)
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="cyberfusion"'
    if isinstance(exc, (Unavailable, TooManyRequests)):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(body, status_code=exc.status, media_type=MEDIA_TYPE, headers=headers)


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(CyberfusionError)
    async def _domain(request: Request, exc: CyberfusionError) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A viewer left for the endpoint's thread (api/deps.PendingViewer) is read here first:
        # a refused caller hears 401/403, as when the viewer was read before validation.
        if getattr(request.state, "pending_viewer", None) is not None:
            refused = await run_in_threadpool(deps.refusal_before_validation, request)
            if refused is not None:
                return problem_response(request, refused)
        problems = [Problem(reason=e["msg"], field=_field_of(tuple(e["loc"])),
                            location=str(e["loc"][0]) if e["loc"] else None) for e in exc.errors()]
        return problem_response(request, InvalidInput(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = CyberfusionError(str(exc.detail))
        err.status, err.title, err.slug = exc.status_code, str(exc.detail), f"http-{exc.status_code}"
        return problem_response(request, err)

    @app.exception_handler(DBAPIError)
    async def _db_failure(request: Request, exc: DBAPIError) -> JSONResponse:
        err = database_error(exc)
        if err is None:
            log.exception("unexpected database error on %s", request.url.path)
            err = CyberfusionError("an unexpected error occurred; it was logged")
        else:
            log.warning("database: %s", str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__)
        return problem_response(request, err)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed in use for the pool's whole timeout: overload, not a bug.
        log.warning("no free database connection on %s: %s", request.url.path, str(exc).splitlines()[0])
        return problem_response(request, Unavailable(POOL_EXHAUSTED))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # sqlite3 cannot bind an int beyond 64 bits: such an id or number cannot exist in the store.
        return problem_response(request, InvalidInput("a value in the request is out of range for the database "
                                                      "(e.g. an id that large cannot exist)"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem_response(request, CyberfusionError("an unexpected error occurred; it was logged"))
