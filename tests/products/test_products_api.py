"""Reports over the API and the CLI: generate, release, download only when entitled."""

from __future__ import annotations

import json

import products_fixture as fx
from typer.testing import CliRunner


def _cli():
    """The products commands as `cfc` mounts them (without importing every other package's CLI)."""
    import typer

    from cyberfusion import cli_products
    app = typer.Typer()
    cli_products.register(app)
    return app


def _h(world, key):
    return {"Authorization": f"Bearer {world.token(key)}"}


def test_generate_send_and_download_only_by_the_recipient(world, client, tmp_path):
    fx.build(world, tmp_path)
    r = client.post("/api/v1/reports/country", json={"period": "2026-10", "countries": ["FR"],
                                                      "formats": ["csv", "html"]}, headers=_h(world, "analyst"))
    assert r.status_code == 201, r.text
    row = r.json()["reports"][0]
    assert (row["country"], row["recipient"], row["items"], row["c2_server"]) == ("FR", "NCB France", 8, 1)
    rid = row["report_id"]
    url = f"/api/v1/reports/{rid}/download"
    assert client.get(url, params={"format": "csv"}, headers=_h(world, "ncb_fr")).status_code == 404  # not sent
    assert client.post(f"/api/v1/reports/{rid}/send", headers=_h(world, "ncb_fr")).status_code == 403
    assert client.post(f"/api/v1/reports/{rid}/send", headers=_h(world, "analyst")).json()["status"] == "sent"
    got = client.get(url, params={"format": "csv"}, headers=_h(world, "ncb_fr"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == 'attachment; filename="FR-2026-10-items.csv"'
    assert "62.4.1.1" in got.text
    for other in ("ncb_ru", "analyst", "vendor"):
        assert client.get(url, params={"format": "csv"}, headers=_h(world, other)).status_code == 404
    assert client.get(url, params={"format": "pdf"}, headers=_h(world, "ncb_fr")).status_code == 404  # not rendered
    mine = client.get("/api/v1/reports", headers=_h(world, "ncb_fr")).json()["items"]
    assert [(m["country"], m["status"], "sources" in m) for m in mine] == [("FR", "sent", False)]
    assert client.get("/api/v1/reports", headers=_h(world, "ncb_ru")).json()["items"] == []
    kept = client.get(f"/api/v1/reports/{rid}", headers=_h(world, "auditor")).json()
    assert (kept["generated_by"], kept["sent_by"], len(kept["sources"])) == (
        "analyst@example.org", "analyst@example.org", 2)
    assert kept["first_downloaded_at"] is not None


def test_bad_input_is_a_problem_naming_the_field(world, client):
    r = client.post("/api/v1/reports/country", json={"period": "October", "countries": ["FR"]},
                    headers=_h(world, "analyst"))
    assert (r.status_code, r.json()["field"]) == (422, "period")
    r = client.get("/api/v1/reports/x/download", params={"format": "docx"}, headers=_h(world, "ncb_fr"))
    assert (r.status_code, r.json()["field"]) == (422, "format")


def test_cli_all_countries_writes_one_package_per_country_and_a_summary(world, tmp_path):
    app = _cli()
    fx.build(world, tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["report", "country", "--all", "--period", "2026-10", "--as", "analyst@example.org",
                                 "--formats", "csv,stix,html", "-o", str(out), "--format", "json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert [(x["country"], x["items"]) for x in body["reports"]] == [("FR", 8), ("RU", 1)]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "2026-10/FR/items.csv", "2026-10/FR/report.html", "2026-10/FR/report.stix.json",
        "2026-10/RU/items.csv", "2026-10/RU/report.html", "2026-10/RU/report.stix.json",
        "2026-10/summary.csv", "2026-10/summary.json"]
    summary = (out / "2026-10" / "summary.csv").read_text().splitlines()
    # withheld is empty: its 2 sources are below the default k of 3
    assert summary[1].startswith("FR,France,Europe,NCB France,8,1,2,0,0,1,1,1,1,1,0,,amber,")
    r = CliRunner().invoke(app, ["report", "country", "FR", "--period", "2026-10", "--as", "ncb_fr@example.org",
                                 "--format", "json"])
    assert r.exit_code == 1 and json.loads(r.stderr)["error"]["status"] == 403
    r = CliRunner().invoke(app, ["report", "country", "--period", "2026-13", "--all", "--as", "analyst@example.org"])
    assert r.exit_code == 2
