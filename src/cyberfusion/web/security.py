"""Cookies, CSRF tokens and the security headers of every web response.

CSRF: a synchroniser token derived from the browser's own secret cookie,
``HMAC(secret key, "csrf|" + cookie)``. Signed-in browsers derive it from the session
cookie; the sign-in form from a random anonymous cookie. A cross-site page can
neither read the cookie nor compute the token, and SameSite=Lax keeps the cookie
off cross-site POSTs in the first place.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "cfc_session"
ANON_COOKIE = "cfc_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# The interactive chart page only: plotly.js writes its own stylesheet and style attributes at run
# time. Scripts stay 'self' only; every value on the page is escaped as everywhere else.
CSP_CHARTS = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database keeps of a session token: a stolen table opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(secret: str, cookie_value: str) -> str:
    return hmac.new(secret.encode(), f"csrf|{cookie_value}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, submitted: str | None, cookie_values: list[str]) -> bool:
    if not submitted:
        return False
    return any(hmac.compare_digest(csrf_for(secret, c), submitted) for c in cookie_values if c)


def over_tls(request: Request) -> bool:
    """True when the browser talks TLS to us or to the proxy in front (X-Forwarded-Proto)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=over_tls(request))


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=over_tls(request))


def add_headers(request: Request, response: Response, *, cacheable: bool = False) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "same-origin"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if not cacheable:
        # Pages carry intelligence: never keep them in a shared or back/forward cache.
        h["Cache-Control"] = "no-store"
    if over_tls(request):
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
