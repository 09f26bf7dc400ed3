"""/api/v1 endpoints of fusion: lookups (hit/no-hit), owners' hit inbox, correlation and
clusters, warninglists, watchlists and the alert inbox."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cyberfusion.api.deps import CurrentViewer, SessionDep, SessionRoute
from cyberfusion.fusion import alerts, correlate, hits, warninglists, watch
from cyberfusion.fusion.schemas import AlertsReadIn, AnswerIn, LookupIn, WatchItemIn, WatchlistIn

router = APIRouter(prefix="/api/v1", tags=["fusion"], route_class=SessionRoute)
Purpose = Annotated[str, Query(description="Why you read: investigation, victim_notification, network_defence, "
                                           "research, threat_reporting, ai_processing")]


def _default(o: Any) -> Any:
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _json(data: Any, status_code: int = 200) -> Response:
    # Large lookup answers: one json.dumps instead of FastAPI's per-item encoder.
    return Response(json.dumps(data, default=_default, ensure_ascii=False, separators=(",", ":")),
                    status_code=status_code, media_type="application/json")


@router.post("/lookup")
def lookup(request: Request, body: LookupIn, session: SessionDep, viewer: CurrentViewer) -> Response:
    """Do you hold anything on these values? Each answer: hit (details, or a reference when the
    source withholds them) or no_hit. Owners of hits are notified."""
    result = hits.lookup(session, viewer=viewer, purpose=body.purpose, values=body.values, kind=body.kind,
                         settings=request.app.state.settings, writer=request.app.state.lookup_writer)
    return _json(result.as_dict())


@router.get("/hits/inbox")
def hit_inbox(session: SessionDep, viewer: CurrentViewer, status: str | None = None, after: int | None = None,
              limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    """Lookups by others that hit your organisation's data: who asked, which value, why."""
    return hits.inbox(session, viewer=viewer, status=status, after_id=after, limit=limit)


@router.post("/hits/{reference}/answer")
def hit_answer(reference: str, body: AnswerIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return hits.answer(session, viewer=viewer, reference=reference, decision=body.decision, message=body.message)


@router.get("/hits/sent")
def hits_sent(session: SessionDep, viewer: CurrentViewer, after: int | None = None,
              limit: int = Query(100, ge=1, le=500)) -> list[dict[str, Any]]:
    """Your organisation's hit references and the owners' answers."""
    return hits.sent(session, viewer=viewer, after_id=after, limit=limit)


@router.get("/correlation")
def correlation(request: Request, session: SessionDep, viewer: CurrentViewer, purpose: Purpose, value: str,
                kind: str | None = None) -> Response:
    """Corroboration, first/last seen, sightings and related values of one value (what you may read)."""
    return _json(correlate.correlations(session, viewer=viewer, purpose=purpose, value=value, kind=kind,
                                        settings=request.app.state.settings))


@router.get("/objects/{stix_id}/related")
def related(request: Request, stix_id: str, session: SessionDep, viewer: CurrentViewer, purpose: Purpose,
            depth: int = Query(2, ge=1, le=correlate.MAX_DEPTH),
            max_nodes: int | None = Query(None, ge=2, le=5000)) -> Response:
    """The cluster around an object: objects linked by shared infrastructure, policy-filtered."""
    return _json(correlate.related(session, viewer=viewer, purpose=purpose, stix_id=stix_id, depth=depth,
                                   max_nodes=max_nodes, settings=request.app.state.settings))


@router.get("/warninglists")
def warninglist_index(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return warninglists.list_all(session)


@router.get("/warninglists/check")
def warninglist_check(session: SessionDep, viewer: CurrentViewer, value: str, kind: str | None = None) -> dict[str, Any]:
    return warninglists.check(session, value=value, kind=kind)


@router.post("/watchlists", status_code=201)
def create_watchlist(body: WatchlistIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    """Create a watchlist; a webhook's signing secret is returned here only."""
    wl, secret = watch.create_watchlist(session, viewer=viewer, name=body.name, purpose=body.purpose,
                                        scope=body.scope, webhook_url=body.webhook_url, email=body.email,
                                        items=[i.model_dump() for i in body.items])
    return watch.get_watchlist(session, viewer=viewer, watchlist_id=wl.id) | {"webhook_secret": secret}


@router.get("/watchlists")
def list_watchlists(session: SessionDep, viewer: CurrentViewer) -> list[dict[str, Any]]:
    return watch.list_watchlists(session, viewer=viewer)


@router.get("/watchlists/{watchlist_id}")
def get_watchlist(watchlist_id: int, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return watch.get_watchlist(session, viewer=viewer, watchlist_id=watchlist_id)


@router.delete("/watchlists/{watchlist_id}", status_code=204)
def delete_watchlist(watchlist_id: int, session: SessionDep, viewer: CurrentViewer) -> Response:
    watch.delete_watchlist(session, viewer=viewer, watchlist_id=watchlist_id)
    return Response(status_code=204)


@router.post("/watchlists/{watchlist_id}/items", status_code=201)
def add_watch_item(watchlist_id: int, body: WatchItemIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, Any]:
    return watch.add_item(session, viewer=viewer, watchlist_id=watchlist_id, type=body.type, value=body.value,
                          kind=body.kind)


@router.delete("/watchlists/{watchlist_id}/items/{item_id}", status_code=204)
def remove_watch_item(watchlist_id: int, item_id: int, session: SessionDep, viewer: CurrentViewer) -> Response:
    watch.remove_item(session, viewer=viewer, watchlist_id=watchlist_id, item_id=item_id)
    return Response(status_code=204)


@router.get("/alerts")
def alert_inbox(session: SessionDep, viewer: CurrentViewer, purpose: Purpose, unread: bool = False,
                after: int | None = None, limit: int = Query(100, ge=1, le=500)) -> Response:
    """Your and your organisation's alerts that you may read now for this purpose, newest first."""
    return _json(alerts.inbox(session, viewer=viewer, purpose=purpose, unread=unread, after_id=after, limit=limit))


@router.post("/alerts/read")
def alerts_read(body: AlertsReadIn, session: SessionDep, viewer: CurrentViewer) -> dict[str, int]:
    return {"marked": alerts.mark_read(session, viewer=viewer, ids=body.ids)}
