"""Tasking pages: RFIs (board, list, filing, detail with timeline, the workflow's actions and the
answer form), projects and deliverables, the activity register with overlaps, groups —
each a thin page over cyberfusion.tasking."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from cyberfusion.errors import Conflict, InvalidInput, NotFound
from cyberfusion.partners.models import CATEGORIES
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.tasking import common
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.deconfliction import service as activities
from cyberfusion.tasking.deconfliction.models import ACTIVITY_KINDS
from cyberfusion.tasking.groups import service as groups
from cyberfusion.tasking.groups.models import GROUP_KINDS
from cyberfusion.tasking.projects import service as projects
from cyberfusion.tasking.projects.models import DELIVERABLE_STATUSES, PROJECT_KINDS
from cyberfusion.tasking.rfi import service as rfis
from cyberfusion.tasking.rfi.models import OPEN_STATES, PRIORITIES, STATES
from cyberfusion.tasking.rfi.workflow import TRANSITIONS
from cyberfusion.web import nav
from cyberfusion.web.pages_home import panel
from cyberfusion.web.pages_search import query_string
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(40, "RFIs", "/rfis", lambda u: u.viewer is not None)
nav.register(41, "Projects", "/projects", lambda u: u.viewer is not None)
nav.register(42, "Activities", "/activities", nav.roles("analyst", "contributor"))
nav.register(43, "Groups", "/groups", lambda u: u.viewer is not None)
Text = Annotated[str, Form()]
Multi = Annotated[list[str], Query()]


def _lines(text: str) -> list[str]:
    return [v.strip() for v in text.replace("\r", "").replace(",", "\n").split("\n") if v.strip()]


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date (yyyy-mm-dd): {value!r}", field=field) from None


def _problem(exc: InvalidInput | Conflict) -> dict[str, str]:
    if isinstance(exc, InvalidInput):
        return {(exc.field or "form").split(".")[0]: exc.problems[0].reason}
    return {str(exc.extra.get("field") or "form"): exc.detail}


# --- RFIs ------------------------------------------------------------------------------------------


@router.get("/rfis")
def rfi_list(request: Request, db: Db, viewer: CurrentViewer, view: str = "board", mine: str = "",
             state: Multi = [], priority: Multi = [], cursor: str = "") -> Response:  # noqa: B006
    states = state or (list(OPEN_STATES) if view == "board" else [])
    result = rfis.list_rfis(db, viewer=viewer, assigned="me" if mine == "assigned" else None,
                            requester="mine" if mine == "requested" else None, states=states,
                            priorities=priority, cursor=cursor or None, limit=100)
    columns = [(s, [r for r in result.items if r["state"] == s]) for s in (states or STATES)]
    next_url = "/rfis?" + query_string({"view": view, "mine": mine, "state": state, "priority": priority,
                                  "cursor": result.next_cursor}) if result.next_cursor else None
    return page(request, "rfis.html", {"result": result, "columns": columns, "view": view, "mine": mine,
                                       "states": STATES, "priorities": PRIORITIES, "selected_states": state,
                                       "selected_priorities": priority, "next_url": next_url,
                                       "host_analyst": common.is_host_analyst(viewer)}, title="RFIs")


def _new_rfi_page(request: Request, *, form: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    return page(request, "rfi_new.html", {"form": form, "errors": errors, "priorities": PRIORITIES,
                                          "categories": CATEGORIES, "tlps": TLP_LEVELS}, status=status,
                title="New RFI")


@router.get("/rfis/new")
def rfi_new(request: Request, viewer: CurrentViewer) -> Response:
    return _new_rfi_page(request, errors={}, form={"title": "", "question": "", "context": "", "crime_type": "",
                                                   "countries": "", "related_values": "", "priority": "routine",
                                                   "tlp": "amber", "requested_by": ""})


@router.post("/rfis/new")
def rfi_file(request: Request, db: Db, viewer: CurrentViewer, purpose: Purpose, title: Text = "",
             question: Text = "", context: Text = "", crime_type: Text = "", countries: Text = "",
             related_values: Text = "", priority: Text = "routine", tlp: Text = "amber",
             requested_by: Text = "") -> Response:
    form = {"title": title, "question": question, "context": context, "crime_type": crime_type,
            "countries": countries, "related_values": related_values, "priority": priority, "tlp": tlp,
            "requested_by": requested_by}
    try:
        rfi = rfis.file_rfi(db, viewer=viewer, title=title, question=question, context=context,
                            crime_type=crime_type or None, countries=_lines(countries),
                            related_values=_lines(related_values), purpose=purpose, priority=priority, tlp=tlp,
                            requested_by=_day(requested_by, "requested_by"))
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _new_rfi_page(request, form=form, errors=_problem(exc), status=422)
    return RedirectResponse(f"/rfis/{rfi.id}?notice=saved", status_code=303)


@router.get("/rfis/{rfi_id:int}")
def rfi_detail(request: Request, rfi_id: int, db: Db, viewer: CurrentViewer) -> Response:
    data = rfis.get_rfi(db, viewer=viewer, rfi_id=rfi_id)
    return _rfi_page(request, db, viewer, data, errors={}, status=200)


def _rfi_page(request: Request, db: Session, viewer: Any, data: dict[str, Any], *, errors: dict[str, str],
              status: int) -> Response:
    from cyberfusion.partners import repository as partners_repo
    people = {m.id: m.email for m, _o in partners_repo.list_members(db)}
    orgs = {o.id: o.name for o in partners_repo.list_orgs(db)}
    return page(request, "rfi.html", {"rfi": data, "errors": errors, "people": people, "orgs": orgs,
                                      "next_states": TRANSITIONS[data["state"]], "priorities": PRIORITIES,
                                      "host_analyst": common.is_host_analyst(viewer),
                                      "is_assignee": data["assignee_member_id"] == viewer.member_id,
                                      "is_requester": data["requester_org_id"] == viewer.org_id},
                status=status, title=f"RFI {data['id']}")


_ACTIONS = {"triage", "assign", "start", "answer", "close", "reopen", "reject", "withdraw", "release"}


@router.post("/rfis/{rfi_id}/{action}")
def rfi_action(request: Request, rfi_id: int, action: str, db: Db, viewer: CurrentViewer, reason: Text = "",
               priority: Text = "", member: Text = "", team: Text = "", text: Text = "",
               object_refs: Text = "") -> Response:
    if action not in _ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", field="action")
    try:
        if action == "triage":
            rfis.triage(db, viewer=viewer, rfi_id=rfi_id, priority=priority or None, reason=reason)
        elif action == "assign":
            rfis.assign(db, viewer=viewer, rfi_id=rfi_id, member=member or None, team=team or None, reason=reason)
        elif action == "answer":
            rfis.answer(db, viewer=viewer, rfi_id=rfi_id, text=text, object_refs=_lines(object_refs))
        elif action == "release":
            from cyberfusion.tasking.rfi import release
            release.release(db, viewer=viewer, rfi_id=rfi_id)
        else:
            getattr(rfis, action)(db, viewer=viewer, rfi_id=rfi_id, reason=reason)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        data = rfis.get_rfi(db, viewer=viewer, rfi_id=rfi_id)
        return _rfi_page(request, db, viewer, data, errors={f"{action}": next(iter(_problem(exc).values()))},
                         status=422)
    return RedirectResponse(f"/rfis/{rfi_id}?notice={'answered' if action == 'answer' else 'saved'}",
                            status_code=303)


# --- RFI teams ----------------------------------------------------------------------------------------


def _teams_page(request: Request, db: Session, viewer: Any, *, errors: dict[str, str] | None = None,
                status: int = 200) -> Response:
    from cyberfusion.partners import repository as partners_repo
    people = {m.id: m.email for m, _o in partners_repo.list_members(db)}
    return page(request, "teams.html", {"teams": rfis.list_teams(db, viewer=viewer), "people": people,
                                        "errors": errors or {}}, status=status, title="RFI teams")


@router.get("/rfis/teams")
def team_list(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    return _teams_page(request, db, viewer)


@router.post("/rfis/teams")
def team_change(request: Request, db: Db, viewer: CurrentViewer, name: Text = "", description: Text = "",
                team: Text = "", member: Text = "") -> Response:
    try:
        if team:
            rfis.add_team_member(db, viewer=viewer, team=team, member=member.strip())
        else:
            rfis.create_team(db, viewer=viewer, name=name, description=description)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _teams_page(request, db, viewer, errors=_problem(exc), status=422)
    return RedirectResponse("/rfis/teams?notice=saved", status_code=303)


@panel(10, "My RFI queue (urgent first)", "panel_rfis.html")
def rfi_panel(db: Session, user: WebUser, request: Request) -> dict[str, Any] | None:
    viewer = user.viewer
    if viewer is None:
        return None
    if common.is_host_analyst(viewer):
        return {"rows": rfis.queue(db, viewer=viewer, limit=8).items, "kind": "queue"}
    if viewer.has_role("analyst", "contributor"):
        return {"rows": rfis.list_rfis(db, viewer=viewer, requester="mine", states=OPEN_STATES + ("answered",),
                                       limit=8).items, "kind": "requested"}
    return None


@panel(15, "Notifications", "panel_notifications.html")
def notifications_panel(db: Session, user: WebUser, request: Request) -> dict[str, Any] | None:
    if user.viewer is None:
        return None
    return {"rows": [n.as_dict() for n in tasking.my_notifications(db, viewer=user.viewer, unread_only=True,
                                                                  limit=6)]}


# --- projects -----------------------------------------------------------------------------------------


@router.get("/projects")
def project_list(request: Request, db: Db, viewer: CurrentViewer, status: str = "") -> Response:
    return page(request, "projects.html", {
        "rows": projects.list_projects(db, viewer=viewer, status=status or None), "status": status,
        "kinds": PROJECT_KINDS, "host_analyst": common.is_host_analyst(viewer), "errors": {},
        "form": {"name": "", "objective": "", "kind": "project", "countries": ""}}, title="Projects")


@router.post("/projects")
def project_create(request: Request, db: Db, viewer: CurrentViewer, name: Text = "", objective: Text = "",
                   kind: Text = "project", countries: Text = "") -> Response:
    try:
        p = projects.create_project(db, viewer=viewer, name=name, objective=objective, kind=kind,
                                    countries=_lines(countries))
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return page(request, "projects.html", {
            "rows": projects.list_projects(db, viewer=viewer), "status": "", "kinds": PROJECT_KINDS,
            "host_analyst": common.is_host_analyst(viewer), "errors": _problem(exc),
            "form": {"name": name, "objective": objective, "kind": kind, "countries": countries}},
            status=422, title="Projects")
    return RedirectResponse(f"/projects/{p.id}?notice=saved", status_code=303)


def _project_page(request: Request, db: Session, viewer: Any, project_id: int, purpose: str, *,
                  errors: dict[str, str] | None = None, status: int = 200) -> Response:
    data = projects.get_project(db, viewer=viewer, project_id=project_id,
                                purpose=purpose if purpose in viewer.agreement_purposes else None)
    return page(request, "project.html", {"p": data, "errors": errors or {}, "statuses": DELIVERABLE_STATUSES,
                                          "is_lead": data["lead_member_id"] == viewer.member_id,
                                          "purpose": purpose}, status=status, title=data["name"])


@router.get("/projects/{project_id}")
def project_detail(request: Request, project_id: int, db: Db, viewer: CurrentViewer, purpose: Purpose) -> Response:
    return _project_page(request, db, viewer, project_id, purpose)


@router.post("/projects/{project_id}/{action}")
def project_action(request: Request, project_id: int, action: str, db: Db, viewer: CurrentViewer, purpose: Purpose,
                   title: Text = "", due_date: Text = "", description: Text = "", member: Text = "",
                   role: Text = "member", stix_id: Text = "", deliverable_id: Text = "", status: Text = "",
                   rfi_id: Text = "") -> Response:
    try:
        if action == "deliverables":
            due = _day(due_date, "due_date")
            if due is None:
                raise InvalidInput("a deliverable needs a due date", field="due_date")
            projects.add_deliverable(db, viewer=viewer, project_id=project_id, title=title, due_date=due,
                                     description=description)
        elif action == "deliverable-status":
            projects.update_deliverable(db, viewer=viewer, deliverable_id=int(deliverable_id or 0), status=status)
        elif action == "members":
            projects.add_member(db, viewer=viewer, project_id=project_id, member=member, role=role or "member")
        elif action == "objects":
            projects.link_object(db, viewer=viewer, project_id=project_id, stix_id=stix_id, purpose=purpose)
        elif action == "rfis":
            if not rfi_id.strip().isdigit():
                raise InvalidInput("an RFI number", field="rfi_id")
            projects.link_rfi(db, viewer=viewer, project_id=project_id, rfi_id=int(rfi_id))
        else:
            raise InvalidInput(f"unknown action {action!r}", field="action")
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _project_page(request, db, viewer, project_id, purpose, errors={action: next(iter(
            _problem(exc).values()))}, status=422)
    return RedirectResponse(f"/projects/{project_id}?notice=saved", status_code=303)


# --- the activity register (deconfliction) ---------------------------------------------------------------


def _activities_page(request: Request, db: Session, viewer: Any, *, form: dict[str, str] | None = None,
                     errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return page(request, "activities.html", {
        "rows": activities.list_activities(db, viewer=viewer), "kinds": ACTIVITY_KINDS, "tlps": TLP_LEVELS,
        "form": form or {"title": "", "kind": "investigation", "targets": "", "description": "", "tlp": "amber"},
        "errors": errors or {}}, status=status, title="Activities")


@router.get("/activities")
def activity_list(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    return _activities_page(request, db, viewer)


@router.post("/activities")
def activity_register(request: Request, db: Db, viewer: CurrentViewer, title: Text = "",
                      kind: Text = "investigation", targets: Text = "", description: Text = "",
                      tlp: Text = "amber") -> Response:
    form = {"title": title, "kind": kind, "targets": targets, "description": description, "tlp": tlp}
    try:
        a = activities.register(db, viewer=viewer, title=title, kind=kind, targets=_target_lines(targets),
                                description=description, tlp=tlp)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _activities_page(request, db, viewer, form=form, errors=_problem(exc), status=422)
    return RedirectResponse(f"/activities/{a.id}?notice=saved", status_code=303)


def _target_lines(text: str) -> list[str | dict[str, str]]:
    """'value' lines, or 'kind: value' for actor/malware names, countries and crime types."""
    out: list[str | dict[str, str]] = []
    for line in [v.strip() for v in text.replace("\r", "").split("\n") if v.strip()]:
        kind, sep, value = line.partition(":")
        if sep and kind.strip() in ("actor", "malware", "country", "crime_type"):
            out.append({"kind": kind.strip(), "value": value.strip()})
        else:
            out.append(line)
    return out


@router.get("/activities/{activity_id}")
def activity_detail(request: Request, activity_id: int, db: Db, viewer: CurrentViewer) -> Response:
    data = activities.get_activity(db, viewer=viewer, activity_id=activity_id)
    return page(request, "activity.html", {"a": data}, title=data["title"])


@router.post("/activities/{activity_id}/close")
def activity_close(activity_id: int, db: Db, viewer: CurrentViewer) -> Response:
    activities.update(db, viewer=viewer, activity_id=activity_id, status="closed")
    return RedirectResponse(f"/activities/{activity_id}?notice=saved", status_code=303)


# --- groups -------------------------------------------------------------------------------------------


@router.get("/groups")
def group_list(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    can_create = viewer.has_role("platform_admin") or common.is_host_analyst(viewer)
    return page(request, "groups.html", {"rows": groups.list_groups(db, viewer=viewer), "kinds": GROUP_KINDS,
                                         "can_create": can_create, "errors": {}}, title="Groups")


@router.post("/groups")
def group_create(request: Request, db: Db, viewer: CurrentViewer, name: Text = "", description: Text = "",
                 kind: Text = "other") -> Response:
    try:
        g = groups.create_group(db, viewer=viewer, name=name, description=description, kind=kind)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return page(request, "groups.html", {"rows": groups.list_groups(db, viewer=viewer), "kinds": GROUP_KINDS,
                                             "can_create": True, "errors": _problem(exc)}, status=422,
                    title="Groups")
    return RedirectResponse(f"/groups/{g.id}?notice=saved", status_code=303)


def _group_page(request: Request, db: Session, viewer: Any, group_id: int, purpose: str, *,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    info = next((g for g in groups.list_groups(db, viewer=viewer) if g["id"] == group_id), None)
    if info is None:
        raise NotFound(f"no group {group_id}")
    member = info["my_role"] is not None
    data: dict[str, Any] = {"g": info, "member": member,
                            "chair": info["my_role"] == "chair" or viewer.has_role("platform_admin")}
    if member:
        data |= {"members": groups.members(db, viewer=viewer, group_id=group_id),
                 "posts": groups.list_posts(db, viewer=viewer, group_id=group_id),
                 "meetings": groups.list_meetings(db, viewer=viewer, group_id=group_id),
                 "intelligence": groups.intelligence(db, viewer=viewer, group_id=group_id, purpose=purpose)
                 if purpose in viewer.agreement_purposes else []}
    return page(request, "group.html", data | {"purpose": purpose, "errors": errors or {}}, status=status,
                title=info["name"])


@router.get("/groups/{group_id}")
def group_detail(request: Request, group_id: int, db: Db, viewer: CurrentViewer, purpose: Purpose) -> Response:
    return _group_page(request, db, viewer, group_id, purpose)


def _group_action(request: Request, db: Session, viewer: Any, group_id: int, purpose: str, work: Any) -> Response:
    """Run one change to the group; a problem is shown next to its field on the group's page."""
    try:
        work()
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _group_page(request, db, viewer, group_id, purpose, errors=_problem(exc), status=422)
    return RedirectResponse(f"/groups/{group_id}?notice=saved", status_code=303)


