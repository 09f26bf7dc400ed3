"""The audit log viewer for auditors: search with filters, page by id, verify the hash chain."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cyberfusion.audit import repository as audit_repo
from cyberfusion.audit import service as audit
from cyberfusion.errors import InvalidInput
from cyberfusion.partners.service import require_role
from cyberfusion.web import nav
from cyberfusion.web.pages_search import parse_day, query_string
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(90, "Audit log", "/audit", nav.roles("auditor"))
PAGE = 100


@router.get("/audit")
def audit_log(request: Request, db: Db, viewer: CurrentViewer, member_id: str = "", action: str = "",
              object_id: str = "", since: str = "", until: str = "", after: int = 0) -> Response:
    require_role(viewer, "auditor")
    form = {"member_id": member_id, "action": action, "object_id": object_id, "since": since, "until": until}
    try:
        member = int(member_id) if member_id.strip() else None
    except ValueError:
        member = None
        errors = {"member_id": "a member number"}
    else:
        errors = {}
    try:
        start, end = parse_day(since, "since"), parse_day(until, "until", end=True)
    except InvalidInput as exc:
        start = end = None
        errors[exc.field or "since"] = exc.problems[0].reason
    if errors:
        return page(request, "audit.html", {"form": form, "rows": [], "next_url": None, "errors": errors},
                    status=422, title="Audit log")
    rows = audit_repo.search(db, member_id=member, action=action.strip() or None,
                             object_id=object_id.strip() or None, since=start, until=end, after_id=after,
                             limit=PAGE)
    audit.record(db, action="audit.search", viewer=viewer,
                 detail={"filters": {"member_id": member, "action": action or None, "object_id": object_id or None},
                         "via": "web"})
    next_url = "/audit?" + query_string({**form, "after": rows[-1].id}) if len(rows) == PAGE else None
    return page(request, "audit.html", {"form": form, "rows": rows, "next_url": next_url}, title="Audit log")


@router.get("/audit/verify")
def audit_verify(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    require_role(viewer, "auditor")
    report = audit.verify(db)
    audit.record(db, action="audit.verify", viewer=viewer, detail={"ok": report.ok, "entries": report.entries})
    return page(request, "audit_verify.html", {"report": report}, title="Audit chain")
