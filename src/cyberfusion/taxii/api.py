"""TAXII 2.1 endpoints under /taxii2/ (discovery, API root, collections, objects, manifest,
versions, status). Errors are TAXII error resources with the TAXII media type; the rest of
the application keeps problem+json: the mapping lives in this router's route class.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cyberfusion.api import problems
from cyberfusion.api.deps import client_address
from cyberfusion.auth import throttle
from cyberfusion.db import transaction, utcnow
from cyberfusion.errors import CyberfusionError, InvalidInput, NotFound, TooManyRequests, Unauthenticated, Unavailable
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.taxii import media, service

log = logging.getLogger("cyberfusion.taxii")
_OBJECT_TYPES = ("application/taxii+json", "application/stix+json")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def error_response(exc: Exception) -> Response:
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        exc = InvalidInput(str(first["msg"]), field=".".join(str(p) for p in first["loc"][1:]) or None)
    elif isinstance(exc, StarletteHTTPException):
        err = CyberfusionError(str(exc.detail))
        err.status, err.title, err.slug = exc.status_code, str(exc.detail), f"http-{exc.status_code}"
        exc = err
    elif isinstance(exc, OperationalError):
        log.warning("database unavailable: %s", exc.orig)
        exc = Unavailable("the database is unavailable; retry shortly")
    elif isinstance(exc, PoolTimeout):
        log.warning("no free database connection: %s", str(exc).splitlines()[0])
        exc = Unavailable(problems.POOL_EXHAUSTED)
    elif not isinstance(exc, CyberfusionError):
        log.exception("unexpected error in a TAXII request")
        exc = CyberfusionError("an unexpected error occurred; it was logged")
    status = 400 if isinstance(exc, InvalidInput) else exc.status
    body = media.error_body(exc)
    body["http_status"] = str(status)
    headers = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Basic realm="cyberfusion TAXII", Bearer realm="cyberfusion TAXII"'
    if isinstance(exc, (Unavailable, TooManyRequests)):
        headers["Retry-After"] = str(exc.retry_after)
    return Response(json.dumps(body), status_code=status, media_type=media.TAXII, headers=headers)


class TaxiiRoute(APIRoute):
    """Every failure inside a /taxii2/ route becomes a TAXII error resource."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:  # noqa: BLE001 - mapped to the spec's error resource
                return error_response(exc)

        return handler


router = APIRouter(prefix="/taxii2", tags=["taxii"], route_class=TaxiiRoute)


