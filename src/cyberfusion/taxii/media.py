"""TAXII 2.1 media types, content negotiation, timestamps and the error resource."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from cyberfusion.errors import CyberfusionError, InvalidInput

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
_TAXII_BASE = "application/taxii+json"
_STIX_BASE = "application/stix+json"


class NotAcceptable(CyberfusionError):
    status = 406
    title = "Not Acceptable"
    slug = "not-acceptable"


class UnsupportedMediaType(CyberfusionError):
    status = 415
    title = "Unsupported Media Type"
    slug = "unsupported-media-type"


class PayloadTooLarge(CyberfusionError):
    status = 413
    title = "Payload Too Large"
    slug = "payload-too-large"


class MethodNotAllowed(CyberfusionError):
    status = 405
    title = "Method Not Allowed"
    slug = "method-not-allowed"


def _media_ranges(header: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        out.append((pieces[0].lower(), params))
    return out


def negotiate(accept: str | None, offered: tuple[str, ...] = (_TAXII_BASE,)) -> str:
    """The media type to answer with, or NotAcceptable (406).

    A missing Accept header, ``*/*`` and ``application/*`` take the first offered type;
    a ``version`` parameter other than 2.1 and ``q=0`` exclude a range.
    """
    if not accept or not accept.strip():
        return TAXII if offered[0] == _TAXII_BASE else STIX
    best: tuple[float, int, str] | None = None
    for mtype, params in _media_ranges(accept):
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 0.0
        if q <= 0 or params.get("version", "2.1") != "2.1":
            continue
        for rank, base in enumerate(offered):
            if mtype in (base, "*/*", "application/*"):
                candidate = (q, -rank, base)
                if best is None or candidate > best:
                    best = candidate
                break
    if best is None:
        raise NotAcceptable(f"the Accept header {accept!r} allows none of: "
                            + ", ".join(f"{o};version=2.1" for o in offered))
    return f"{best[2]};version=2.1"


def require_content_type(content_type: str | None) -> None:
    """POST bodies are TAXII envelopes (or STIX bundles) of version 2.1, else 415."""
    ranges = _media_ranges(content_type or "")
    if ranges:
        mtype, params = ranges[0]
        if mtype in (_TAXII_BASE, _STIX_BASE) and params.get("version", "2.1") == "2.1":
            return
    raise UnsupportedMediaType(f"Content-Type {content_type!r} is not supported; send {TAXII}")


# --- timestamps -------------------------------------------------------------------------------

_TS = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]00:00)", re.I)


def parse_timestamp(value: str, *, field: str) -> datetime:
    """A TAXII timestamp (RFC 3339, UTC); anything else is bad input (400).

    Strict on purpose: ``2016-11-04T03:04:051Z`` (three-digit seconds, seen in an upstream
    example) is rejected rather than guessed at.
    """
    m = _TS.fullmatch(value.strip())
    if m is None:
        raise InvalidInput(f"{value!r} is not an RFC 3339 UTC timestamp such as 2026-01-31T12:00:00.000Z",
                           field=field)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a valid timestamp: {exc}", field=field) from None


def format_added(dt: datetime) -> str:
    """date_added with full microsecond precision, so added_after loses nothing."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_version(dt: datetime) -> str:
    """An object's version (its modified time): milliseconds unless finer precision was given."""
    dt = dt.astimezone(UTC)
    if dt.microsecond % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# --- the error resource (TAXII 2.1 section 3.6.1) ----------------------------------------------

def error_body(exc: CyberfusionError) -> dict[str, Any]:
    body: dict[str, Any] = {"title": exc.title, "description": exc.detail, "http_status": str(exc.status),
                            "error_code": exc.slug}
    details = {k: v for k, v in exc.extra.items() if k in ("field", "errors")}
    if details:
        body["details"] = details
    return body
