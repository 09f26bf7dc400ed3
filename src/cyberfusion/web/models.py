"""Web state kept in the database, so every process behind a load balancer shares it: sign-in
sessions, the sign-in back-off, and contributions being checked or stored in the background."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
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


class WebImport(Base):
    """A contribution checked or stored in the background, polled by the browser that started it.

    The import itself runs in one transaction (all or nothing); this row is written in short
    transactions of its own, so any process can show the stage, the count so far and the outcome.
    """

    __tablename__ = "web_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # also names the stored upload
    session_id: Mapped[str] = mapped_column(String(64), index=True)  # the browser session that owns it
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    file_name: Mapped[str] = mapped_column(String(200))
    fmt: Mapped[str] = mapped_column(String(16))
    form: Mapped[dict] = mapped_column(JSON, default=dict)  # the handling form's values
    stage: Mapped[str] = mapped_column(String(8))  # check | store
    status: Mapped[str] = mapped_column(String(8))  # running | done | failed
    items: Mapped[int] = mapped_column(Integer, default=0)  # lines or objects read so far
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes of the input
    outcome: Mapped[dict | None] = mapped_column(JSON)  # counts and problems when finished
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
