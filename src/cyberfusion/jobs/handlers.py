"""The job kinds the platform runs in the background. Importing this module registers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.config import get_settings
from cyberfusion.intel import retention
from cyberfusion.jobs.service import handler


@handler("retention.run")
def run_retention(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    report = retention.run(session, grace_days=int(payload.get("grace_days", get_settings().retention_grace_days)))
    return {k: v for k, v in report.as_dict().items() if k != "contributions"}
