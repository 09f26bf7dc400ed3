"""Analyzer read paths in the leak matrix: runs and results are seen exactly as their inputs are."""

from __future__ import annotations

import pytest
from analyzers.analyzer_support import session_of, viewer_or_none
from sharing.helpers import indicator
from sharing.leak import VALUE_OF, VIEWERS, assert_matrix, expected_for
from sqlalchemy import select

from cyberfusion.analyzers import service
from cyberfusion.analyzers.base import stable_id, subject
from cyberfusion.errors import Forbidden
from cyberfusion.intel import repository as intel_repo
from cyberfusion.intel.models import Contribution
from cyberfusion.sharing import policy


@pytest.fixture
def analysed(matrix):
    """The matrix with geoip run on ingest of every contribution, as its owner."""
    with session_of(matrix) as s:
        service.configure(s, name="geoip", auto_kinds=["ipv4-addr"])
        ids = s.scalars(select(Contribution.id).where(Contribution.source_format != "analyzer")).all()
    for cid in ids:
        with session_of(matrix) as s:
            service.analyze_contribution(s, cid, execute=True)
    return matrix


def _names(values):
    return {n for n, v in VALUE_OF.items() if v in values}


def via_runs(world, key, client, tmp_path):
    v = viewer_or_none(world, key)
    if v is None:
        return set()
    with session_of(world) as s:
        try:
            page = service.list_runs(s, viewer=v, purpose="investigation", limit=500)
        except Forbidden:
            return set()
    return _names({r["value"] for r in page["items"]})


def via_api_runs(world, key, client, tmp_path):
    r = client.get("/api/v1/analyzer-runs", params={"purpose": "investigation", "limit": 500},
                   headers={"Authorization": f"Bearer {world.token(key)}"})
    if r.status_code == 403:
        return set()
    assert r.status_code == 200, r.text
    return _names({i["value"] for i in r.json()["items"]})


def via_get_run(world, key, client, tmp_path):
    """Each ingest run by its id: NotFound unless its input is readable."""
    from cyberfusion.analyzers.models import AnalyzerRun
    from cyberfusion.errors import NotFound
    v = viewer_or_none(world, key)
    if v is None:
        return set()
    seen = set()
    with session_of(world) as s:
        runs = s.execute(select(AnalyzerRun.id, AnalyzerRun.value).where(AnalyzerRun.trigger == "ingest")).all()
        for run_id, value in runs:
            try:
                service.get_run(s, viewer=v, purpose="investigation", run_id=run_id)
            except Forbidden:
                return set()
            except NotFound:
                continue
            seen |= _names({value})
    return seen


def via_results(world, key, client, tmp_path):
    """The stored results (the note and the analysed SCO) are readable exactly where the input is."""
    v = viewer_or_none(world, key)
    if v is None:
        return set()
    notes = {stable_id("note", "geoip", "ipv4-addr", value): name for name, value in VALUE_OF.items()}
    scos = {subject("ipv4-addr", value)["id"]: name for name, value in VALUE_OF.items()}
    with session_of(world) as s:
        try:
            policy.require_purpose(v, "investigation")
        except Forbidden:
            return set()
        ids = {r.stix_id for r in intel_repo.iter_readable_objects(s, viewer=v, purpose="investigation",
                                                                   types=["note", "ipv4-addr"])}
    seen_notes = {notes[i] for i in ids if i in notes}
    assert seen_notes == {scos[i] for i in ids if i in scos}
    return seen_notes


def test_analyzer_read_paths_in_the_leak_matrix(analysed, client, tmp_path):
    # One test for every path: building and analysing the matrix is the expensive part.
    for read_path in (via_runs, via_api_runs, via_get_run, via_results):
        assert_matrix(read_path, analysed, client, tmp_path)
    _analyze_endpoint(analysed, client)


def _analyze_endpoint(analysed, client):
    """POST /objects/{id}/analyze runs exactly where the object is readable; no role, no run."""
    runners = {"analyst", "expert", "ncb_fr", "ncb_ru", "le_gb", "vendor", "bank", "telco", "intl"}
    outcome, codes = {}, {}
    for key in VIEWERS:
        headers = {"Authorization": f"Bearer {analysed.token(key)}"}
        seen, statuses = set(), set()
        for name, value in VALUE_OF.items():
            r = client.post(f"/api/v1/objects/{indicator('ipv4-addr', value)['id']}/analyze",
                            params={"purpose": "investigation", "analyzer": "geoip"}, headers=headers)
            statuses.add(r.status_code)
            if r.status_code == 200:
                assert [run["status"] for run in r.json()["runs"]] == ["done"]
                seen.add(name)
        outcome[key], codes[key] = seen, statuses
    assert {k: outcome[k] for k in runners} == {k: expected_for(k) for k in runners}
    assert {k: codes[k] for k in VIEWERS if k not in runners} == {k: {403} for k in VIEWERS if k not in runners}
