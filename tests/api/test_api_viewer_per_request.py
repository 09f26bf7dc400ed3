"""The caller's access is read on every request, even while its token is trusted from a recent
check (auth/tokens.CACHE_SECONDS): what another process changes in the database — a member
deactivated, an agreement ended, roles changed — applies to the very next request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from cyberfusion.db import transaction
from cyberfusion.partners.models import Agreement, Member, Organisation

LOOKUP = {"purpose": "investigation", "values": ["198.51.100.7"]}


def _failures(world) -> int:  # type: ignore[no-untyped-def]
    from cyberfusion.web.models import LoginThrottle
    with world.factory() as s:
        return s.scalar(select(func.coalesce(func.sum(LoginThrottle.failures), 0))) or 0


@pytest.mark.storage
def test_changes_by_another_process_apply_to_the_next_request(client, world):
    token = world.token("bank")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/lookup", json=LOOKUP, headers=auth).status_code == 200
    assert client.get("/api/v1/me", headers=auth).json()["roles"] == ["contributor", "reader"]
    assert client.get("/api/v1/hits/inbox", headers=auth).status_code == 200

    # Roles changed in the database (as an admin in another process would): the next viewer has them.
    with transaction(world.factory) as s:
        s.execute(update(Member).where(Member.id == world.members["bank"]).values(roles=["reader"]))
    r = client.get("/api/v1/hits/inbox", headers=auth)
    assert r.status_code == 403 and "roles" in r.json()["detail"]

    # The agreement ends: no intelligence at once (403 with the reason), though the token is trusted.
    with transaction(world.factory) as s:
        s.execute(update(Agreement).where(Agreement.organisation_id == world.orgs["bank"])
                  .values(valid_until=date.today() - timedelta(days=1)))
    r = client.post("/api/v1/lookup", json=LOOKUP, headers=auth)
    assert r.status_code == 403 and "agreement" in r.json()["detail"]

    # Deactivated: refused as unauthenticated at once, and counted as a failed attempt.
    _deactivated_is_refused(client, world, auth, LOOKUP)



def _deactivated_is_refused(client, world, auth, body):
    """Deactivate the bank's member: its next lookup is refused as unauthenticated at once and
    counted as a failed attempt. Returns that response."""
    before = _failures(world)
    with transaction(world.factory) as s:
        s.execute(update(Member).where(Member.id == world.members["bank"]).values(active=False))
    r = client.post("/api/v1/lookup", json=body, headers=auth)
    assert (r.status_code, r.json()["detail"]) == (401, "member inactive")
    assert _failures(world) == before + 1
    return r

@pytest.mark.storage
def test_a_refusal_still_comes_before_validation_errors(client, world):
    """The viewer of a trusted token is read in the endpoint's thread (api/deps.PendingViewer),
    after the body was validated: a caller whose access is gone hears 401/403 even when its
    request is also malformed (as when the viewer was read first), never 422."""
    token = world.token("bank")
    auth = {"Authorization": f"Bearer {token}"}
    bad = {"purpose": "investigation", "values": "not a list"}
    assert client.post("/api/v1/lookup", json=LOOKUP, headers=auth).status_code == 200
    r = client.post("/api/v1/lookup", json=bad, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/alerts", headers=auth).status_code == 422  # purpose missing

    # Vetting withdrawn: no viewer at all (403 with the reason), before the body is looked at.
    with transaction(world.factory) as s:
        s.execute(update(Organisation).where(Organisation.id == world.orgs["bank"])
                  .values(vetting_status="rejected"))
    r = client.post("/api/v1/lookup", json=bad, headers=auth)
    assert r.status_code == 403 and "vetting" in r.json()["detail"]
    r = client.get("/api/v1/alerts", headers=auth)
    assert r.status_code == 403 and "vetting" in r.json()["detail"]

    r = _deactivated_is_refused(client, world, auth, bad)
    assert r.headers["www-authenticate"] == 'Bearer realm="cyberfusion"'
    assert client.post("/api/v1/lookup", json=bad).status_code == 401  # no token at all


@pytest.mark.storage
def test_a_trusted_token_costs_no_thread_pool_trip_of_its_own(client, world, monkeypatch):
    """A lookup with a token checked moments ago: the viewer is read in the endpoint's thread,
    not in a trip of its own (each is about a quarter of a millisecond of CPU); a first use
    still authenticates in the thread pool."""
    from cyberfusion.api import deps

    trips: list[str] = []
    real = deps.run_in_threadpool

    async def counted(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(fn.__name__)
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(deps, "run_in_threadpool", counted)
    auth = {"Authorization": f"Bearer {world.token('bank')}"}
    assert client.post("/api/v1/lookup", json=LOOKUP, headers=auth).status_code == 200
    assert trips == ["viewer_now"]
    trips.clear()
    r = client.post("/api/v1/lookup", json=LOOKUP, headers=auth)
    assert r.status_code == 200 and r.json()["results"][0]["result"] == "no_hit"
    assert trips == []


def test_a_pending_viewer_makes_no_reference_cycle():
    """Kept on the request's state, a PendingViewer must not point back at the request: the cycle
    (state -> viewer -> request -> scope -> state) would leave every request's objects to the
    cyclic collector."""
    from starlette.requests import Request

    from cyberfusion.api.deps import PendingViewer

    class App:
        class state:  # noqa: N801 - stands in for app.state
            settings = object()

    request = Request({"type": "http", "app": App, "client": ("127.0.0.1", 1), "headers": [], "state": {}})
    request.state.pending_viewer = PendingViewer(request, session=object(), member_id=1, now=None)  # type: ignore[arg-type]
    import gc
    assert not any(r is request for r in gc.get_referents(request.state.pending_viewer))
    assert request.state.pending_viewer.client == "127.0.0.1"
