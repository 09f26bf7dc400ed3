"""Administration: organisations and vetting, members, API tokens, secondments, agreements.

The same rules as the partners API: platform admins manage everything; organisation
admins see and add members of their own organisation and see its agreements; every
member manages their own API tokens.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from cyberfusion.audit import service as audit
from cyberfusion.auth import tokens
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.partners.models import CATEGORIES, ORG_KINDS, ROLES, SECTORS
from cyberfusion.sharing.markings import PURPOSES, TLP_LEVELS
from cyberfusion.web import nav
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, User, WebRoute, settings_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)
nav.register(80, "Admin", "/admin", nav.roles("platform_admin", "org_admin"))
ADMIN = "platform_admin"
Text = Annotated[str, Form()]
Many = Annotated[list[str], Form()]


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not a date (yyyy-mm-dd): {value!r}", field=field) from None


def _error_field(exc: InvalidInput | Conflict) -> dict[str, str]:
    if isinstance(exc, InvalidInput):
        return {exc.field or "form": exc.problems[0].reason}
    return {str(exc.extra.get("field") or "form"): exc.detail}


@router.get("/admin")
def admin_home(request: Request, viewer: CurrentViewer) -> Response:
    partners.require_role(viewer, ADMIN, "org_admin")
    return page(request, "admin.html", {"is_admin": viewer.has_role(ADMIN)}, title="Administration")


# --- organisations -------------------------------------------------------------------------------


def _orgs_page(request: Request, db: Session, *, errors: dict[str, str] | None = None,
               form: dict[str, str] | None = None, status: int = 200) -> Response:
    return page(request, "admin_orgs.html", {
        "orgs": partners_repo.list_orgs(db), "kinds": ORG_KINDS, "sectors": SECTORS,
        "form": form or {"name": "", "kind": "private", "country": "", "sector": ""}, "errors": errors or {}},
        status=status, title="Organisations")


@router.get("/admin/organisations")
def organisations(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    partners.require_role(viewer, ADMIN)
    return _orgs_page(request, db)


@router.post("/admin/organisations")
def create_organisation(request: Request, db: Db, viewer: CurrentViewer, name: Text = "", kind: Text = "",
                        country: Text = "", sector: Text = "") -> Response:
    partners.require_role(viewer, ADMIN)
    try:
        partners.create_organisation(db, name=name, kind=kind, country=country, sector=sector or None, actor=viewer)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _orgs_page(request, db, errors=_error_field(exc), status=422,
                          form={"name": name, "kind": kind, "country": country, "sector": sector})
    return RedirectResponse("/admin/organisations?notice=saved", status_code=303)


@router.post("/admin/organisations/{org_id}/vetting")
def vet(request: Request, org_id: int, db: Db, viewer: CurrentViewer, decision: Text = "", notes: Text = "",
        review_due: Text = "") -> Response:
    partners.require_role(viewer, ADMIN)
    org = partners.get_org(db, org_id)
    try:
        partners.vet_organisation(db, org=org, decision=decision, reviewer=viewer.email, notes=notes,
                                  review_due=_day(review_due, "review_due"), actor=viewer)
    except InvalidInput as exc:
        db.rollback()
        return _orgs_page(request, db, errors={f"vet-{org_id}": exc.problems[0].reason}, status=422)
    return RedirectResponse("/admin/organisations?notice=saved", status_code=303)


# --- members -------------------------------------------------------------------------------------


def _members_page(request: Request, db: Session, viewer: Any, *, errors: dict[str, str] | None = None,
                  form: dict[str, Any] | None = None, status: int = 200) -> Response:
    org_id = None if viewer.has_role(ADMIN) else viewer.org_id
    orgs = partners_repo.list_orgs(db) if org_id is None else [partners.get_org(db, org_id)]
    grantable = ROLES if viewer.has_role(ADMIN) else tuple(r for r in ROLES if r not in ("platform_admin", "auditor"))
    return page(request, "admin_members.html", {
        "members": partners_repo.list_members(db, org_id=org_id), "orgs": orgs, "roles": grantable,
        "form": form or {"email": "", "name": "", "organisation": str(viewer.org_id), "roles": []},
        "errors": errors or {}}, status=status, title="Members")


@router.get("/admin/members")
def members(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    partners.require_role(viewer, ADMIN, "org_admin")
    return _members_page(request, db, viewer)


@router.post("/admin/members")
def add_member(request: Request, db: Db, viewer: CurrentViewer, email: Text = "", name: Text = "",
               organisation: Text = "", roles: Many = [], password: Text = "") -> Response:  # noqa: B006
    partners.require_role(viewer, ADMIN, "org_admin")
    form = {"email": email, "name": name, "organisation": organisation, "roles": roles}
    try:
        org = partners.get_org(db, organisation) if organisation else None
        if org is None:
            raise InvalidInput("choose an organisation", field="organisation")
        if not viewer.has_role(ADMIN):
            if org.id != viewer.org_id:
                raise Forbidden("an organisation admin adds members to its own organisation only")
            if {"platform_admin", "auditor"} & set(roles):
                raise Forbidden("only a platform admin grants platform_admin or auditor")
        partners.add_member(db, email=email, name=name, org=org, roles=roles, password=password or None,
                            actor=viewer)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _members_page(request, db, viewer, errors=_error_field(exc), form=form, status=422)
    return RedirectResponse("/admin/members?notice=saved", status_code=303)


# --- secondments and agreements -------------------------------------------------------------------


def _secondments_page(request: Request, db: Session, *, errors: dict[str, str] | None = None,
                      form: dict[str, str] | None = None, status: int = 200) -> Response:
    rows = partners_repo.secondments(db)
    people = {m.id: m.email for m, _o in partners_repo.list_members(db)}
    orgs = {o.id: o.name for o in partners_repo.list_orgs(db)}
    return page(request, "admin_secondments.html", {
        "rows": rows, "people": people, "orgs": orgs, "today": date.today(),
        "form": form or {"member": "", "seconding_org": "", "start": "", "end": "", "scope": "", "reference": ""},
        "errors": errors or {}}, status=status, title="Secondments")


@router.get("/admin/secondments")
def secondments(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    partners.require_role(viewer, ADMIN)
    return _secondments_page(request, db)


@router.post("/admin/secondments")
def add_secondment(request: Request, db: Db, viewer: CurrentViewer, member: Text = "", seconding_org: Text = "",
                   start: Text = "", end: Text = "", scope: Text = "", reference: Text = "") -> Response:
    partners.require_role(viewer, ADMIN)
    form = {"member": member, "seconding_org": seconding_org, "start": start, "end": end, "scope": scope,
            "reference": reference}
    try:
        if not member:
            raise InvalidInput("enter the expert's e-mail address", field="member")
        if not seconding_org:
            raise InvalidInput("choose the seconding organisation", field="seconding_org")
        begin = _day(start, "start")
        if begin is None:
            raise InvalidInput("a secondment needs a start date", field="start")
        partners.add_secondment(db, member=partners.get_member(db, member),
                                seconding_org=partners.get_org(db, seconding_org), start=begin,
                                end=_day(end, "end"), scope=scope, agreement_reference=reference, actor=viewer)
    except NotFound as exc:
        db.rollback()
        return _secondments_page(request, db, errors={"member" if "member" in exc.detail else "seconding_org":
                                                      exc.detail}, form=form, status=422)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _secondments_page(request, db, errors=_error_field(exc), form=form, status=422)
    return RedirectResponse("/admin/secondments?notice=saved", status_code=303)


def _agreements_page(request: Request, db: Session, viewer: Any, *, errors: dict[str, str] | None = None,
                     form: dict[str, Any] | None = None, status: int = 200) -> Response:
    org_id = None if viewer.has_role(ADMIN) else viewer.org_id
    orgs = {o.id: o.name for o in partners_repo.list_orgs(db)}
    return page(request, "admin_agreements.html", {
        "rows": partners_repo.agreements(db, org_id=org_id), "orgs": orgs, "tlps": TLP_LEVELS,
        "categories": CATEGORIES, "purposes": PURPOSES, "can_add": viewer.has_role(ADMIN),
        "form": form or {"organisation": "", "reference": "", "valid_from": "", "valid_until": "",
                         "tlp_ceiling": "amber", "contribute": list(CATEGORIES), "receive": list(CATEGORIES),
                         "purposes": list(PURPOSES)},
        "errors": errors or {}}, status=status, title="Agreements")


@router.get("/admin/agreements")
def agreements(request: Request, db: Db, viewer: CurrentViewer) -> Response:
    partners.require_role(viewer, ADMIN, "org_admin")
    return _agreements_page(request, db, viewer)


@router.post("/admin/agreements")
def add_agreement(request: Request, db: Db, viewer: CurrentViewer, organisation: Text = "", reference: Text = "",
                  valid_from: Text = "", valid_until: Text = "", tlp_ceiling: Text = "amber",
                  contribute: Many = [], receive: Many = [], purposes: Many = []) -> Response:  # noqa: B006
    partners.require_role(viewer, ADMIN)
    form = {"organisation": organisation, "reference": reference, "valid_from": valid_from,
            "valid_until": valid_until, "tlp_ceiling": tlp_ceiling, "contribute": contribute, "receive": receive,
            "purposes": purposes}
    try:
        if not organisation:
            raise InvalidInput("choose an organisation", field="organisation")
        start = _day(valid_from, "valid_from")
        if start is None:
            raise InvalidInput("an agreement needs a start date", field="valid_from")
        partners.add_agreement(db, org=partners.get_org(db, organisation), reference=reference, valid_from=start,
                               valid_until=_day(valid_until, "valid_until"), tlp_ceiling=tlp_ceiling,
                               contribute=contribute, receive=receive, purposes=purposes, actor=viewer)
    except (InvalidInput, Conflict) as exc:
        db.rollback()
        return _agreements_page(request, db, viewer, errors=_error_field(exc), form=form, status=422)
    return RedirectResponse("/admin/agreements?notice=saved", status_code=303)


# --- my API tokens ------------------------------------------------------------------------------


def _tokens_page(request: Request, db: Session, member_id: int, *, issued: str | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return page(request, "tokens.html", {"tokens": partners_repo.tokens_of(db, member_id), "issued": issued,
                                         "default_days": settings_of(request).token_default_days,
                                         "errors": errors or {}}, status=status, title="API tokens")


@router.get("/tokens")
def my_tokens(request: Request, db: Db, user: User) -> Response:
    return _tokens_page(request, db, user.member_id)


@router.post("/tokens")
def create_token(request: Request, db: Db, user: User, name: Text = "", expires_days: Text = "") -> Response:
    member = partners_repo.member_by_id(db, user.member_id)
    assert member is not None
    try:
        days = int(expires_days) if expires_days else settings_of(request).token_default_days
    except ValueError:
        return _tokens_page(request, db, user.member_id, errors={"expires_days": "a whole number of days"},
                            status=422)
    try:
        issued = tokens.issue(db, member=member, name=name[:100], expires_days=days)
    except InvalidInput as exc:
        db.rollback()
        return _tokens_page(request, db, user.member_id, errors=_error_field(exc), status=422)
    audit.record(db, action="token.create", member_id=member.id, organisation_id=member.organisation_id,
                 detail={"prefix": issued.record.prefix, "via": "web"})
    # The token is shown on this one response only (never stored in clear, never in a URL).
    return _tokens_page(request, db, user.member_id, issued=issued.token)


@router.post("/tokens/{prefix}/revoke")
def revoke_token(request: Request, prefix: str, db: Db, user: User) -> Response:
    record = partners_repo.token_by_prefix(db, prefix)
    if record is None or record.member_id != user.member_id:
        raise NotFound(f"no token with prefix {prefix!r}")
    tokens.revoke(db, prefix=prefix)
    audit.record(db, action="token.revoke", member_id=user.member_id, detail={"prefix": prefix, "via": "web"})
    return RedirectResponse("/tokens?notice=revoked", status_code=303)