def _route(path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a TAXII URL (they end in '/') and its slash-less form (taxii2-client's status URL)."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, fn, methods=methods, response_class=Response)
        if path.rstrip("/"):
            router.add_api_route(path.rstrip("/"), fn, methods=methods, response_class=Response,
                                 include_in_schema=False)
        return fn
    return register


# --- request plumbing ---------------------------------------------------------------------------

# Authentication results are reused for a few seconds: resolving a viewer costs several queries,
# and a TAXII client pages with many requests in a row. Revoking a token, or a change of
# vetting, agreement or secondment, takes effect within AUTH_TTL seconds.
AUTH_TTL = 5.0
_AUTH_MAX = 10_000
_auth_cache: dict[str, tuple[float, Viewer]] = {}
_auth_lock = threading.Lock()


def _viewer(request: Request, session: Session) -> Viewer:
    """Authenticate (Basic or Bearer); token bookkeeping is committed at once if any."""
    header = request.headers.get("authorization") or ""
    key = hashlib.sha256(header.encode()).hexdigest()
    now = time.monotonic()
    with _auth_lock:
        hit = _auth_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        viewer = service.authenticate(session, header)
    except Unauthenticated:
        if header.strip():  # a credential was offered and was wrong: count it (asking without one is not)
            throttle.failed_attempt(session, client=client_address(request), settings=request.app.state.settings,
                                    now=utcnow())
        raise
    if session.dirty:
        session.commit()
    with _auth_lock:
        if len(_auth_cache) >= _AUTH_MAX:
            _auth_cache.clear()
        _auth_cache[key] = (now + AUTH_TTL, viewer)
    return viewer


def _secret(request: Request) -> str:
    state = request.app.state
    if getattr(state, "taxii_secret", None) is None:
        state.taxii_secret = state.settings.effective_secret_key()
    return str(state.taxii_secret)


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def _json(data: Any, media_type: str = media.TAXII, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=media_type)


def _session(request: Request) -> Any:
    """The request's unit of work: commits once at the end (before the answer is sent)."""
    return transaction(request.app.state.sessionmaker)


def _read(request: Request, root: str, cid: str, endpoint: str, allowed: frozenset[str],
          stix_id: str | None = None) -> Response:
    with _session(request) as session:
        viewer = _viewer(request, session)
        answer_as = media.negotiate(request.headers.get("accept"),
                                    _OBJECT_TYPES if endpoint in ("objects", "object") else _OBJECT_TYPES[:1])
        q, limit, nxt = service.parse_query(_params(request), allowed,
                                            default_version="all" if endpoint == "versions" else "last")
        collection = service.get_collection(session, viewer=viewer, root=root, key=cid)
        result = service.read(session, viewer=viewer, collection=collection, endpoint=endpoint, q=q, limit=limit,
                              next_cursor=nxt, secret=_secret(request), stix_id=stix_id)
        # Audited in the same unit of work, before the answer leaves: no record, no intelligence.
        service.record_read(session, viewer=viewer, collection=collection, endpoint=endpoint, result=result)
    return Response(result.body, media_type=answer_as, headers=result.headers)


# --- endpoints ---------------------------------------------------------------------------------

@_route("/", ["GET"])
def discovery(request: Request) -> Response:
    with _session(request) as session:
        _viewer(request, session)
    answer_as = media.negotiate(request.headers.get("accept"))
    return _json(service.discovery(base_url=str(request.base_url)), answer_as)


@_route("/{root}/", ["GET"])
def api_root(request: Request, root: str) -> Response:
    with _session(request) as session:
        _viewer(request, session)
    answer_as = media.negotiate(request.headers.get("accept"))
    return _json(service.api_root(root), answer_as)


@_route("/{root}/status/{status_id}/", ["GET"])
def status(request: Request, root: str, status_id: str) -> Response:
    with _session(request) as session:
        viewer = _viewer(request, session)
        answer_as = media.negotiate(request.headers.get("accept"))
        return _json(service.get_status(session, viewer=viewer, root=root, status_id=status_id), answer_as)


@_route("/{root}/collections/", ["GET"])
def collections(request: Request, root: str) -> Response:
    with _session(request) as session:
        viewer = _viewer(request, session)
        answer_as = media.negotiate(request.headers.get("accept"))
        return _json(service.list_collections(session, viewer=viewer, root=root), answer_as)


@_route("/{root}/collections/{cid}/", ["GET"])
def collection(request: Request, root: str, cid: str) -> Response:
    with _session(request) as session:
        viewer = _viewer(request, session)
        answer_as = media.negotiate(request.headers.get("accept"))
        found = service.get_collection(session, viewer=viewer, root=root, key=cid)
        return _json(service.collection_resource(viewer, found), answer_as)


@_route("/{root}/collections/{cid}/manifest/", ["GET"])
def manifest(request: Request, root: str, cid: str) -> Response:
    return _read(request, root, cid, "manifest", service.OBJECTS_PARAMS)


@_route("/{root}/collections/{cid}/objects/", ["GET"])
def get_objects(request: Request, root: str, cid: str) -> Response:
    return _read(request, root, cid, "objects", service.OBJECTS_PARAMS)


@_route("/{root}/collections/{cid}/objects/", ["POST"])
async def add_objects(request: Request, root: str, cid: str) -> Response:
    def authenticate() -> Viewer:
        with _session(request) as session:
            return _viewer(request, session)

    viewer = await run_in_threadpool(authenticate)  # before accepting any bytes
    media.require_content_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > service.MAX_CONTENT_LENGTH:
        raise media.PayloadTooLarge(f"the body exceeds max_content_length ({service.MAX_CONTENT_LENGTH} bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > service.MAX_CONTENT_LENGTH:
            raise media.PayloadTooLarge(f"the body exceeds max_content_length ({service.MAX_CONTENT_LENGTH} bytes)")

    def work() -> Response:
        with _session(request) as session:
            answer_as = media.negotiate(request.headers.get("accept"))
            found = service.get_collection(session, viewer=viewer, root=root, key=cid)
            status = service.add_objects(session, viewer=viewer, collection=found, body=bytes(body),
                                         tmp_dir=request.app.state.settings.data_dir / "tmp")
        return _json(status, answer_as, status=202)

    return await run_in_threadpool(work)


@_route("/{root}/collections/{cid}/objects/{stix_id}/", ["GET"])
def get_object(request: Request, root: str, cid: str, stix_id: str) -> Response:
    return _read(request, root, cid, "object", service.OBJECT_PARAMS, stix_id=stix_id)


@_route("/{root}/collections/{cid}/objects/{stix_id}/", ["DELETE"])
def delete_object(request: Request, root: str, cid: str, stix_id: str) -> Response:
    with _session(request) as session:
        viewer = _viewer(request, session)
        media.negotiate(request.headers.get("accept"))
        q, _limit, _next = service.parse_query(_params(request), service.DELETE_PARAMS, default_version="all")
        found = service.get_collection(session, viewer=viewer, root=root, key=cid)
        service.delete_object(session, viewer=viewer, collection=found, stix_id=stix_id, q=q)
    return Response(status_code=200, media_type=media.TAXII)


@_route("/{root}/collections/{cid}/objects/{stix_id}/versions/", ["GET"])
def versions(request: Request, root: str, cid: str, stix_id: str) -> Response:
    return _read(request, root, cid, "versions", service.VERSIONS_PARAMS, stix_id=stix_id)


@router.api_route("/{rest:path}", methods=_ALL_METHODS, include_in_schema=False)
def unknown(request: Request, rest: str) -> Response:
    """Anything else under /taxii2/: 405 when the path exists for another method, else 404 (both only
    after authentication, so an anonymous client learns nothing, not even which paths exist)."""
    with _session(request) as session:
        _viewer(request, session)
    for route in router.routes:
        if route is not request.scope.get("route") and isinstance(route, APIRoute) and route.path != "/taxii2/{rest:path}":
            match, _ = route.matches(request.scope)
            if match == Match.PARTIAL:
                raise media.MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    raise NotFound(f"no TAXII resource at {request.url.path}")
