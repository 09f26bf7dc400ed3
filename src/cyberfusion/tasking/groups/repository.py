"""All SQL of communities: groups, membership, posts, meetings and intelligence shares."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.partners.models import Member
from cyberfusion.tasking.groups.models import (
    Group,
    GroupMember,
    GroupPost,
    GroupShare,
    Meeting,
)


def group_by_name(session: Session, name: str) -> Group | None:
    return session.scalar(select(Group).where(Group.name == name))


def group(session: Session, group_id: int) -> Group | None:
    return session.get(Group, group_id)


def groups(session: Session) -> list[Group]:
    return list(session.scalars(select(Group).order_by(Group.seeded.desc(), Group.name)))


def roles_of(session: Session, member_id: int) -> dict[int, str]:
    return {g: r for g, r in session.execute(select(GroupMember.group_id, GroupMember.role)
                                             .where(GroupMember.member_id == member_id))}


def membership(session: Session, *, group_id: int, member_id: int) -> GroupMember | None:
    return session.get(GroupMember, (group_id, member_id))


def members(session: Session, group_id: int) -> list[tuple[GroupMember, Member]]:
    return [(a, b) for a, b in session.execute(select(GroupMember, Member).join(Member, Member.id == GroupMember.member_id)
                                .where(GroupMember.group_id == group_id).order_by(Member.email))]


def member_org_ids(session: Session, group_id: int) -> list[int]:
    return sorted(set(session.scalars(select(Member.organisation_id).join(
        GroupMember, GroupMember.member_id == Member.id).where(GroupMember.group_id == group_id,
                                                               Member.active.is_(True)))))


def posts(session: Session, *, group_id: int, kind: str | None) -> list[GroupPost]:
    q = select(GroupPost).where(GroupPost.group_id == group_id)
    if kind:
        q = q.where(GroupPost.kind == kind)
    return list(session.scalars(q.order_by(GroupPost.created_at.desc(), GroupPost.id.desc())))


def post(session: Session, post_id: int) -> GroupPost | None:
    return session.get(GroupPost, post_id)


def meetings(session: Session, group_id: int) -> list[Meeting]:
    return list(session.scalars(select(Meeting).where(Meeting.group_id == group_id)
                                .order_by(Meeting.starts_at, Meeting.id)))


def meeting(session: Session, meeting_id: int) -> Meeting | None:
    return session.get(Meeting, meeting_id)


def share_contribution_ids(session: Session, group_id: int) -> list[str]:
    return list(session.scalars(select(GroupShare.contribution_id).where(GroupShare.group_id == group_id)
                                .order_by(GroupShare.shared_at)))


def share(session: Session, *, group_id: int, contribution_id: str) -> GroupShare | None:
    return session.get(GroupShare, (group_id, contribution_id))
