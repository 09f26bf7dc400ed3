"""Web sign-in state kept in the database, so every process behind a load balancer shares it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base, UTCDateTime


class WebSession(Base):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The purpose the member reads for on every page (sharing.markings.PURPOSES).
    purpose: Mapped[str] = mapped_column(String(32))
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class LoginThrottle(Base):
    """Failed sign-ins per account ("account:<e-mail>") and per client address ("ip:<address>")."""

    __tablename__ = "web_login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