@router.post("/groups/{group_id}/posts")
def group_post(request: Request, group_id: int, db: Db, viewer: CurrentViewer, purpose: Purpose, title: Text = "",
               body: Text = "", kind: Text = "note") -> Response:
    if kind == "document":
        raise InvalidInput("a document is added with its file (Add a document)", field="kind")
    return _group_action(request, db, viewer, group_id, purpose, lambda: groups.add_post(
        db, viewer=viewer, group_id=group_id, kind=kind, title=title, body=body))


@router.post("/groups/{group_id}/documents")
async def group_document_add(request: Request, group_id: int, db: Db, viewer: CurrentViewer,
                             purpose: Purpose) -> Response:
    form = await request.form()
    upload = form.get("file")
    content = await upload.read(groups.MAX_DOCUMENT_BYTES + 1) if isinstance(upload, UploadFile) and upload.filename \
        else None
    name = upload.filename if isinstance(upload, UploadFile) else None
    media = upload.content_type if isinstance(upload, UploadFile) else None
    return await run_in_threadpool(_group_action, request, db, viewer, group_id, purpose, lambda: groups.add_post(
        db, viewer=viewer, group_id=group_id, kind="document", title=str(form.get("title") or ""),
        body=str(form.get("body") or ""), file_name=name, media_type=media, content=content))


