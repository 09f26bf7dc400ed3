"""Rules of communities: groups and their members, notes, documents, good practices, meetings, and
intelligence shared to a group.

Group membership, posts, meetings and shared intelligence are for members only. Anyone signed in
sees which groups exist (name, kind, region, description) and whether they belong to one.

Sharing intelligence to a group is a sharing scope the policy gate already understands: at share
time the organisations of the group's members are written into the contribution's handling as
named ``recipients`` (sharing/policy.py is unchanged). Membership is therefore resolved once, when
sharing: organisations that join later do not see earlier shares, and those that leave keep
what was shared while they belonged. Every other handling rule (TLP ceilings, purposes, countries,
kinds, retention) still applies to each member organisation.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, InvalidInput, NotFound
from cyberfusion.ingest.pipeline import ImportResult, import_file
from cyberfusion.kit.regions import REGIONS, region_name
from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.sharing.markings import PURPOSES
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import repository as tasking_repo
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.groups import repository
from cyberfusion.tasking.groups.models import (
    GROUP_KINDS,
    GROUP_ROLES,
    POST_KINDS,
    Group,
    GroupMember,
    GroupPost,
    GroupShare,
    Meeting,
)

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
EXPERT_GROUP = "Global Cybercrime Expert Group"
SEEDED_GROUPS: tuple[tuple[str, str, str | None, str], ...] = (
    (EXPERT_GROUP, "expert_group", None,
     "Experts from law enforcement, industry and academia advising on cybercrime strategy."),
    *((f"{region} Working Group of Heads of Cybercrime Units", "regional_working_group", region,
       f"Heads of cybercrime units of the {region} region: regional priorities, joint operations and "
       "good practice.") for region in REGIONS),
)


def seed_groups(session: Session) -> list[Group]:
    """Create the expert group and the five regional working groups if they are missing (idempotent)."""
    created = []
    for name, kind, region, description in SEEDED_GROUPS:
        if repository.group_by_name(session, name) is None:
            g = Group(name=name, kind=kind, region=region, description=description, seeded=True, created_at=utcnow())
            tasking_repo.add(session, g)
            created.append(g)
    return created


def _group(session: Session, group_id: int) -> Group:
    g = repository.group(session, group_id)
    if g is None:
        raise NotFound(f"no group {group_id}")
    return g


def _membership(session: Session, viewer: Viewer, group_id: int) -> tuple[Group, GroupMember]:
    g = _group(session, group_id)
    m = repository.membership(session, group_id=g.id, member_id=viewer.member_id)
    if m is None:
        raise Forbidden(f"only members of {g.name} see its members, posts, meetings and shared intelligence")
    return g, m


def _chair_or_admin(session: Session, viewer: Viewer, group_id: int, doing: str) -> Group:
    g = _group(session, group_id)
    m = repository.membership(session, group_id=g.id, member_id=viewer.member_id)
    if not viewer.has_role("platform_admin") and (m is None or m.role != "chair"):
        raise Forbidden(f"{doing} in {g.name} needs its chair or a platform admin")
    return g


def _audit(session: Session, viewer: Viewer, action: str, **detail: Any) -> None:
    audit.record(session, action=f"group.{action}", viewer=viewer, detail=detail)


def group_row(g: Group, my_role: str | None) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "kind": g.kind, "region": g.region, "description": g.description,
            "seeded": g.seeded, "my_role": my_role}


def list_groups(session: Session, *, viewer: Viewer) -> list[dict[str, Any]]:
    mine = repository.roles_of(session, viewer.member_id)
    return [group_row(g, mine.get(g.id)) for g in repository.groups(session)]


def create_group(session: Session, *, viewer: Viewer, name: str, description: str = "", kind: str = "other",
                 region: str | None = None) -> Group:
    if not (viewer.has_role("platform_admin") or common.is_host_analyst(viewer)):
        raise Forbidden("creating a group needs a platform admin or a host-centre analyst")
    name = common.text(name, "name")
    if repository.group_by_name(session, name):
        raise Conflict(f"a group named {name!r} exists", extra={"field": "name"})
    g = Group(name=name, kind=common.choice(kind, GROUP_KINDS, "kind"),
              region=region_name(region) if region else None,
              description=common.text(description, "description", max_len=5000, required=False),
              seeded=False, created_at=utcnow())
    tasking_repo.add(session, g)
    if viewer.has_role("analyst", "contributor", "reader"):  # a platform admin who only administers stays out
        tasking_repo.add(session, GroupMember(group_id=g.id, member_id=viewer.member_id, role="chair",
                                              joined_at=utcnow()))
    _audit(session, viewer, "create", group_id=g.id, name=name)
    return g


def add_member(session: Session, *, viewer: Viewer, group_id: int, member: str, role: str = "member") -> GroupMember:
    g = _chair_or_admin(session, viewer, group_id, "adding members")
    common.choice(role, GROUP_ROLES, "role")
    try:
        m = partners.get_member(session, member)
    except NotFound:
        raise InvalidInput(f"no member {member!r}", field="member") from None
    if repository.membership(session, group_id=g.id, member_id=m.id):
        raise Conflict(f"{m.email} is already a member of {g.name}", extra={"field": "member"})
    link = GroupMember(group_id=g.id, member_id=m.id, role=role, joined_at=utcnow())
    tasking_repo.add(session, link)
    _audit(session, viewer, "add_member", group_id=g.id, member_id=m.id, role=role)
    return link


def remove_member(session: Session, *, viewer: Viewer, group_id: int, member_id: int) -> None:
    g = _group(session, group_id)
    if member_id != viewer.member_id:
        _chair_or_admin(session, viewer, group_id, "removing members")
    link = repository.membership(session, group_id=g.id, member_id=member_id)
    if link is None:
        raise NotFound(f"member {member_id} is not in {g.name}")
    tasking_repo.delete(session, link)
    _audit(session, viewer, "remove_member", group_id=g.id, member_id=member_id)


def members(session: Session, *, viewer: Viewer, group_id: int) -> list[dict[str, Any]]:
    """The membership list: for members of the group only."""
    g, _ = _membership(session, viewer, group_id)
    _audit(session, viewer, "members", group_id=g.id)
    return [{"member_id": m.id, "email": m.email, "name": m.name, "role": gm.role, "joined_at": gm.joined_at}
            for gm, m in repository.members(session, g.id)]


def add_post(session: Session, *, viewer: Viewer, group_id: int, kind: str, title: str, body: str = "",
             file_name: str | None = None, media_type: str | None = None, content: bytes | None = None) -> GroupPost:
    """A note, a document (with a file) or a good practice, for the group's members."""
    g, _ = _membership(session, viewer, group_id)
    common.choice(kind, POST_KINDS, "kind")
    if content is not None and len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"documents are limited to {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB", field="content")
    if kind == "document" and content is None:
        raise InvalidInput("a document needs a file", field="content")
    p = GroupPost(group_id=g.id, kind=kind, title=common.text(title, "title"),
                  body=common.text(body, "body", max_len=200_000, required=kind != "document"),
                  file_name=common.text(file_name, "file_name", max_len=255) if content is not None else None,
                  media_type=(media_type or "application/octet-stream")[:100] if content is not None else None,
                  content=content, author_member_id=viewer.member_id, created_at=utcnow())
    tasking_repo.add(session, p)
    _audit(session, viewer, "post", group_id=g.id, post_id=p.id, kind=kind)
    return p


