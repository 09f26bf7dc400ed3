"""The caller's access is read on every request, even while its token is trusted from a recent
check (auth/tokens.CACHE_SECONDS): what another process changes in the database — a member
deactivated, an agreement ended, roles changed — applies to the very next request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from cyberfusion.db import transaction
from cyberfusion.partners.models import Agreement, Member

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
    before = _failures(world)
    with transaction(world.factory) as s:
        s.execute(update(Member).where(Member.id == world.members["bank"]).values(active=False))
    r = client.post("/api/v1/lookup", json=LOOKUP, headers=auth)
    assert (r.status_code, r.json()["detail"]) == (401, "member inactive")
    assert _failures(world) == before + 1
