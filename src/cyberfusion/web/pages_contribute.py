"""Contribute: upload a file or paste text, state its handling, check it (dry run: every
problem shown next to its line or object), then store it — all or nothing."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from cyberfusion.errors import InvalidInput, Problem
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners.service import require_role
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import handling_form, nav
from cyberfusion.web.preview import listing
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, User, WebRoute, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(20, "Contribute", "/contribute", nav.roles("contributor", "analyst"))

FORMATS = {"stix": "STIX 2.1 / 2.0 bundle (JSON)", "misp": "MISP event (JSON)", "csv": "CSV / TSV with a header line",
           "text": "Plain list of indicators, one per line"}
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
KEEP_SECONDS = 24 * 3600


def _upload_dir(request: Request) -> Path:
    path = request.app.state.settings.data_dir / "tmp" / "web-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _owned_path(request: Request, user: WebUser, upload_id: str) -> Path:
    """The stored upload of this browser session (another session's id finds nothing)."""
    if not _UPLOAD_ID.match(upload_id):
        raise InvalidInput("the checked file is no longer available; choose it again", field="file")
    for path in _upload_dir(request).glob(f"{user.session_id[:24]}-{upload_id}*"):
        return path
    raise InvalidInput("the checked file is no longer available; choose it again", field="file")


def _sweep(directory: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in directory.iterdir():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _recipients(db: Session) -> list[dict[str, Any]]:
    return [{"id": o.id, "name": o.name} for o in partners_repo.list_orgs(db, status="approved")]


def _form_page(request: Request, db: Session, *, values: dict[str, Any], fmt: str = "stix", errors: dict[str, str],
               status: int = 200, preview: dict[str, Any] | None = None, pasted: str = "") -> Response:
    return page(request, "contribute.html", {
        "values": values, "fmt": fmt, "formats": FORMATS, "choices": handling_form.CHOICES,
        "orgs": _recipients(db), "preview": preview, "pasted": pasted, "errors": errors}, status=status,
        title="Contribute")


@router.get("/contribute")
def contribute_form(request: Request, db: Db, user: User, viewer: CurrentViewer) -> Response:
    require_role(viewer, "contributor", "analyst")
    return _form_page(request, db, values=dict(handling_form.DEFAULTS), errors={})


async def _save_input(request: Request, user: WebUser, form: FormData) -> tuple[str, str, Path]:
    """The uploaded file, or the pasted text, stored for this session: (upload id, file name, path)."""
    upload = form.get("file")
    pasted = str(form.get("pasted") or "")
    directory = _upload_dir(request)
    await run_in_threadpool(_sweep, directory)
    upload_id = secrets.token_hex(16)
    if isinstance(upload, UploadFile) and upload.filename:
        name = Path(upload.filename).name[:200] or "upload"
        suffix = Path(name).suffix.lower()
        path = directory / f"{user.session_id[:24]}-{upload_id}{suffix if _SUFFIX.match(suffix) else ''}"
        with path.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)
        return upload_id, name, path
    if pasted.strip():
        path = directory / f"{user.session_id[:24]}-{upload_id}.txt"
        path.write_text(pasted, encoding="utf-8")
        return upload_id, "pasted.txt", path
    previous = str(form.get("upload_id") or "")
    if previous:  # checking again the file already uploaded (e.g. with other handling)
        return previous, str(form.get("file_name") or "upload")[:200], _owned_path(request, user, previous)
    raise InvalidInput("choose a file or paste text", field="file")


def _preview(db: Session, viewer: Viewer, *, path: Path, fmt: str, file_name: str,
             values: dict[str, Any]) -> dict[str, Any]:
    spec = handling_form.to_spec(values)
    try:
        result = import_file(db, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name, dry_run=True)
        problems, objects = result.problems, result.objects
    except InvalidInput as exc:  # the file as a whole is unreadable (not JSON, no header line, ...)
        problems, objects = exc.problems, 0
    return {"objects": objects, "problems": problems, "listing": listing(path, fmt, problems)}


@router.post("/contribute/preview")
async def contribute_preview(request: Request, db: Db, user: User, viewer: CurrentViewer) -> Response:
    require_role(viewer, "contributor", "analyst")
    form = await request.form()
    values = handling_form.values_of(form)
    fmt = str(form.get("format") or "stix")
    pasted = str(form.get("pasted") or "")
    try:
        if fmt not in FORMATS:
            raise InvalidInput(f"one of: {', '.join(FORMATS)}", field="format")
        upload_id, file_name, path = await _save_input(request, user, form)
        preview = await run_in_threadpool(_preview, db, viewer, path=path, fmt=fmt, file_name=file_name,
                                          values=values)
    except InvalidInput as exc:
        errors = {exc.field or "file": exc.problems[0].reason}
        await run_in_threadpool(db.rollback)
        return await run_in_threadpool(lambda: _form_page(request, db, values=values, fmt=fmt, pasted=pasted,
                                                          status=422, errors=errors))
    preview |= {"upload_id": upload_id, "file_name": file_name}
    return await run_in_threadpool(lambda: _form_page(request, db, values=values, fmt=fmt, preview=preview,
                                                      pasted=pasted, errors={}))


def _commit(request: Request, db: Session, user: WebUser, viewer: Viewer, form: FormData) -> Response:
    values = handling_form.values_of(form)
    fmt = str(form.get("format") or "stix")
    file_name = str(form.get("file_name") or "upload")[:200]
    try:
        if fmt not in FORMATS:
            raise InvalidInput(f"one of: {', '.join(FORMATS)}", field="format")
        path = _owned_path(request, user, str(form.get("upload_id") or ""))
        spec = handling_form.to_spec(values)
    except InvalidInput as exc:
        db.rollback()
        return _form_page(request, db, values=values, fmt=fmt, status=422,
                          errors={exc.field or "file": exc.problems[0].reason})
    try:
        result = import_file(db, viewer=viewer, path=path, fmt=fmt, spec=spec, file_name=file_name)
    except InvalidInput as exc:  # nothing was stored: the contribution is all or nothing
        db.rollback()
        problems: list[Problem] = exc.problems
        return page(request, "contribute_done.html", {"result": None, "problems": problems,
                                                      "file_name": file_name}, status=422, title="Contribute")
    path.unlink(missing_ok=True)
    return page(request, "contribute_done.html", {"result": result.as_dict(), "problems": [],
                                                  "file_name": file_name}, title="Contribution stored")


@router.post("/contribute/commit")
async def contribute_commit(request: Request, db: Db, user: User, viewer: CurrentViewer) -> Response:
    require_role(viewer, "contributor", "analyst")
    form = await request.form()
    return await run_in_threadpool(_commit, request, db, user, viewer, form)
