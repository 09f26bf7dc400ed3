"""Statistics over intelligence, with small cells suppressed so a source cannot be inferred."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.intel import repository
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer


def observables_by_kind(session: Session, *, viewer: Viewer, purpose: str, k: int) -> dict[str, Any]:
    policy.require_purpose(viewer, purpose)
    rows = repository.observable_stats(session, viewer=viewer, purpose=purpose)
    kept, suppressed = policy.suppress_small_cells(rows, k=k)
    audit.record(session, action="intel.statistics", viewer=viewer, purpose=purpose,
                 detail={"table": "observables_by_kind", "suppressed": suppressed})
    return {"k_threshold": k, "cells": sorted(kept, key=lambda r: r["kind"]), "suppressed_cells": suppressed}
