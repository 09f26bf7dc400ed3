"""All settings in one place (environment variables with the CFC_ prefix, or a .env file).

Invalid settings stop start-up with one clear line: see ``load_settings``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cyberfusion.errors import ConfigurationError


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
        import secrets

        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


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
