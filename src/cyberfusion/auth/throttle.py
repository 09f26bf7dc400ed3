"""A limit on failed API-token authentications per client address (REST API and TAXII).

Tokens carry 256 bits of randomness, so guessing one is hopeless; the limit keeps a
guessing client from costing the server work and makes it visible. After
``api_auth_max_failures`` failures from one address within an hour, every further wrong
token from it is answered 429 with ``Retry-After`` (30 s, doubling with each further
failure up to ``web_lockout_max_minutes``) instead of 401. A quiet hour forgets.

Only failures touch the counter: a request with a valid token costs nothing extra, and a
member behind the same address as a guesser keeps working.

The counts live in the database table the web sign-in back-off uses (key
``api:<address>``), so every API process sees the same lock. Behind a reverse proxy the
address is the one uvicorn takes from ``X-Forwarded-For``: see docs/operations.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cyberfusion.config import Settings
from cyberfusion.errors import TooManyRequests
from cyberfusion.web import repository

FIRST_LOCK_SECONDS = 30
QUIET_WINDOW = timedelta(hours=1)


def _key(client: str) -> str:
    return f"api:{client}"[:300]


def failed_attempt(session: Session, *, client: str, settings: Settings, now: datetime) -> None:
    """Count one wrong credential and commit the count (it must outlive the failing request);
    TooManyRequests when the address is, or has just become, locked."""
    key = _key(client)
    locked = [row.locked_until for row in repository.throttles(session, [key])
              if row.locked_until is not None and row.locked_until > now]
    if not locked:
        failures = repository.count_failure(session, key=key, now=now, window_start=now - QUIET_WINDOW)
        over = failures - settings.api_auth_max_failures
        if over > 0:
            seconds = min(FIRST_LOCK_SECONDS * 2 ** min(over - 1, 20), settings.web_lockout_max_minutes * 60)
            until = now + timedelta(seconds=seconds)
            repository.lock(session, key=key, until=until)
            locked = [until]
    session.commit()
    if locked:
        wait = int((max(locked) - now).total_seconds()) + 1
        raise TooManyRequests(f"too many failed authentications from this address; retry in {wait} s",
                              retry_after=wait)


__all__ = ["failed_attempt"]
