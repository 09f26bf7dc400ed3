"""The API's sync endpoints commit the request's session in the thread that ran them (deps.SessionRoute)."""

from __future__ import annotations

import threading

from sqlalchemy import event


def test_an_api_endpoint_commits_in_the_thread_that_ran_it(client, world, engine, monkeypatch):
    # deps.SessionRoute: not after trips to the event loop and back, with SQLite's lock held meanwhile.
    from cyberfusion.api import deps
    from cyberfusion.partners import service

    seen: list[tuple[str, int]] = []
    real_create, real_trip = service.create_organisation, deps.run_in_threadpool

    def create(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("endpoint", threading.get_ident()))
        return real_create(*args, **kwargs)

    async def trip(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("trip to end the session", 0))
        return await real_trip(fn, *args, **kwargs)

    def on_commit(_conn) -> None:  # type: ignore[no-untyped-def]
        seen.append(("commit", threading.get_ident()))

    monkeypatch.setattr(service, "create_organisation", create)
    monkeypatch.setattr(deps, "run_in_threadpool", trip)
    event.listen(engine, "commit", on_commit)
    try:
        r = client.post("/api/v1/organisations",
                        json={"name": "Thread Unit", "kind": "law_enforcement", "country": "FR"},
                        headers={"Authorization": f"Bearer {world.token('admin')}"})
    finally:
        event.remove(engine, "commit", on_commit)
    assert r.status_code == 201, r.text
    at = [kind for kind, _ in seen].index("endpoint")
    endpoint_thread = seen[at][1]
    assert seen[at + 1:] == [("commit", endpoint_thread)]  # and no trip after it
