"""All settings in one place (environment variables with the CFC_ prefix, or a .env file).

Invalid settings stop start-up with one clear line: see ``load_settings``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cyberfusion.errors import ConfigurationError

# The generated secret key file's text per (path, inode, mtime): see Settings.effective_secret_key.
_SECRET_FILES: dict[tuple[str, int, int], str] = {}


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("cyberfusion", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CFC_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Where the embedded database and generated files live.")
    database_url: str | None = Field(default=None, description=(
        "SQLAlchemy URL. Default: SQLite file cyberfusion.db in the data dir. "
        "Production: postgresql+psycopg://user@host/db."))
    secret_key: str | None = Field(default=None, min_length=32, description=(
        "Signs session cookies and CSRF tokens. Default: generated once into the data dir."))
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    k_threshold: int = Field(default=3, ge=1, description=(
        "Statistics hide any cell built from fewer contributing organisations."))
    retention_review_years: int = Field(default=5, ge=1)
    retention_grace_days: int = Field(default=30, ge=0)
    token_default_days: int = Field(default=90, ge=1)
    common_threshold: int = Field(default=20, ge=1, description="Values in more contributions are common: not clustered")
    lookup_max_values: int = Field(default=100_000, ge=1, description="Most values in one hit/no-hit lookup")
    lookup_filter_max_values: int = Field(default=2_000_000, ge=0, description=(
        "SQLite: most stored values in the batch lookup's in-memory filter (fusion/valuefilter.py; per process "
        "~12 MB a million in C, 70-120 MB without the extension); above it, or 0, every value asked is looked "
        "up in the database"))
    native: bool = Field(default=True, description=(
        "Use the C extension for the batch lookup's per-value path and its value filter's set when it is "
        "built (false: the Python path)"))
    cluster_max_nodes: int = Field(default=200, ge=2, le=5000, description="Default most objects in one related-objects cluster")
    alert_interval_seconds: int = Field(default=300, ge=0, description="At most one alert batch per recipient per interval")
    webhook_max_attempts: int = Field(default=6, ge=1, description="Failed webhook/e-mail deliveries before dead-letter")
    webhook_backoff_seconds: int = Field(default=30, ge=1, description="First retry delay; doubles with each failure")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="HTTP/SMTP timeout per delivery attempt")
    webhook_allow_private: bool = Field(default=False, description="Allow webhooks to loopback/private addresses")
    smtp_host: str | None = Field(default=None, description="Send alert e-mail over SMTP; unset: write .eml files")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port")
    smtp_user: str | None = Field(default=None, description="SMTP login (optional)")
    smtp_password: str | None = Field(default=None, repr=False, description="SMTP password (optional)")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS on the SMTP connection")
    mail_from: str = Field(default="cyberfusion@localhost", description="From address of alert e-mail")
    mail_dir: Path | None = Field(default=None, description="Where alert e-mail files go (default <data dir>/mail)")
    analyzer_auth: dict[str, str] = Field(default_factory=dict, repr=False, description="JSON: analyzer name -> auth header value")
    analyzer_cache_hours: int = Field(default=24, ge=0, description="How long an analyzer result is reused")
    taxii_status_days: int = Field(default=7, ge=1, description="Days a TAXII POST's status resource is kept (job taxii.purge_status)")
    server_warm_up: bool = Field(default=True, description="A server process loads at start, in a background thread, what its first requests and jobs would otherwise load on the spot (STIX validation, the public-suffix list, the geolocation tables); /readyz answers 503 until it is done")
    sqlite_checkpoint_seconds: float = Field(default=1.0, ge=0, description="SQLite: the server checkpoints the write-ahead log from a background thread this often (every 0.1 s while the log grows), so requests do not (0: requests checkpoint as SQLite does by default)")
    server_threads: int = Field(default=40, ge=1, description="Threads per server process that run request handlers (anyio's pool; its default is 40): requests beyond it wait in the event loop")
    db_pool_size: int | None = Field(default=None, ge=1, description="Database connections a server process keeps open (default: SQLite, one per request thread and background thread, server_threads + 8; PostgreSQL 10); more are opened when in use and closed when given back (PostgreSQL: up to 2 x (server_threads + 8) in all)")
    inprocess_worker: bool | None = Field(default=None, description="Run background jobs in the server process (default: on with SQLite, off with PostgreSQL, where `cfc worker` runs them)")
    analyzer_budget: int = Field(default=50, ge=1, description="Default max automatic analyzer runs per contribution")
    rfi_sla_immediate_hours: int = Field(default=4, ge=1, description="RFI service level: immediate")
    rfi_sla_urgent_hours: int = Field(default=24, ge=1, description="RFI service level: urgent")
    rfi_sla_priority_hours: int = Field(default=72, ge=1, description="RFI service level: priority")
    rfi_sla_routine_hours: int = Field(default=240, ge=1, description="RFI service level: routine")
    rfi_duty_lead: str | None = Field(default=None, description="E-mail of the duty lead who gets SLA breaches")
    web_session_hours: int = Field(default=12, ge=1, le=720, description="Web sign-in lasts at most this long")
    web_idle_minutes: int = Field(default=60, ge=5, description="Web session ends after this long without a request")
    web_login_max_failures: int = Field(default=5, ge=1, description="Failed web sign-ins before the account is locked (with growing back-off)")
    web_lockout_max_minutes: int = Field(default=15, ge=1, description="Longest web sign-in lock after repeated failures")
    max_request_mb: int = Field(default=100, ge=1, description="Largest HTTP request body in MiB (413 above it); CLI imports stream and have no limit")
    ingest_worker: bool = Field(default=True, description="Large imports (4 MiB and more) are read and checked by a second process while the importing one writes (docs/ingest.md); false: always in-process")
    api_auth_max_failures: int = Field(default=20, ge=1, description="Failed API/TAXII token authentications from one client address before further failures get 429 (growing back-off)")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        return v

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'cyberfusion.db'}"

    def effective_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._create_secret_file(path)
            st = os.stat(path)
        # Keyed HMACs (lookups, cursors) ask for the key on every request: read the file once per
        # version of it (inode + mtime), not each time (a fifth of a one-value lookup's CPU).
        stamp = (str(path), st.st_ino, st.st_mtime_ns)
        cached = _SECRET_FILES.get(stamp)
        if cached is None:
            cached = _SECRET_FILES[stamp] = path.read_text().strip()
        return cached

    def _create_secret_file(self, path: Path) -> None:
        import secrets
        import tempfile

        # Several server processes may start at once: the first link wins, all read the same key.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".secret-")  # created 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)


def load_settings() -> Settings:
    """Read the settings or raise ConfigurationError with one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "CFC_" + str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigurationError(f"invalid setting {name}: {err['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
