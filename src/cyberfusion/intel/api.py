"""/api/v1 endpoints: contribute, search, read objects, export, statistics."""

from __future__ import annotations

import io
import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.errors import InvalidInput
from cyberfusion.export import service as exporter
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.intel import service, statistics
from cyberfusion.intel.schemas import ContributionIn, HandlingIn

router = APIRouter(prefix="/api/v1", tags=["intelligence"], route_class=SessionRoute)
Purpose = Annotated[str, Query(description="Why you read: investigation, victim_notification, network_defence, "
                                           "research, threat_reporting, ai_processing")]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _run_import(request: Request, session: Any, viewer: Any, *, data: bytes, fmt: str, file_name: str,
                handling: HandlingIn, mapping: dict[str, str] | None, dry_run: bool) -> dict[str, Any]:
    tmp_dir = request.app.state.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=Path(file_name).suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        result = import_file(session, viewer=viewer, path=Path(tmp.name), fmt=fmt, spec=handling.to_spec(session),
                             file_name=file_name, mapping=mapping, dry_run=dry_run)
    session.commit()  # in this thread, not after a trip back to the event loop (deps.SessionRoute)
    return result.as_dict()


@router.post("/contributions", status_code=201)
async def contribute(request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Contribute a file with its handling: multipart (file + fields) or JSON (ContributionIn)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
            raise InvalidInput("a multipart contribution needs a 'file' part", field="file")
        data = await upload.read()
        try:
            handling = HandlingIn.model_validate(json.loads(str(form.get("handling") or "{}")))
        except ValueError as exc:
            raise InvalidInput(f"handling must be a JSON object: {exc}", field="handling") from None
        try:
            mapping = json.loads(str(form["mapping"])) if form.get("mapping") else None
        except ValueError as exc:
            raise InvalidInput(f"mapping must be a JSON object: {exc}", field="mapping") from None
        if mapping is not None and not (isinstance(mapping, dict)
                                        and all(isinstance(v, str) for v in mapping.values())):
            raise InvalidInput("mapping must be a JSON object of column header to field name", field="mapping")
        # The import blocks on the database: off the event loop, or a lock held by a request
        # waiting for the loop to commit deadlocks the server (benchmarks/load.py found it).
        return await run_in_threadpool(_run_import, request, session, viewer, data=data,
                                       fmt=str(form.get("format") or "stix"),
                                       file_name=upload.filename or "upload", handling=handling, mapping=mapping,
                                       dry_run=str(form.get("dry_run", "false")).lower() == "true")
    try:
        body = ContributionIn.model_validate_json(await request.body())
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        field = ".".join(str(p) for p in errors[0]["loc"]) if errors else "body"
        reason = errors[0]["msg"] if errors else str(exc)
        raise InvalidInput(reason, field=field) from None
    content = body.content if isinstance(body.content, str) else json.dumps(body.content)
    return await run_in_threadpool(_run_import, request, session, viewer, data=content.encode(), fmt=body.format,
                                   file_name=body.file_name, handling=body.handling, mapping=body.mapping,
                                   dry_run=body.dry_run)


@router.get("/search")
def search(session: SessionDep, viewer: CurrentViewer, purpose: Purpose, q: str | None = None,
           type: str | None = None, since: datetime | None = None, until: datetime | None = None,
           source_kind: str | None = None, cursor: str | None = None,
           limit: int = Query(50, ge=1, le=service.MAX_PAGE)) -> dict[str, Any]:
    page = service.search(session, viewer=viewer, purpose=purpose, q=q, types=_split(type), since=since,
                          until=until, source_kinds=_split(source_kind), cursor=cursor, limit=limit)
    return {"items": page.items, "next": page.next_cursor}


@router.get("/objects/{stix_id}")
def get_object(stix_id: str, session: SessionDep, viewer: CurrentViewer, purpose: Purpose,
               version: str | None = None) -> dict[str, Any]:
    return service.get_object(session, viewer=viewer, purpose=purpose, stix_id=stix_id, version=version)


_MEDIA = {"stix": "application/stix+json;version=2.1", "misp": "application/json", "csv": "text/csv",
          "blocklist": "text/plain"}


@router.get("/export", response_class=Response)
def export(session: SessionDep, viewer: CurrentViewer, purpose: Purpose, format: str = "stix",
           kind: str | None = None, type: str | None = None, contribution: str | None = None,
           since: datetime | None = None) -> Response:
    buf = io.StringIO()
    exporter.export(session, viewer=viewer, purpose=purpose, fmt=format, out=buf, kinds=_split(kind),
                    types=_split(type), contribution_id=contribution, since=since)
    return PlainTextResponse(buf.getvalue(), media_type=_MEDIA.get(format, "text/plain"))


@router.get("/statistics/observables")
def observable_statistics(request: Request, session: SessionDep, viewer: CurrentViewer,
                          purpose: Purpose) -> dict[str, Any]:
    return statistics.observables_by_kind(session, viewer=viewer, purpose=purpose,
                                          k=request.app.state.settings.k_threshold)
