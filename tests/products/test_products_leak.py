"""The products and trends read paths in the leak matrix (tests/sharing/leak.py).

* Horizon notes and trend figures are read by the viewer for the matrix's purpose
  (investigation): the matrix's expectations hold exactly.
* A country report is read by the members of its recipient organisation, with purpose
  threat_reporting and dissemination: two handlings change, and only these —
  investigation-only data reaches only its owner, "no further dissemination" data only its
  owner.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from testdata import WORLD_MEMBERS
from sharing.helpers import contribute, indicator
from sharing.leak import EXPECTED, HANDLINGS, VIEWERS, assert_matrix, expected_for

from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden
from cyberfusion.products import service
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.trends import notes
from cyberfusion.trends import service as trends

REPORT_EXPECTED = {**EXPECTED, "green_inv_only": {"vendor"}, "no_further_dissemination": {"telco"}}


def _spec(world, handling: dict) -> HandlingSpec:
    handling = dict(handling)
    if "recipients" in handling:
        handling["recipients"] = tuple(world.orgs[r] for r in handling["recipients"])
    return HandlingSpec(**handling)


def _domain(name: str) -> str:
    return f"leak-{name.replace('_', '-')}.fr"


@pytest.fixture
def report_matrix(matrix, tmp_path):
    """The matrix plus, per handling, one indicator on a .fr domain (so it belongs in France's report)."""
    for name, (owner, handling, _value) in HANDLINGS.items():
        contribute(matrix, tmp_path, owner, [indicator("domain-name", _domain(name))], _spec(matrix, handling))
    return matrix


def via_report_download(world, key, client, tmp_path):
    """The analyst builds France's report for the key's organisation and sends it; the key downloads it."""
    recipient = world.orgs[WORLD_MEMBERS[key][0]]
    with transaction(world.factory) as s:
        try:
            batch = service.generate(s, viewer=world.viewer("analyst"), period="2026-10", countries=["FR"],
                                     recipient=recipient, k=1, formats=("csv",), send=True)
        except Forbidden:
            return set()
    r = client.get(f"/api/v1/reports/{batch.reports[0].record.id}/download", params={"format": "csv"},
                   headers={"Authorization": f"Bearer {world.token(key)}"})
    if r.status_code == 403:
        return set()
    assert r.status_code == 200, r.text
    return {name for name in HANDLINGS if f",{_domain(name)}," in r.text}


def test_leak_matrix_country_report_download(report_matrix, client, tmp_path):
    outcome = {key: via_report_download(report_matrix, key, client, tmp_path) for key in VIEWERS}
    expected = {key: {n for n, who in REPORT_EXPECTED.items() if key in who} for key in VIEWERS}
    wrong = {k: (sorted(outcome[k] - expected[k]), sorted(expected[k] - outcome[k]))
             for k in VIEWERS if outcome[k] != expected[k]}
    assert wrong == {}


def via_trends(world, key, client, tmp_path):
    """With k=1 the total of the series equals the number of readable indicators."""
    try:
        viewer = world.viewer(key)
    except Forbidden:
        return set()
    with transaction(world.factory) as s:
        try:
            out = trends.series(s, viewer=viewer, purpose="investigation", k=1, by="total", interval="month",
                                since=datetime(2026, 9, 1, tzinfo=UTC), until=datetime(2026, 11, 1, tzinfo=UTC),
                                horizon=0)
        except Forbidden:
            return set()
    total = sum(v or 0 for series in out["series"] for v in series["values"])
    assert total == len(expected_for(key))
    return expected_for(key)


@pytest.fixture
def notes_matrix(matrix):
    """The matrix plus one horizon note per handling, titled with the handling's name."""
    for name, (owner, handling, _value) in HANDLINGS.items():
        with transaction(matrix.factory) as s:
            from cyberfusion.partners import repository
            from cyberfusion.partners import service as partners
            viewer = partners.resolve_viewer(s, repository.member_by_id(s, matrix.members[owner]))
            notes.add_note(s, viewer=viewer, title=name, text=f"note under {name}", tags=["leak"],
                           spec=_spec(matrix, handling))
    return matrix


def via_notes(world, key, client, tmp_path):
    r = client.get("/api/v1/horizon-notes", params={"purpose": "investigation", "limit": 500},
                   headers={"Authorization": f"Bearer {world.token(key)}"})
    if r.status_code == 403:
        return set()
    assert r.status_code == 200, r.text
    return {n["title"] for n in r.json()["items"]}


def test_leak_matrix_trends(matrix, client, tmp_path):
    assert_matrix(via_trends, matrix, client, tmp_path)


def test_leak_matrix_horizon_notes(notes_matrix, client, tmp_path):
    assert_matrix(via_notes, notes_matrix, client, tmp_path)
