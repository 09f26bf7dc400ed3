"""Web sign-in: password check (argon2id), server-side sessions, and a back-off after
repeated failures that every process sees (it lives in the database).

Back-off: after ``web_login_max_failures`` failures for one account (four times as
many from one client address), each further failure locks sign-in for 30 s, doubling
up to ``web_lockout_max_minutes``. A quiet hour forgets the failures; a success clears
the account's count. While locked, no password is even checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.auth.passwords import hash_password, verify_password
from cyberfusion.config import Settings
from cyberfusion.db import utcnow
from cyberfusion.errors import Forbidden, InvalidInput, NotFound
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import Member
from cyberfusion.sharing.markings import PURPOSES
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import repository
from cyberfusion.web.models import WebSession
from cyberfusion.web.security import new_token, token_digest

FIRST_LOCK_SECONDS = 30
IP_FACTOR = 4
QUIET_WINDOW = timedelta(hours=1)
TOUCH_EVERY = timedelta(seconds=60)
WRONG = "The e-mail address or the password is wrong."


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Unknown accounts cost as much time as known ones: no account discovery by timing.
    return hash_password("not-a-password-of-anyone")


@dataclass(frozen=True, slots=True)
class SignIn:
    ok: bool
    token: str | None = None
    member_id: int | None = None
    message: str | None = None
    retry_after: int | None = None  # seconds, when locked


def _keys(email: str, client: str) -> dict[str, int]:
    return {f"account:{email}": 1, f"ip:{client}": IP_FACTOR}


def _lock_seconds(failures: int, threshold: int, settings: Settings) -> int | None:
    if failures < threshold:
        return None
    return min(FIRST_LOCK_SECONDS * 2 ** min(failures - threshold, 20), settings.web_lockout_max_minutes * 60)


def default_purpose(viewer: Viewer | None) -> str:
    allowed = viewer.agreement_purposes if viewer else frozenset()
    for p in ("investigation", *PURPOSES):
        if p in allowed:
            return p
    return "investigation"


def sign_in(session: Session, *, email: str, password: str, client: str, user_agent: str,
            settings: Settings, now: datetime | None = None) -> SignIn:
    """Check the password (unless locked out) and open a session; failures are counted."""
    now = now or utcnow()
    email = email.strip().lower()
    if not email or not password:
        raise InvalidInput("enter your e-mail address and password", field="email" if not email else "password")
    keys = _keys(email, client)
    locked = [t.locked_until for t in repository.throttles(session, list(keys))
              if t.locked_until is not None and t.locked_until > now]
    if locked:
        wait = int((max(locked) - now).total_seconds()) + 1
        return SignIn(False, message=f"Too many failed sign-ins. Try again in {_human(wait)}.", retry_after=wait)

    member = partners_repo.member_by_email(session, email)
    ok = verify_password(member.password_hash if member and member.password_hash else _dummy_hash(), password)
    if not (ok and member is not None and member.active and member.password_hash):
        return _failed(session, email=email, keys=keys, member=member, settings=settings, now=now)

    repository.clear_throttle(session, f"account:{email}")
    repository.delete_expired_sessions(session, now=now)
    token = new_token()
    state = partners.access_state(session, member, today=now.date())
    repository.add(session, WebSession(
        id=token_digest(token), member_id=member.id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(hours=settings.web_session_hours),
        purpose=default_purpose(state.viewer), user_agent=user_agent[:200]))
    audit.record(session, action="web.signin", member_id=member.id, organisation_id=member.organisation_id,
                 detail={"client": client})
    return SignIn(True, token=token, member_id=member.id)


def _failed(session: Session, *, email: str, keys: dict[str, int], member: Member | None,
            settings: Settings, now: datetime) -> SignIn:
    longest = 0
    for key, factor in keys.items():
        failures = repository.count_failure(session, key=key, now=now, window_start=now - QUIET_WINDOW)
        seconds = _lock_seconds(failures, settings.web_login_max_failures * factor, settings)
        if seconds:
            repository.lock(session, key=key, until=now + timedelta(seconds=seconds))
            longest = max(longest, seconds)
    audit.record(session, action="web.signin.failed", member_id=member.id if member else None,
                 organisation_id=member.organisation_id if member else None,
                 detail={"email": email, "locked_seconds": longest})
    if longest:
        return SignIn(False, message=f"{WRONG} Too many failed sign-ins: try again in {_human(longest)}.",
                      retry_after=longest)
    return SignIn(False, message=WRONG)


def _human(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def current(session: Session, *, token: str | None, settings: Settings,
            now: datetime | None = None) -> tuple[WebSession, Member] | None:
    """The live session and its member for a cookie token, or None (expired sessions are ended)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = repository.web_session(session, token_digest(token))
    if row is None:
        return None
    member = partners_repo.member_by_id(session, row.member_id)
    idle_end = row.last_seen_at + timedelta(minutes=settings.web_idle_minutes)
    if row.expires_at <= now or idle_end <= now or member is None or not member.active:
        repository.delete_session(session, row.id)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row, member


def sign_out(session: Session, *, session_id: str, member_id: int) -> None:
    repository.delete_session(session, session_id)
    audit.record(session, action="web.signout", member_id=member_id)


def _row(session: Session, session_id: str) -> WebSession:
    row = repository.web_session(session, session_id)
    if row is None:
        raise NotFound("your session has ended; sign in again")
    return row


def set_purpose(session: Session, *, session_id: str, viewer: Viewer, purpose: str) -> None:
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}; one of: {', '.join(PURPOSES)}", field="purpose")
    if purpose not in viewer.agreement_purposes:
        raise Forbidden(f"your organisation's agreement does not permit the purpose {purpose!r}")
    _row(session, session_id).purpose = purpose
    session.flush()


def acknowledge(session: Session, *, session_id: str, member_id: int, today: date | None = None) -> None:
    """The seconded expert accepts the confidentiality terms of the current secondment."""
    secondment = partners_repo.current_secondment(session, member_id=member_id, today=today or date.today())
    if secondment is None:
        raise NotFound("you have no secondment in its term")
    partners.acknowledge_confidentiality(session, secondment=secondment)
    member = partners_repo.member_by_id(session, member_id)
    assert member is not None
    state = partners.access_state(session, member, today=today)
    _row(session, session_id).purpose = default_purpose(state.viewer)
    session.flush()
