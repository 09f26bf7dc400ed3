"""An import parses and validates up to PARSE_AHEAD objects before it takes the write lock
(lock_ingest), so a small upload holds the lock for its writes only and a bad one never takes it;
the same file again is answered without parsing it (see also test_pipeline.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cyberfusion.db import transaction
from cyberfusion.errors import InvalidInput
from cyberfusion.ingest import pipeline
from cyberfusion.ingest.pipeline import import_file
from cyberfusion.sharing.handling import HandlingSpec
from sharing.helpers import bundle_file, indicator


def _traced(monkeypatch) -> list[Any]:  # type: ignore[no-untyped-def]
    events: list[Any] = []
    real_parse, real_lock = pipeline.parse, pipeline.repository.lock_ingest

    def parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        for item in real_parse(*args, **kwargs):
            events.append("parsed")
            yield item

    def lock(session):  # type: ignore[no-untyped-def]
        events.append("lock")
        real_lock(session)

    monkeypatch.setattr(pipeline, "parse", parse)
    monkeypatch.setattr(pipeline.repository, "lock_ingest", lock)
    return events


def _import(world, path: Path):  # type: ignore[no-untyped-def]
    with transaction(world.factory) as s:
        return import_file(s, viewer=world.viewer("vendor"), path=path, fmt="stix", spec=HandlingSpec(tlp="green"))


def _objects(n: int) -> list[dict[str, Any]]:
    return [indicator("ipv4-addr", f"10.9.0.{i}") for i in range(1, n + 1)]


def test_a_small_file_is_all_parsed_before_the_lock(world, engine, tmp_path, monkeypatch):
    events = _traced(monkeypatch)
    result = _import(world, bundle_file(tmp_path, _objects(5), "five.json"))
    assert (result.created, result.objects) == (True, 5)
    assert events == ["parsed"] * 5 + ["lock"]


def test_a_larger_file_takes_the_lock_after_parsing_ahead(world, engine, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PARSE_AHEAD", 2)
    events = _traced(monkeypatch)
    result = _import(world, bundle_file(tmp_path, _objects(5), "five.json"))
    assert (result.created, result.objects) == (True, 5)
    assert events == ["parsed", "parsed", "lock", "parsed", "parsed", "parsed"]


def test_a_bad_file_never_takes_the_lock_and_the_same_file_again_is_not_parsed(world, engine, tmp_path,
                                                                                monkeypatch):
    bad = _objects(3)
    bad[1]["confidence"] = 101
    good = bundle_file(tmp_path, _objects(3), "good.json")
    first = _import(world, good)
    events = _traced(monkeypatch)
    with pytest.raises(InvalidInput):
        _import(world, bundle_file(tmp_path, bad, "bad.json"))
    assert events == ["parsed"]  # the second object failed validation: nothing locked, nothing written
    events.clear()
    again = _import(world, good)
    assert (again.contribution_id, again.created) == (first.contribution_id, False)
    assert events == []
