"""The leak matrix: viewers × handling combinations × every read path, each outcome exact.

Every read path of intelligence must join this matrix (add it to READ_PATHS).
"""

from __future__ import annotations

import io
import json
import pytest
from typer.testing import CliRunner

from cyberfusion.db import transaction
from cyberfusion.errors import Forbidden
from cyberfusion.export import service as exporter
from cyberfusion.intel import repository
from cyberfusion.intel import service as intel
from cyberfusion.intel import statistics
from sharing.helpers import indicator
from sharing.leak import EXPECTED, VALUE_OF, assert_matrix

def _viewer_or_none(world, key):
    try:
        return world.viewer(key)
    except Forbidden:
        return None


def via_search(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    seen = set()
    with transaction(world.factory) as s:
        for name, value in VALUE_OF.items():
            try:
                page = intel.search(s, viewer=v, purpose="investigation", q=value)
            except Forbidden:
                return set()
            if page.items:
                seen.add(name)
    return seen


def via_search_text(world, key, client, tmp_path):
    """Free text (not an observable): the trigram index finds every matrix object as a candidate,
    the policy filter in SQL still decides."""
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    with transaction(world.factory) as s:
        assert len(repository._text_candidates(s, "test 10.0.0.", 100)) == len(VALUE_OF)
        try:
            page = intel.search(s, viewer=v, purpose="investigation", q="test 10.0.0.", limit=100)
        except Forbidden:
            return set()
    names = {item["name"] for item in page.items}
    return {n for n, value in VALUE_OF.items() if f"test {value}" in names}


def via_api_object(world, key, client, tmp_path):
    h = {"Authorization": f"Bearer {world.token(key)}"}
    seen = set()
    for name, value in VALUE_OF.items():
        r = client.get(f"/api/v1/objects/{indicator('ipv4-addr', value)['id']}",
                       params={"purpose": "investigation"}, headers=h)
        assert r.status_code in (200, 403, 404), r.text
        if r.status_code == 200:
            seen.add(name)
    return seen


def via_api_search(world, key, client, tmp_path):
    h = {"Authorization": f"Bearer {world.token(key)}"}
    r = client.get("/api/v1/search", params={"purpose": "investigation", "limit": 500}, headers=h)
    if r.status_code == 403:
        return set()
    names = {item["name"].removeprefix("test ") for item in r.json()["items"]}
    return {n for n, v in VALUE_OF.items() if v in names}


def via_export_stix(world, key, client, tmp_path):
    h = {"Authorization": f"Bearer {world.token(key)}"}
    r = client.get("/api/v1/export", params={"purpose": "investigation", "format": "stix"}, headers=h)
    if r.status_code == 403:
        return set()
    ids = {o["id"] for o in json.loads(r.text)["objects"]}
    return {n for n, v in VALUE_OF.items() if indicator("ipv4-addr", v)["id"] in ids}


def via_export_blocklist(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    buf = io.StringIO()
    with transaction(world.factory) as s:
        try:
            exporter.export(s, viewer=v, purpose="investigation", fmt="blocklist", out=buf)
        except Forbidden:
            return set()
    lines = set(buf.getvalue().split())
    return {n for n, value in VALUE_OF.items() if value in lines}


def via_export_csv_and_misp(world, key, client, tmp_path):
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    seen_by = []
    for fmt in ("csv", "misp"):
        buf = io.StringIO()
        with transaction(world.factory) as s:
            try:
                exporter.export(s, viewer=v, purpose="investigation", fmt=fmt, out=buf)
            except Forbidden:
                return set()
        text = buf.getvalue()
        seen_by.append({n for n, value in VALUE_OF.items() if f'"{value}"' in text or f",{value}," in text})
    assert seen_by[0] == seen_by[1]
    return seen_by[0]


def via_statistics(world, key, client, tmp_path):
    """With k=1 the per-kind count equals the number of readable values."""
    v = _viewer_or_none(world, key)
    if v is None:
        return set()
    with transaction(world.factory) as s:
        try:
            cells = statistics.observables_by_kind(s, viewer=v, purpose="investigation", k=1)["cells"]
        except Forbidden:
            return set()
    count = sum(c["values"] for c in cells if c["kind"] == "ipv4-addr")
    expected = {n for n, who in EXPECTED.items() if key in who}
    assert count == len(expected)
    return expected


def via_cli_search(world, key, client, tmp_path):
    from cyberfusion.cli import app
    runner = CliRunner()
    seen = set()
    for name, value in VALUE_OF.items():
        r = runner.invoke(app, ["search", value, "--as", f"{key}@example.org", "--purpose", "investigation",
                                "--format", "json"])
        if r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 403:
            return set()
        assert r.exit_code == 0, r.stderr
        if json.loads(r.stdout)["items"]:
            seen.add(name)
    return seen


READ_PATHS = [via_search, via_search_text, via_api_object, via_api_search, via_export_stix, via_export_blocklist,
              via_export_csv_and_misp, via_statistics, via_cli_search]


@pytest.mark.parametrize("read_path", READ_PATHS, ids=lambda f: f.__name__)
def test_leak_matrix(matrix, client, tmp_path, read_path):
    assert_matrix(read_path, matrix, client, tmp_path)


def test_research_purpose_reaches_only_research_handling(matrix):
    with transaction(matrix.factory) as s:
        page = intel.search(s, viewer=matrix.viewer("uni"), purpose="research", q="10.0.0.14")
        assert [i["name"] for i in page.items] == ["test 10.0.0.14"]
        for name, value in VALUE_OF.items():
            if name != "research_only" and name not in ("clear",):
                assert intel.search(s, viewer=matrix.viewer("uni"), purpose="research", q=value).items == []


def test_dissemination_leaves_out_no_further_dissemination(matrix):
    with transaction(matrix.factory) as s:
        for key, expect in (("analyst", False), ("telco", True)):
            names = {r.name for r in repository.iter_readable_objects(s, viewer=matrix.viewer(key),
                                                                       purpose="investigation", disseminate=True)}
            assert ("test 10.0.0.11" in names) is expect


def test_denied_viewer_learns_nothing_not_even_a_count(matrix, client):
    r = client.get(f"/api/v1/objects/{indicator('ipv4-addr', '10.0.0.5')['id']}",
                   params={"purpose": "investigation"}, headers={"Authorization": f"Bearer {matrix.token('analyst')}"})
    other = client.get("/api/v1/objects/indicator--00000000-0000-4000-8000-000000000000",
                       params={"purpose": "investigation"}, headers={"Authorization": f"Bearer {matrix.token('analyst')}"})
    assert r.status_code == other.status_code == 404
    assert r.json()["detail"].replace(indicator('ipv4-addr', '10.0.0.5')['id'], "X") == \
        other.json()["detail"].replace("indicator--00000000-0000-4000-8000-000000000000", "X")


def test_statistics_suppress_cells_below_k(matrix):
    with transaction(matrix.factory) as s:
        # the analyst's readable values come from four organisations: vendor, bank, ncb_fr, telco
        out = statistics.observables_by_kind(s, viewer=matrix.viewer("analyst"), purpose="investigation", k=4)
        assert out["cells"] == [{"kind": "ipv4-addr", "values": len({n for n, w in EXPECTED.items() if "analyst" in w})}]
        out = statistics.observables_by_kind(s, viewer=matrix.viewer("analyst"), purpose="investigation", k=5)
    assert (out["cells"], out["suppressed_cells"]) == ([], 1)
