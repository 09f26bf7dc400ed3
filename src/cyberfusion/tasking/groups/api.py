"""/api/v1/groups: communities, their members (for members only), posts, meetings and shared intelligence."""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.errors import InvalidInput
from cyberfusion.tasking.groups import service
from cyberfusion.tasking.groups.schemas import (
    GroupIn,
    GroupMemberIn,
    MeetingIn,
    MeetingUpdate,
    PostIn,
    ShareIn,
)

router = APIRouter(prefix="/api/v1/groups", tags=["tasking: communities"], route_class=SessionRoute)


@router.get("")
def list_groups(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.list_groups(session, viewer=viewer)


@router.post("", status_code=201)
def create_group(body: GroupIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    g = service.create_group(session, viewer=viewer, **body.model_dump())
    return service.group_row(g, "chair" if viewer.has_role("analyst", "contributor", "reader") else None)


@router.get("/{group_id}/members")
def members(group_id: int, session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.members(session, viewer=viewer, group_id=group_id)


@router.post("/{group_id}/members", status_code=201)
def add_member(group_id: int, body: GroupMemberIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    link = service.add_member(session, viewer=viewer, group_id=group_id, member=body.member, role=body.role)
    return {"group_id": link.group_id, "member_id": link.member_id, "role": link.role}


@router.delete("/{group_id}/members/{member_id}", status_code=204)
def remove_member(group_id: int, member_id: int, session: SessionDep, viewer: CurrentViewer) -> None:
    service.remove_member(session, viewer=viewer, group_id=group_id, member_id=member_id)


@router.get("/{group_id}/posts")
def list_posts(group_id: int, session: SessionDep, viewer: CurrentViewer, kind: str | None = None) -> list[dict[str, Any]]:
    return service.list_posts(session, viewer=viewer, group_id=group_id, kind=kind)


@router.post("/{group_id}/posts", status_code=201)
def add_post(group_id: int, body: PostIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    content = None
    if body.content_base64 is not None:
        try:
            content = base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("not base64", field="content_base64") from None
    p = service.add_post(session, viewer=viewer, group_id=group_id, kind=body.kind, title=body.title,
                         body=body.body, file_name=body.file_name, media_type=body.media_type, content=content)
    return service.post_row(p)


@router.get("/{group_id}/posts/{post_id}/content", response_class=Response)
def document(group_id: int, post_id: int, session: SessionDep, viewer: CurrentViewer) -> Response:
    p = service.document(session, viewer=viewer, group_id=group_id, post_id=post_id)
    return Response(p.content, media_type=p.media_type or "application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{p.file_name}"',
                             "X-Content-Type-Options": "nosniff"})


@router.get("/{group_id}/meetings")
def list_meetings(group_id: int, session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return service.list_meetings(session, viewer=viewer, group_id=group_id)


@router.post("/{group_id}/meetings", status_code=201)
def schedule_meeting(group_id: int, body: MeetingIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.meeting_row(service.schedule_meeting(session, viewer=viewer, group_id=group_id,
                                                        **body.model_dump()))


@router.patch("/meetings/{meeting_id}")
def update_meeting(meeting_id: int, body: MeetingUpdate, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return service.meeting_row(service.update_meeting(session, viewer=viewer, meeting_id=meeting_id,
                                                      **body.model_dump(exclude_unset=True)))


@router.post("/{group_id}/contributions", status_code=201)
def share(group_id: int, body: ShareIn, request: Request, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Contribute to the group: its member organisations become the named recipients."""
    content = body.content if isinstance(body.content, str) else json.dumps(body.content)
    tmp_dir = request.app.state.settings.data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=Path(body.file_name).suffix) as tmp:
        tmp.write(content.encode())
        tmp.flush()
        result = service.share_file(session, viewer=viewer, group_id=group_id, path=Path(tmp.name), fmt=body.format,
                                    spec=body.handling.to_spec(session), file_name=body.file_name)
    return result.as_dict()


@router.get("/{group_id}/intelligence")
def intelligence(group_id: int, purpose: str, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return {"items": service.intelligence(session, viewer=viewer, group_id=group_id, purpose=purpose)}
