"""Trend series with k-anonymity, spikes explained, forecast, charts, horizon notes and the brief."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sharing.helpers import contribute
from typer.testing import CliRunner

from cyberfusion.db import transaction
from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import to_pattern
from cyberfusion.sharing.handling import HandlingSpec
from cyberfusion.trends import brief, charts, notes, service


def _cli():
    """The products commands as `cfc` mounts them (without importing every other package's CLI)."""
    import typer

    from cyberfusion import cli_products
    app = typer.Typer()
    cli_products.register(app)
    return app


def ind(kind: str, value: str, *, when: str, key: str = "") -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, key + value)}",
            "created": when, "modified": when, "pattern": to_pattern(kind, value), "pattern_type": "stix",
            "valid_from": when}


MONDAYS = [date(2026, 8, 31) + timedelta(weeks=i) for i in range(8)]  # 2026-W36 .. 2026-W43
SINCE, UNTIL = datetime(2026, 8, 31, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC)
PHISHING = [3, 3, 3, 3, 3, 3, 15, 3]


@pytest.fixture
def trend_world(world, tmp_path):
    """Three organisations report phishing on Nigerian addresses every week (a spike in W42);
    one alone reports malware (below k)."""
    for n, owner in enumerate(("vendor", "bank", "telco")):
        objs = [ind("ipv4-addr", f"41.58.{w}.{n * 10 + i + 1}", when=f"{monday}T10:00:00.000Z", key=owner)
                for w, monday in enumerate(MONDAYS) for i in range(PHISHING[w] // 3)]
        contribute(world, tmp_path, owner, objs, HandlingSpec(tlp="green", category="phishing"))
    contribute(world, tmp_path, "vendor", [ind("ipv4-addr", f"197.210.0.{w + 1}", when=f"{m}T10:00:00.000Z")
                                           for w, m in enumerate(MONDAYS)],
               HandlingSpec(tlp="green", category="malware"))
    return world


def _series(world, key="ncb_fr", **kw):
    with transaction(world.factory) as s:
        return service.series(s, viewer=world.viewer(key), purpose="threat_reporting", k=3, since=SINCE,
                              until=UNTIL, **kw)


def test_series_by_crime_type_with_k_anonymity_spike_and_forecast(trend_world):
    out = _series(trend_world, region="africa")
    assert out["buckets"] == [f"2026-W{w}" for w in range(36, 44)]
    by_group = {s["group"]: s for s in out["series"]}
    assert by_group["phishing"]["values"] == PHISHING
    assert by_group["malware"]["values"] == [None] * 8  # one organisation: below k=3
    assert out["suppressed_cells"] == 8
    assert [(s["bucket"], s["value"], s["z"]) for s in by_group["phishing"]["spikes"]] == [("2026-W42", 15, 12.0)]
    assert by_group["phishing"]["spikes"][0]["explanation"] == (
        "Indicators for crime type 'phishing' (region Africa) rose to 15 in 2026-W42, against a median of 3 "
        "(median absolute deviation 0) over the previous 6 known weeks (+400%); robust z-score 12 ≥ 3.5.")
    fc = by_group["phishing"]["forecast"]
    assert fc["buckets"] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    assert all(lo <= v <= hi for lo, v, hi in zip(fc["lower"], fc["values"], fc["upper"]))


def test_other_dimensions_and_filters(trend_world):
    assert [(s["group"], s["values"]) for s in _series(trend_world, by="country", crime_type="phishing")["series"]] \
        == [("NG", PHISHING)]
    assert _series(trend_world, by="total", region="europe")["series"] == []
    monthly = _series(trend_world, by="region", interval="month", crime_type="phishing")
    assert (monthly["buckets"], monthly["series"][0]["group"], monthly["series"][0]["values"]) == (
        ["2026-08", "2026-09", "2026-10"], "Africa", [3, 12, 21])
    with pytest.raises(InvalidInput) as e:
        _series(trend_world, crime_type="romance")
    assert e.value.field == "crime_type"
    with pytest.raises(InvalidInput) as e:
        _series(trend_world, region="Atlantis")
    assert e.value.field == "region"


def test_charts_static_and_interactive(trend_world):
    out = _series(trend_world, region="africa")
    assert charts.png(out).startswith(b"\x89PNG")
    assert charts.png(out, kind="area").startswith(b"\x89PNG")
    assert charts.png(_series(trend_world, by="region"), kind="heatmap").startswith(b"\x89PNG")
    page = charts.interactive_html(out)
    assert "Plotly.newPlot" in page and "cdn.plot.ly" not in page.split("Plotly.newPlot")[1]
    assert '<script src="http' not in page


def test_notes_and_the_brief(trend_world):
    with transaction(trend_world.factory) as s:
        added = notes.add_note(s, viewer=trend_world.viewer("analyst"), title="QR-code phishing <b>parcels</b>",
                               text="Fake delivery notices with QR codes lead to mobile money phishing.",
                               tags=["QR", "mobile-money"], region="africa", crime_type="phishing",
                               spec=HandlingSpec(tlp="green"), now=datetime(2026, 10, 14, tzinfo=UTC))
    assert (added["region"], added["tags"]) == ("Africa", ["mobile-money", "qr"])
    with transaction(trend_world.factory) as s:
        data = brief.compile_brief(s, viewer=trend_world.viewer("ncb_fr"), purpose="threat_reporting",
                                   period="2026-10", k=3)
        assert [n["title"] for n in notes.list_notes(s, viewer=trend_world.viewer("ncb_fr"),
                                                      purpose="threat_reporting", tag="qr")] == [added["title"]]
    africa = next(r for r in data["regions"] if r["region"] == "Africa")
    assert africa["movers"] == [{"crime_type": "phishing", "previous": 15, "current": 21, "change": 6,
                                 "percent": 40}]
    assert [sp["bucket"] for sp in africa["spikes"]] == ["2026-W42"]
    assert [n["title"] for n in africa["notes"]] == ["QR-code phishing <b>parcels</b>"]
    page = brief.html(data)
    assert "QR-code phishing &lt;b&gt;parcels&lt;/b&gt;" in page and "<b>parcels" not in page
    assert 'src="data:image/png;base64,' in page
    from pypdf import PdfReader
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(brief.pdf_bytes(data))).pages)
    assert "Cybercrime trend brief: 2026-10" in text and "rose to 15 in 2026-W42" in " ".join(text.split())


