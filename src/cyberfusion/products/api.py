"""/api/v1/reports: generate country reports, release them, and download (recipients only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.products import service
from cyberfusion.products.schemas import CountryReportIn

router = APIRouter(prefix="/api/v1/reports", tags=["country reports"], route_class=SessionRoute)


@router.post("/country", status_code=201)
def generate(body: CountryReportIn, request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Compile and record one report per country (host-centre analysts)."""
    batch = service.generate(session, viewer=viewer, period=body.period, countries=body.countries,
                             all_countries=body.all, recipient=body.recipient,
                             k=request.app.state.settings.k_threshold, formats=body.formats, send=body.send)
    return {"batch_id": batch.batch_id, "period": batch.period, "reports": batch.summary_rows(),
            "skipped": batch.skipped}


@router.get("")
def list_reports(session: SessionDep, viewer: CurrentViewer, country: str | None = None, batch: str | None = None,
                 limit: int = Query(100, ge=1, le=500)) -> dict[str, Any]:
    return {"items": service.list_reports(session, viewer=viewer, country=country, batch_id=batch, limit=limit)}


@router.get("/{report_id}")
def get_report(report_id: str, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.get_report(session, viewer=viewer, report_id=report_id)


@router.post("/{report_id}/send")
def send(report_id: str, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    record = service.send(session, viewer=viewer, report_id=report_id)
    return {"id": record.id, "status": record.status, "sent_at": record.sent_at}


@router.get("/{report_id}/download", response_class=Response)
def download(report_id: str, session: SessionDep, viewer: CurrentViewer,
             format: str = Query("pdf", description="html, pdf, stix or csv")) -> Response:
    """The report file, for members of the recipient organisation once the report is sent."""
    content, media_type, name = service.download(session, viewer=viewer, report_id=report_id, fmt=format)
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"})
