"""Releasing an RFI's answer as a STIX 2.1 report.

The bundle is built when it is read, for the reader, through the policy gate with
``disseminate=True`` (a released answer is a product sent onwards): each referenced object is
included only if this reader may read it now, with its own handling as markings; the report
itself carries the RFI's TLP. Nothing is stored, so retention and later handling changes apply.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.db import utcnow
from cyberfusion.errors import Conflict, Forbidden, NotFound
from cyberfusion.export.stix import write_bundle
from cyberfusion.intel import repository as intel_repo
from cyberfusion.kit.timeutil import format_ts
from cyberfusion.partners import repository as partners_repo
from cyberfusion.partners import service as partners
from cyberfusion.sharing.handling import describe
from cyberfusion.sharing.markings import TLP_LEVELS
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.tasking import common
from cyberfusion.tasking import service as tasking
from cyberfusion.tasking.rfi import repository, service
from cyberfusion.tasking.rfi.models import Rfi, RfiAnswer

REPORT_NAMESPACE = uuid.UUID("8a1f2c3d-4b5e-4f60-9a7b-0c1d2e3f4a5b")


def _answer(session: Session, viewer: Viewer, rfi_id: int) -> tuple[Rfi, RfiAnswer]:
    rfi = service.get_visible(session, viewer=viewer, rfi_id=rfi_id)
    current = repository.latest_answer(session, rfi.id) if service.answer_visible(viewer, rfi) else None
    if current is None or rfi.state not in ("answered", "closed"):
        raise NotFound(f"RFI {rfi.id} has no answer you may read")
    return rfi, current


def release(session: Session, *, viewer: Viewer, rfi_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The centre releases the answer to the requester as a STIX report (once)."""
    common.require_host_analyst(viewer, "releasing an answer")
    rfi, current = _answer(session, viewer, rfi_id)
    if current.released_at is not None:
        raise Conflict(f"the answer to RFI {rfi.id} was released at {current.released_at.isoformat()}",
                       extra={"field": "state"})
    now = now or utcnow()
    current.released_at, current.released_by = now, viewer.member_id
    requester = partners_repo.member_by_id(session, rfi.requester_member_id)
    refs = repository.answer_refs(session, current.id)
    # What the requester will receive, counted only among what the releasing analyst may read.
    count = 0
    if requester is not None:
        try:
            requester_view = partners.resolve_viewer(session, requester)
        except Forbidden:
            requester_view = None
        if requester_view is not None:
            theirs = {r.stix_id for r in tasking.readable_rows(session, viewer=requester_view, purpose=rfi.purpose,
                                                                stix_ids=refs, disseminate=True)}
            mine = {r.stix_id for r in tasking.readable_rows(session, viewer=viewer, purpose=rfi.purpose,
                                                              stix_ids=theirs, disseminate=False)}
            count = len(mine)
    service.record_event(session, rfi, viewer=viewer, action="release", from_state=rfi.state,
                    detail={"answer_id": current.id, "objects_for_requester": count}, now=now)
    tasking.notify(session, organisation_id=rfi.requester_org_id, member_id=rfi.requester_member_id,
                   kind="rfi.released", subject=f"The answer to RFI {rfi.id} is released as a STIX report",
                   body=rfi.title, ref=f"rfi:{rfi.id}", now=now)
    return {"rfi": rfi.id, "answer_id": current.id, "released_at": now, "objects_for_requester": count}


def _report_handling(rfi: Rfi) -> dict[str, Any]:
    return {"tlp": TLP_LEVELS[rfi.tlp], "purposes": [rfi.purpose], "allowed_countries": [],
            "denied_countries": [], "allowed_kinds": [], "law_enforcement_only": False,
            "no_further_dissemination": False}


def report_bundle(session: Session, *, viewer: Viewer, rfi_id: int) -> str:
    """The released answer as a STIX bundle, built for this reader; host analysts may preview it."""
    rfi, current = _answer(session, viewer, rfi_id)
    if current.released_at is None and not common.is_host_analyst(viewer):
        raise NotFound(f"the answer to RFI {rfi.id} is not released")
    rows = tasking.readable_rows(session, viewer=viewer, purpose=rfi.purpose,
                                 stix_ids=repository.answer_refs(session, current.id), disseminate=True)
    handlings = {h.id: describe(h) for h in intel_repo.handlings(session, [r.handling_id for r in rows]).values()}
    host = partners_repo.host_centre(session)
    when = format_ts(current.released_at or current.created_at)
    identity = {"type": "identity", "spec_version": "2.1", "id": host.identity_id if host else
                f"identity--{uuid.uuid5(REPORT_NAMESPACE, 'host')}", "created": when, "modified": when,
                "name": host.name if host else "host centre", "identity_class": "organization"}
    report = {"type": "report", "spec_version": "2.1",
              "id": f"report--{uuid.uuid5(REPORT_NAMESPACE, f'rfi-{rfi.id}-answer-{current.id}')}",
              "created": when, "modified": when, "published": when, "created_by_ref": identity["id"],
              "name": f"Answer to RFI {rfi.id}: {rfi.title}", "description": current.text,
              "report_types": ["threat-report"],
              # STIX needs at least one reference: the centre's identity stands in when none is readable.
              "object_refs": [r.stix_id for r in rows] or [identity["id"]]}
    report_handling = _report_handling(rfi)
    items = [(report, report_handling), (identity, report_handling)]
    items += [(json.loads(r.data), handlings[r.handling_id]) for r in rows]
    out = io.StringIO()
    write_bundle(out, items)
    tasking.audit_read(session, viewer=viewer, action="rfi.report", purpose=rfi.purpose,
                       objects=[{"id": r.stix_id} for r in rows], detail={"rfi": rfi.id, "answer_id": current.id})
    return out.getvalue()
