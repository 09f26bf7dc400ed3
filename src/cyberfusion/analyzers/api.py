"""/api/v1 endpoints: run analyzers on an object, follow runs, list and configure analyzers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cyberfusion.analyzers import service
from cyberfusion.analyzers.models import RUN_STATUSES
from cyberfusion.analyzers.schemas import AnalyzerConfigIn
from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.errors import InvalidInput
from cyberfusion.partners.service import require_role

router = APIRouter(prefix="/api/v1", tags=["analyzers"], route_class=SessionRoute)
Purpose = Annotated[str, Query(description="Why you read: investigation, victim_notification, network_defence, "
                                           "research, threat_reporting, ai_processing")]


@router.post("/objects/{stix_id}/analyze")
def analyze_object(stix_id: str, session: SessionDep, viewer: CurrentViewer, purpose: Purpose,
                   analyzer: str | None = None,
                   wait: bool = Query(True, description="false: queue the runs as a background job and "
                                                        "answer at once; follow them at /analyzer-runs")
                   ) -> dict[str, Any]:
    """Run the analyzers that accept this object's observables (or one, by name)."""
    return {"runs": service.analyze_object(session, viewer=viewer, purpose=purpose, stix_id=stix_id,
                                           analyzer=analyzer, execute=wait)}


@router.get("/analyzers")
def list_analyzers(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.list_analyzers(session)


@router.put("/analyzers/{name}")
def configure_analyzer(name: str, body: AnalyzerConfigIn, session: SessionDep,
                       viewer: CurrentViewer) -> dict[str, Any]:
    require_role(viewer, "platform_admin")
    return service.configure(session, name=name, actor=viewer, **body.model_dump())


@router.get("/analyzer-runs")
def list_runs(session: SessionDep, viewer: CurrentViewer, purpose: Purpose, status: str | None = None,
              analyzer: str | None = None, input: str | None = None, mine: bool = False,
              before: int | None = None, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"{status!r} is not one of: {', '.join(RUN_STATUSES)}", field="status")
    return service.list_runs(session, viewer=viewer, purpose=purpose, status=status, analyzer=analyzer,
                             stix_id=input, mine=mine, before=before, limit=limit)


@router.get("/analyzer-runs/{run_id}")
def get_run(run_id: int, session: SessionDep, viewer: CurrentViewer, purpose: Purpose) -> dict[str, Any]:
    return service.get_run(session, viewer=viewer, purpose=purpose, run_id=run_id)


@router.post("/analyzer-runs/run-pending")
def run_pending(session: SessionDep, viewer: CurrentViewer, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """Execute queued runs in this request (until a job queue does it in the background)."""
    require_role(viewer, "platform_admin")
    return service.run_pending(session, limit=limit).as_dict()
