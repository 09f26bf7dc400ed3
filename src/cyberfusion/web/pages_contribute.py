"""Contribute: upload a file or paste text, state its handling, check it (dry run: every
problem shown next to its line or object), then store it — all or nothing. Checking and storing
run in the background (web/imports.py): a large file's page shows its progress, then the outcome."""

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
from starlette.responses import JSONResponse, RedirectResponse, Response

from cyberfusion.errors import InvalidInput, NotFound
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners.service import require_role
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.web import handling_form, imports, nav
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


WAIT_SECONDS = 2.0  # a small file's outcome is shown at once; a larger one's page shows progress


async def _launch(request: Request, db: Session, user: WebUser, viewer: Viewer, *, upload_id: str, stage: str,
                  path: Path, fmt: str, file_name: str, values: dict[str, Any]) -> Response:
    """Record the import, start it in the background, and send the browser to its page (after a
    short wait, so that a small file's outcome is there at once)."""
    spec = handling_form.to_spec(values)
    imports.begin(db, import_id=upload_id, session_id=user.session_id, member_id=user.member_id,
                  file_name=file_name, fmt=fmt, form=_storable(values), stage=stage, path=path)
    await run_in_threadpool(db.commit)  # the thread's sessions see the record
    done = imports.start(request.app.state.sessionmaker, import_id=upload_id, stage=stage, viewer=viewer,
                         path=path, fmt=fmt, file_name=file_name, spec=spec)
    await run_in_threadpool(done.wait, WAIT_SECONDS)
    return RedirectResponse(f"/contribute/imports/{upload_id}", status_code=303)


def _storable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, (list, tuple, set)) else v for k, v in values.items()}


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
        handling_form.to_spec(values)
        upload_id, file_name, path = await _save_input(request, user, form)
        return await _launch(request, db, user, viewer, upload_id=upload_id, stage="check", path=path, fmt=fmt,
                             file_name=file_name, values=values)
    except InvalidInput as exc:
        errors = {exc.field or "file": exc.problems[0].reason}
        await run_in_threadpool(db.rollback)
        return await run_in_threadpool(lambda: _form_page(request, db, values=values, fmt=fmt, pasted=pasted,
                                                          status=422, errors=errors))


@router.post("/contribute/commit")
async def contribute_commit(request: Request, db: Db, user: User, viewer: CurrentViewer) -> Response:
    require_role(viewer, "contributor", "analyst")
    form = await request.form()
    values = handling_form.values_of(form)
    fmt = str(form.get("format") or "stix")
    upload_id = str(form.get("upload_id") or "")
    try:
        if fmt not in FORMATS:
            raise InvalidInput(f"one of: {', '.join(FORMATS)}", field="format")
        path = _owned_path(request, user, upload_id)
        handling_form.to_spec(values)
        checked = await run_in_threadpool(imports.status_of, db, import_id=upload_id, session_id=user.session_id)
        if checked is None or checked.stage != "check" or checked.state != "done" or checked.problems:
            raise InvalidInput("store a file after a check without problems; check it again", field="file")
        return await _launch(request, db, user, viewer, upload_id=upload_id, stage="store", path=path, fmt=fmt,
                             file_name=checked.file_name, values=values)
    except InvalidInput as exc:
        errors = {exc.field or "file": exc.problems[0].reason}
        await run_in_threadpool(db.rollback)
        return await run_in_threadpool(lambda: _form_page(request, db, values=values, fmt=fmt, status=422,
                                                          errors=errors))


def _import_page(request: Request, db: Session, user: WebUser, import_id: str) -> Response:
    status = imports.status_of(db, import_id=import_id, session_id=user.session_id)
    if status is None:
        raise NotFound(f"no import {import_id}")
    if status.state in ("running", "interrupted"):
        return page(request, "contribute_progress.html", {"job": status}, title="Contribute")
    if status.stage == "store":
        result = status.outcome if status.state == "done" else None
        return page(request, "contribute_done.html", {"result": result, "problems": status.problems,
                                                      "file_name": status.file_name},
                    status=200 if result else 422, title="Contribution stored" if result else "Contribute")
    problems = status.problems
    try:
        path: Path | None = _owned_path(request, user, import_id)
    except InvalidInput:
        path = None
    preview = {"objects": status.outcome.get("objects", 0), "problems": problems, "upload_id": import_id,
               "file_name": status.file_name,
               "listing": listing(path, status.fmt, problems) if path is not None else
               {"unit": "item", "rows": [], "unplaced": problems, "total": 0, "truncated": False}}
    values = dict(handling_form.DEFAULTS) | status.form
    return _form_page(request, db, values=values, fmt=status.fmt, preview=preview, errors={})


@router.get("/contribute/imports/{import_id}")
def contribute_import(request: Request, import_id: str, db: Db, user: User, viewer: CurrentViewer) -> Response:
    require_role(viewer, "contributor", "analyst")
    return _import_page(request, db, user, import_id)


@router.get("/contribute/imports/{import_id}/status")
def contribute_import_status(import_id: str, db: Db, user: User, viewer: CurrentViewer) -> Response:
    """The import's progress for the page's script (polled while it runs)."""
    require_role(viewer, "contributor", "analyst")
    status = imports.status_of(db, import_id=import_id, session_id=user.session_id)
    if status is None:
        raise NotFound(f"no import {import_id}")
    return JSONResponse(status.as_dict(), headers={"Cache-Control": "no-store"})
