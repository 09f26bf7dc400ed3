"""The request owns its transaction, and its commit happens before the response is sent."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cyberfusion.partners.models import Organisation


def test_a_failing_commit_is_a_503_problem_and_nothing_is_written(client, world, monkeypatch):
    h = {"Authorization": f"Bearer {world.token('admin')}"}
    with world.factory() as s:
        before = s.scalar(select(func.count()).select_from(Organisation))
    real_commit = Session.commit

    def failing_commit(self):  # the database goes away between the handler and the commit
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(Session, "commit", failing_commit)
    r = client.post("/api/v1/organisations", json={"name": "Late Unit", "kind": "law_enforcement", "country": "FR"},
                    headers=h)
    monkeypatch.setattr(Session, "commit", real_commit)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "the database is unavailable; retry shortly"
    with world.factory() as s:
        assert s.scalar(select(func.count()).select_from(Organisation)) == before
    # and the next request, with the database back, works
    r = client.post("/api/v1/organisations", json={"name": "Late Unit", "kind": "law_enforcement", "country": "FR"},
                    headers=h)
    assert r.status_code in (200, 201), r.text
