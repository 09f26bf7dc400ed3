"""Small pure helpers shared by the tasking packages: validation, set columns, cursors, roles."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from cyberfusion.errors import Forbidden, InvalidInput
from cyberfusion.kit.regions import country_code
from cyberfusion.sharing.viewer import Viewer


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{value!r} is not one of: {', '.join(allowed)}", field=field)
    return value


def text(value: str | None, field: str, *, max_len: int = 200, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput("must not be empty", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"at most {max_len} characters", field=field)
    return value


def csv(values: Iterable[object]) -> str:
    """A set stored as ",a,b," so that membership is a plain LIKE on every backend."""
    items = [str(v) for v in values]
    return "," + ",".join(items) + "," if items else ""


def split_ids(value: str) -> list[int]:
    return [int(v) for v in value.strip(",").split(",") if v]


def split_codes(value: str) -> list[str]:
    return [v for v in value.strip(",").split(",") if v]


def countries(values: Iterable[str], field: str = "countries") -> str:
    return csv(sorted({country_code(c, field=field) for c in values}))


def aware(value: datetime | date | None, field: str) -> datetime | None:
    """UTC datetime; a bare date means the end of that day (UTC); naive times are read as UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise InvalidInput("not a date or timestamp", field=field)
        return datetime.combine(value, time(23, 59, 59), tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_host_analyst(viewer: Viewer) -> bool:
    return viewer.org_kind == "host_centre" and viewer.has_role("analyst")


def require_host_analyst(viewer: Viewer, doing: str) -> None:
    if not is_host_analyst(viewer):
        raise Forbidden(f"{doing} needs a host-centre analyst")


def encode_cursor(*parts: object) -> str:
    raw = "|".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != n:
        raise InvalidInput("not a cursor returned by this server", field="cursor")
    return parts
