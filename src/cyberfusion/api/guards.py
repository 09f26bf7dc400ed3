"""Two pure ASGI middlewares in front of every route: security headers, and ``RequestGuard``
(body-size limit, NUL in URLs; documented in docs/operations.md "Input limits").

``SecurityHeaders`` adds headers to every response (API, TAXII, probes, docs; web pages
add more). Headers a route set itself win: the web pages' own CSP (web/security.py)
stays as it is.

* ``X-Content-Type-Options: nosniff`` everywhere: a JSON body that echoes input (a STIX
  name, an error detail) is never sniffed into HTML.
* ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` on everything that
  has no policy of its own (API, TAXII, probes, 404s: they load nothing); the interactive
  docs (/docs, /redoc) get only ``frame-ancestors 'none'``, because Swagger UI runs inline
  and CDN scripts.
* ``Cache-Control: no-store`` on API and TAXII answers: they carry intelligence.
* ``Strict-Transport-Security`` when the request came over TLS (directly or, per
  ``X-Forwarded-Proto``, through the reverse proxy).
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'"
FRAME_ONLY_CSP = "frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"
_DATA_PREFIXES = ("/api/", "/taxii2")
_DOCS = ("/docs", "/redoc")


def _over_tls(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            return value.split(b",")[0].strip().lower() == b"https"
    return False


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        data = path.startswith(_DATA_PREFIXES)
        csp = FRAME_ONLY_CSP if path.startswith(_DOCS) else API_CSP
        tls = _over_tls(scope)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Content-Security-Policy", csp)
                if data:
                    headers.setdefault("Cache-Control", "no-store")
                if tls:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)


class RequestGuard:
    """Refuses before any work what no route can take.

    * A body over the limit: a declared Content-Length over it gets 413 at once; a body sent
      without a length is counted while it is read, and past the limit the read raises
      HTTPException(413), which every route class maps to its own error format.
    * A NUL character (``%00``) in the path or query string: 422 (PostgreSQL text cannot hold
      U+0000, and no identifier, filter or search term contains one).

    Errors come in the format of the path: a TAXII error resource under /taxii2, problem+json
    elsewhere.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(scope, send, 413, "payload-too-large", "Payload too large",
                          f"the request body is larger than {self._mib} MiB (CFC_MAX_REQUEST_MB)")
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await _refuse(scope, send, 422, "invalid-input", "Invalid input",
                          "the URL contains a NUL character (%00)", field="query")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"the request body is larger than {self._mib} MiB")
            return message

        await self.app(scope, counted, send)

    @property
    def _mib(self) -> int:
        return self.max_bytes // (1024 * 1024)


async def _refuse(scope: Scope, send: Send, status: int, slug: str, title: str, detail: str,
                  field: str | None = None) -> None:
    if scope.get("path", "").startswith("/taxii2"):
        media = "application/taxii+json;version=2.1"
        status = 400 if status == 422 else status  # TAXII answers bad requests with 400
        body: dict[str, object] = {"title": title, "description": detail, "http_status": str(status),
                                   "error_code": slug}
    else:
        media = "application/problem+json"
        body = {"type": f"https://cyberfusion.invalid/problems/{slug}", "title": title, "status": status,
                "detail": detail, "instance": scope.get("path", "")}
        if field:
            body["field"] = field
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()), (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["RequestGuard", "SecurityHeaders"]
