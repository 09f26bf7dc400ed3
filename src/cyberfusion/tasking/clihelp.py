"""Small helpers shared by the tasking command modules (options, the acting member)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from sqlalchemy.orm import Session

from cyberfusion.errors import InvalidInput
from cyberfusion.partners import service as partners
from cyberfusion.sharing.viewer import Viewer

AsOpt = typer.Option(..., "--as", help="e-mail of the member acting")


def viewer(session: Session, email: str) -> Viewer:
    return partners.resolve_viewer(session, partners.get_member(session, email))


def when(value: str | None, field: str) -> datetime | None:
    """A date (end of that day, UTC) or an ISO timestamp."""
    from cyberfusion.tasking.common import aware
    if not value:
        return None
    try:
        parsed: Any = datetime.fromisoformat(value) if "T" in value else datetime.fromisoformat(value).date()
    except ValueError:
        raise InvalidInput(f"not a date or timestamp: {value!r}", field=field) from None
    return aware(parsed, field)
