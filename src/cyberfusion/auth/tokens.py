"""API tokens: shown once, stored as a digest, with expiry, revocation and last use.

Format: ``cfc_<prefix>_<secret>``. The prefix finds the row; the SHA-256 of the whole
token is compared in constant time. Tokens carry 256 bits of randomness, so a fast
digest is as safe as a slow password hash here and keeps every request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput, NotFound, Unauthenticated
from cyberfusion.partners import repository
from cyberfusion.partners.models import ApiToken, Member

_TOKEN_RE = re.compile(r"^cfc_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
# Request authentication trusts a token checked less than this long ago without reading its
# row again (or recording its use again): revocation by this process takes effect at once,
# by another process (another server worker, the CLI) within this many seconds.
CACHE_SECONDS = 5.0
_RECENT: dict[str, tuple[int, datetime | None, float]] = {}  # digest -> (member, expires, checked at)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    record: ApiToken


def issue(session: Session, *, member: Member, name: str = "", expires_days: int | None = 90,
          now: datetime | None = None) -> IssuedToken:
    if expires_days is not None and expires_days < 1:
        raise InvalidInput("must be at least 1 day", field="expires_days")
    now = now or utcnow()
    prefix = secrets.token_hex(6)
    token = f"cfc_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiToken(member_id=member.id, name=name, prefix=prefix, digest=_digest(token),
                      created_at=now,
                      expires_at=now + timedelta(days=expires_days) if expires_days else None)
    session.add(record)
    session.flush()
    return IssuedToken(token, record)


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> Member:
    """The member a bearer token belongs to, or Unauthenticated with the reason."""
    m = _TOKEN_RE.match(token.strip())
    if not m:
        raise Unauthenticated("malformed token: expected cfc_<12 hex>_<43 characters>")
    record = repository.token_by_prefix(session, m.group(1))
    if record is None or not hmac.compare_digest(record.digest, _digest(token.strip())):
        raise Unauthenticated("unknown token")
    now = now or utcnow()
    if record.revoked_at is not None:
        raise Unauthenticated("token revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthenticated("token expired")
    member = repository.member_by_id(session, record.member_id)
    if member is None or not member.active:
        raise Unauthenticated("member inactive")
    record.last_used_at = now
    if len(_RECENT) > 10_000:
        _RECENT.clear()
    _RECENT[record.digest] = (member.id, record.expires_at, time.monotonic())
    return member


def recently_checked(token: str, *, now: datetime) -> int | None:
    """The member id of a token checked in the last ``CACHE_SECONDS`` and not expired since;
    None when it must be checked again (``authenticate``). The member's own state (active or
    not) is the caller's to read."""
    recent = _RECENT.get(_digest(token.strip()))
    if recent is None or time.monotonic() - recent[2] >= CACHE_SECONDS:
        return None
    member_id, expires_at, _checked = recent
    return member_id if expires_at is None or expires_at > now else None


def authenticate_request(session: Session, token: str, *, now: datetime | None = None) -> Member:
    """``authenticate`` for each API request: a token checked in the last ``CACHE_SECONDS``
    is not read again; its member is (a deactivated member is refused at once)."""
    now = now or utcnow()
    member_id = recently_checked(token, now=now)
    if member_id is not None:
        member = repository.member_by_id(session, member_id)
        if member is not None and member.active:
            return member
    return authenticate(session, token, now=now)


def revoke(session: Session, *, prefix: str, now: datetime | None = None) -> ApiToken:
    m = re.match(r"^(?:cfc_)?([a-z0-9]{12})", prefix.strip())
    record = repository.token_by_prefix(session, m.group(1)) if m else None
    if record is None:
        raise NotFound(f"no token with prefix {prefix!r}")
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
    session.flush()
    _RECENT.pop(record.digest, None)
    return record
