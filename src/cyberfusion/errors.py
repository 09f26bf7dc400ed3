"""One error hierarchy, mapped once to problem+json (api/problems.py) and CLI exit codes (cli.py).

Every error says *what* went wrong and, for bad input, *where*: the file, the
position inside it (CSV line, object index or STIX id) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect in an input: where it is and why it is wrong."""

    reason: str
    file: str | None = None
    location: str | None = None  # e.g. "line 12", "object 3 (indicator--…)"
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("file", self.file), ("location", self.location),
                                  ("field", self.field), ("reason", self.reason)) if v is not None}

    def __str__(self) -> str:
        where = ", ".join(p for p in (self.file, self.location) if p)
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}: {what}{self.reason}" if where else f"{what}{self.reason}"


class CyberfusionError(Exception):
    """Root of every error the platform raises on purpose."""

    status: int = 500
    title: str = "Internal error"
    slug: str = "internal-error"
    exit_code: int = 1

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})

    def as_problem(self) -> dict[str, Any]:
        """RFC 9457 body (without instance, which the HTTP layer adds)."""
        body: dict[str, Any] = {
            "type": f"https://cyberfusion.invalid/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidInput(CyberfusionError):
    """Bad input: a file, an argument, a request body. Nothing was written."""

    status = 422
    title = "Invalid input"
    slug = "invalid-input"
    exit_code = 2

    def __init__(self, problems: Problem | list[Problem] | str, *, field: str | None = None,
                 file: str | None = None, location: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(reason=problems, field=field, file=file, location=location)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(str(first) + more)
        self.extra["errors"] = [p.as_dict() for p in self.problems]
        if first.field:
            self.extra["field"] = first.field

    @property
    def field(self) -> str | None:
        return self.problems[0].field


class Unauthenticated(CyberfusionError):
    status = 401
    title = "Authentication required"
    slug = "unauthenticated"


class Forbidden(CyberfusionError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(CyberfusionError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(CyberfusionError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class Unavailable(CyberfusionError):
    status = 503
    title = "Service unavailable"
    slug = "unavailable"

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyRequests(CyberfusionError):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageFull(CyberfusionError):
    status = 507
    title = "Insufficient storage"
    slug = "storage-full"


class ConfigurationError(CyberfusionError):
    title = "Invalid configuration"
    slug = "configuration"
    exit_code = 2


__all__ = [
    "CyberfusionError", "InvalidInput", "Problem", "Unauthenticated", "Forbidden",
    "NotFound", "Conflict", "Unavailable", "TooManyRequests", "StorageFull",
    "ConfigurationError",
]