def post_row(p: GroupPost) -> dict[str, Any]:
    return {"id": p.id, "kind": p.kind, "title": p.title, "body": p.body, "file_name": p.file_name,
            "media_type": p.media_type, "size": len(p.content) if p.content is not None else None,
            "author_member_id": p.author_member_id, "created_at": p.created_at}


def list_posts(session: Session, *, viewer: Viewer, group_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    g, _ = _membership(session, viewer, group_id)
    if kind:
        common.choice(kind, POST_KINDS, "kind")
    return [post_row(p) for p in repository.posts(session, group_id=g.id, kind=kind)]


def document(session: Session, *, viewer: Viewer, group_id: int, post_id: int) -> GroupPost:
    g, _ = _membership(session, viewer, group_id)
    p = repository.post(session, post_id)
    if p is None or p.group_id != g.id or p.content is None:
        raise NotFound(f"no document {post_id} in {g.name}")
    _audit(session, viewer, "document.read", group_id=g.id, post_id=p.id)
    return p


def schedule_meeting(session: Session, *, viewer: Viewer, group_id: int, title: str, starts_at: datetime,
                     location: str = "", agenda: str = "") -> Meeting:
    g = _chair_or_admin(session, viewer, group_id, "scheduling a meeting")
    now = utcnow()
    mt = Meeting(group_id=g.id, title=common.text(title, "title"), starts_at=common.aware(starts_at, "starts_at"),
                 location=common.text(location, "location", required=False),
                 agenda=common.text(agenda, "agenda", max_len=100_000, required=False), minutes="",
                 created_by=viewer.member_id, created_at=now, updated_at=now)
    tasking_repo.add(session, mt)
    _audit(session, viewer, "meeting.create", group_id=g.id, meeting_id=mt.id)
    return mt


def update_meeting(session: Session, *, viewer: Viewer, meeting_id: int, agenda: str | None = None,
                   minutes: str | None = None) -> Meeting:
    mt = repository.meeting(session, meeting_id)
    if mt is None:
        raise NotFound(f"no meeting {meeting_id}")
    _chair_or_admin(session, viewer, mt.group_id, "writing the agenda or minutes")
    if agenda is not None:
        mt.agenda = common.text(agenda, "agenda", max_len=100_000, required=False)
    if minutes is not None:
        mt.minutes = common.text(minutes, "minutes", max_len=200_000, required=False)
    mt.updated_at = utcnow()
    session.flush()
    _audit(session, viewer, "meeting.update", group_id=mt.group_id, meeting_id=mt.id)
    return mt


def meeting_row(m: Meeting) -> dict[str, Any]:
    return {"id": m.id, "title": m.title, "starts_at": m.starts_at, "location": m.location, "agenda": m.agenda,
            "minutes": m.minutes, "created_by": m.created_by, "updated_at": m.updated_at}


def list_meetings(session: Session, *, viewer: Viewer, group_id: int) -> list[dict[str, Any]]:
    g, _ = _membership(session, viewer, group_id)
    return [meeting_row(m) for m in repository.meetings(session, g.id)]


def share_file(session: Session, *, viewer: Viewer, group_id: int, path: Path, fmt: str, spec: HandlingSpec,
               file_name: str | None = None) -> ImportResult:
    """Contribute a file to the group: its members' organisations become the named recipients."""
    g, _ = _membership(session, viewer, group_id)
    if spec.recipients:
        raise InvalidInput("the group decides the recipients: leave them out", field="recipients")
    recipients = tuple(repository.member_org_ids(session, g.id))
    result = import_file(session, viewer=viewer, path=path, fmt=fmt, spec=replace(spec, recipients=recipients),
                         file_name=file_name)
    if not result.created:
        raise Conflict(f"this file is already contribution {result.contribution_id} with its own handling; "
                       "sharing it again would not change who may see it", extra={"field": "file"})
    assert result.contribution_id is not None
    tasking_repo.add(session, GroupShare(group_id=g.id, contribution_id=result.contribution_id,
                                         shared_by=viewer.member_id, shared_at=utcnow()))
    _audit(session, viewer, "share", group_id=g.id, contribution_id=result.contribution_id,
           recipients=list(recipients))
    return result


def intelligence(session: Session, *, viewer: Viewer, group_id: int, purpose: str) -> list[dict[str, Any]]:
    """What was shared to the group, as far as the policy lets this member read it (audited)."""
    g, _ = _membership(session, viewer, group_id)
    common.choice(purpose, PURPOSES, "purpose")
    objects = tasking.read_references(session, viewer=viewer, purpose=purpose,
                                      contribution_ids=repository.share_contribution_ids(session, g.id))
    tasking.audit_read(session, viewer=viewer, action="group.intelligence", purpose=purpose, objects=objects,
                       detail={"group_id": g.id})
    return objects
