"""Shared steps of the tasking tests: act as a world member in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from cyberfusion.db import transaction
from cyberfusion.tasking.rfi import service as rfis

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def viewer(world, who):
    """The member's viewer, resolved once per test (nothing these tests do changes it)."""
    cache = world.__dict__.setdefault("_tasking_viewers", {})
    if who not in cache:
        cache[who] = world.viewer(who)
    return cache[who]


def act(world, who, fn, **kw):
    """Call a service as the world member ``who`` in its own committed transaction."""
    with transaction(world.factory) as s:
        return fn(s, viewer=viewer(world, who), **kw)


def file(world, who="ncb_fr", *, now=NOW, title="Who runs bulletproof host X?", **kw) -> int:
    kw.setdefault("question", "Which infrastructure does the group use?")
    return act(world, who, rfis.file_rfi, title=title, now=now, **kw).id


def to_assigned(world, rfi_id, *, member="analyst@example.org", now=NOW):
    act(world, "analyst", rfis.triage, rfi_id=rfi_id, now=now)
    act(world, "analyst", rfis.assign, rfi_id=rfi_id, member=member, now=now)


def headers(world, who):
    """A bearer header for the member, with one token per member and test."""
    cache = world.__dict__.setdefault("_tasking_tokens", {})
    if who not in cache:
        cache[who] = world.token(who)
    return {"Authorization": f"Bearer {cache[who]}"}