@router.get("/groups/{group_id}/documents/{post_id}")
def group_document(group_id: int, post_id: int, db: Db, viewer: CurrentViewer) -> Response:
    doc = groups.document(db, viewer=viewer, group_id=group_id, post_id=post_id)
    name = (doc.file_name or "document").replace('"', "")
    return Response(doc.content, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Security-Policy": "default-src 'none'"})


@router.post("/groups/{group_id}/members")
def group_member_add(request: Request, group_id: int, db: Db, viewer: CurrentViewer, purpose: Purpose,
                     member: Text = "", role: Text = "member") -> Response:
    return _group_action(request, db, viewer, group_id, purpose, lambda: groups.add_member(
        db, viewer=viewer, group_id=group_id, member=member.strip(), role=role))


@router.post("/groups/{group_id}/meetings")
def group_meeting_add(request: Request, group_id: int, db: Db, viewer: CurrentViewer, purpose: Purpose,
                      title: Text = "", starts_at: Text = "", location: Text = "", agenda: Text = "") -> Response:
    def work() -> None:
        try:
            when = datetime.fromisoformat(starts_at).replace(tzinfo=UTC) if starts_at else None
        except ValueError:
            raise InvalidInput(f"not a date and time: {starts_at!r}", field="starts_at") from None
        if when is None:
            raise InvalidInput("a meeting needs its date and time", field="starts_at")
        groups.schedule_meeting(db, viewer=viewer, group_id=group_id, title=title, starts_at=when,
                                location=location, agenda=agenda)
    return _group_action(request, db, viewer, group_id, purpose, work)


@router.post("/groups/{group_id}/meetings/{meeting_id}")
def group_meeting_update(request: Request, group_id: int, meeting_id: int, db: Db, viewer: CurrentViewer,
                         purpose: Purpose, agenda: Text = "", minutes: Text = "") -> Response:
    return _group_action(request, db, viewer, group_id, purpose, lambda: groups.update_meeting(
        db, viewer=viewer, meeting_id=meeting_id, agenda=agenda, minutes=minutes))