def test_cli_trends_json_and_png(trend_world, tmp_path):
    app = _cli()
    args = ["trends", "--crime-type", "phishing", "--region", "africa", "--as", "ncb_fr@example.org",
            "--since", "2026-08-31", "--until", "2026-10-26"]
    r = CliRunner().invoke(app, [*args, "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["series"][0]["values"] == PHISHING
    target = tmp_path / "chart.png"
    r = CliRunner().invoke(app, [*args, "--format", "png", "-o", str(target)])
    assert r.exit_code == 0 and target.read_bytes().startswith(b"\x89PNG")
    r = CliRunner().invoke(app, [*args[:-4], "--interval", "fortnight", "--format", "json"])
    assert r.exit_code == 2 and json.loads(r.stderr)["error"]["field"] == "interval"


def test_api_trends_and_chart(trend_world, client):
    h = {"Authorization": f"Bearer {trend_world.token('ncb_fr')}"}
    params = {"purpose": "threat_reporting", "crime_type": "phishing", "since": "2026-08-31T00:00:00Z",
              "until": "2026-10-26T00:00:00Z"}
    r = client.get("/api/v1/trends", params=params, headers=h)
    assert r.status_code == 200 and r.json()["series"][0]["values"] == PHISHING
    r = client.get("/api/v1/trends/chart", params={**params, "format": "html"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    r = client.get("/api/v1/trends", params={**params, "purpose": "research"},
                   headers={"Authorization": f"Bearer {trend_world.token('uni')}"})
    # nothing readable for research here: the asked-for group is there, every cell hidden
    assert r.status_code == 200 and [x["values"] for x in r.json()["series"]] == [[None] * 8]


def test_cli_notes_and_brief(trend_world, tmp_path):
    app = _cli()
    r = CliRunner().invoke(app, ["trends", "note", "add", "--as", "analyst@example.org", "--title", "SIM-swap wave",
                                 "--text", "Port-out fraud against mobile money users.", "--tags", "sim,telecom",
                                 "--region", "Africa", "--crime-type", "fraud", "--tlp", "green", "--format", "json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["trends", "note", "list", "--as", "ncb_fr@example.org", "--tag", "sim",
                                 "--format", "json"])
    assert [(n["title"], n["tags"]) for n in json.loads(r.stdout)] == [("SIM-swap wave", ["sim", "telecom"])]
    r = CliRunner().invoke(app, ["trends", "note", "add", "--as", "uni@example.org", "--title", "x", "--text", "y",
                                 "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 403
    r = CliRunner().invoke(app, ["trends", "brief", "--period", "2026-10", "--as", "ncb_fr@example.org",
                                 "--format", "json"])
    africa = next(x for x in json.loads(r.stdout)["regions"] if x["region"] == "Africa")
    assert africa["movers"][0]["crime_type"] == "phishing"
