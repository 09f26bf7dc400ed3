"""`cfc report country ...` (country cyber activity reports) and `cfc trends ...` (trend monitoring)."""

from __future__ import annotations

import csv
import json
from enum import Enum
from pathlib import Path

import typer

from cyberfusion.clikit import (
    FormatOpt,
    OutputFormat,
    console,
    emit,
    err_console,
    handled,
    session_scope,
    split_list,
)
from cyberfusion.config import get_settings
from cyberfusion.partners import service as partners
from cyberfusion.products import service
from cyberfusion.products.models import REPORT_FORMATS
from cyberfusion.products.roles import ROLES

report_app = typer.Typer(no_args_is_help=True, help="Country cyber activity reports.")
trends_app = typer.Typer(help="Trend monitoring: series, spikes, forecasts, charts, briefs, horizon notes.",
                         invoke_without_command=True)
note_app = typer.Typer(no_args_is_help=True, help="Analysts' horizon notes (new modi operandi).")
AsOpt = typer.Option(..., "--as", help="e-mail of the member acting (their organisation's rules apply)")


def _viewer(session, email: str):  # type: ignore[no-untyped-def]
    return partners.resolve_viewer(session, partners.get_member(session, email))


def _write_package(out_dir: Path, batch: service.Batch) -> Path:
    root = out_dir / batch.period
    for g in batch.reports:
        folder = root / g.report.country
        folder.mkdir(parents=True, exist_ok=True)
        for fmt, content in g.files.items():
            (folder / service.FILE_NAMES[fmt]).write_bytes(content)
    root.mkdir(parents=True, exist_ok=True)
    rows = batch.summary_rows()
    columns = ["country", "country_name", "region", "recipient", "items", *ROLES, "withheld", "tlp", "report_id"]
    with (root / "summary.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, restval=0)
        w.writeheader()
        w.writerows(rows)
    (root / "summary.json").write_text(json.dumps({"batch_id": batch.batch_id, "period": batch.period,
                                                    "reports": rows, "skipped": batch.skipped}, indent=1))
    return root


@report_app.command("country")
@handled
def report_country(countries: list[str] = typer.Argument(None, help="ISO 3166-1 alpha-2 codes"),
                   period: str = typer.Option(..., help="YYYY-MM, YYYY-Www, YYYY-Qn or YYYY"),
                   as_member: str | None = typer.Option(
                       None, "--as", help="e-mail of the host-centre analyst generating (default: the host "
                                          "centre's operator; each report is compiled under its recipient's view)"),
                   all_countries: bool = typer.Option(False, "--all", help="every country with a national bureau"),
                   recipient: str | None = typer.Option(None, help="recipient organisation (one country)"),
                   formats: str = typer.Option(",".join(REPORT_FORMATS), help="html, pdf, stix, csv"),
                   send: bool = typer.Option(False, "--send", help="release to the recipients now"),
                   output: Path | None = typer.Option(None, "--output", "-o",
                                                         help="package folder (default: <data dir>/reports)"),
                   fmt: OutputFormat = FormatOpt) -> None:
    """One report package per country (HTML, PDF, STIX, CSV) plus a summary table."""
    with session_scope() as session:
        viewer = _viewer(session, as_member) if as_member else service.operator_viewer(session)
        batch = service.generate(session, viewer=viewer, period=period,
                                 countries=countries or [], all_countries=all_countries, recipient=recipient,
                                 k=get_settings().k_threshold, formats=split_list(formats), send=send)
    root = _write_package(output or Path(get_settings().data_dir) / "reports", batch)
    rows = batch.summary_rows()
    if fmt == OutputFormat.json:
        emit({"batch_id": batch.batch_id, "period": batch.period, "folder": str(root), "reports": rows,
              "skipped": batch.skipped}, fmt)
        return
    shown = [r for r in ROLES if any(row.get(r) for row in rows)]
    emit(rows, fmt, columns=["country", "recipient", "items", *shown, "withheld", "tlp"],
         title=f"Country reports {batch.period} — items per country and category")
    for s in batch.skipped:
        err_console.print(f"skipped {s['country']} ({s['recipient']}): {s['reason']}")
    console.print(f"packages in {root}")


@report_app.command("reindex")
@handled
def report_reindex(as_member: str | None = typer.Option(None, "--as", help="host-centre analyst (default: operator)"),
                   full: bool = typer.Option(False, "--full", help="drop and rebuild (e.g. new geolocation data)"),
                   fmt: OutputFormat = FormatOpt) -> None:
    """Back-fill the per-observable country index that country reports read."""
    with session_scope() as session:
        viewer = _viewer(session, as_member) if as_member else service.operator_viewer(session)
        emit(service.reindex(session, viewer=viewer, full=full), fmt)


@report_app.command("list")
@handled
def report_list(as_member: str = AsOpt, country: str | None = None, batch: str | None = None,
                limit: int = 100, fmt: OutputFormat = FormatOpt) -> None:
    with session_scope() as session:
        rows = service.list_reports(session, viewer=_viewer(session, as_member), country=country, batch_id=batch,
                                    limit=limit)
    emit(rows, fmt, columns=["id", "country", "period", "recipient", "items", "status", "sent_at"])


@report_app.command("send")
@handled
def report_send(report_id: str, as_member: str = AsOpt, fmt: OutputFormat = FormatOpt) -> None:
    """Release a report to its recipient organisation."""
    with session_scope() as session:
        record = service.send(session, viewer=_viewer(session, as_member), report_id=report_id)
        emit({"id": record.id, "status": record.status, "sent_at": record.sent_at}, fmt)


@report_app.command("download")
@handled
def report_download(report_id: str, as_member: str = AsOpt,
                    file_format: str = typer.Option("pdf", "--file-format", help="html, pdf, stix or csv"),
                    output: Path | None = typer.Option(None, "--output", "-o"),
                    fmt: OutputFormat = FormatOpt) -> None:
    """Download a report sent to your organisation."""
    with session_scope() as session:
        content, _media, name = service.download(session, viewer=_viewer(session, as_member), report_id=report_id,
                                                 fmt=file_format)
    target = output or Path(name)
    target.write_bytes(content)
    emit({"file": str(target), "bytes": len(content)}, fmt)


class TrendFormat(str, Enum):
    text = "text"
    json = "json"
    png = "png"
    html = "html"


class BriefFormat(str, Enum):
    html = "html"
    pdf = "pdf"
    json = "json"


@trends_app.callback()
@handled
def trends(ctx: typer.Context,
           as_member: str | None = typer.Option(None, "--as", help="e-mail of the member acting"),
           purpose: str = typer.Option("threat_reporting", help="why you read"),
           crime_type: str | None = typer.Option(None, "--crime-type"),
           region: str | None = None, country: str | None = None, sector: str | None = None,
           by: str = typer.Option("crime_type", help="crime_type, region, country, sector or total"),
           interval: str = typer.Option("week", help="week or month"),
           measure: str = typer.Option("indicators", help="indicators, incidents or reports"),
           since: str | None = None, until: str | None = None, horizon: int = 4,
           kind: str = typer.Option("line", help="chart: line, area or heatmap"),
           output: Path | None = typer.Option(None, "--output", "-o", help="file for png/html"),
           fmt: TrendFormat = typer.Option(TrendFormat.text, "--format", "-f", help="text, json, png or html")) -> None:
    """Time series with spikes explained and a forecast; charts as PNG or interactive HTML."""
    if ctx.invoked_subcommand:
        return
    from cyberfusion.cli_intel import _when
    from cyberfusion.errors import InvalidInput
    from cyberfusion.trends import charts
    from cyberfusion.trends import service as trend_service
    if not as_member:
        raise InvalidInput("--as is required", field="as")
    with session_scope() as session:
        result = trend_service.series(
            session, viewer=_viewer(session, as_member), purpose=purpose, k=get_settings().k_threshold,
            measure=measure, by=by, interval=interval, since=_when(since, "since"), until=_when(until, "until"),
            crime_type=crime_type, region=region, country=country, sector=sector, horizon=horizon)
    if fmt == TrendFormat.json:
        emit(result, OutputFormat.json)
    elif fmt in (TrendFormat.png, TrendFormat.html):
        target = output or Path(f"trends.{fmt.value}")
        if fmt == TrendFormat.png:
            target.write_bytes(charts.png(result, kind=kind))
        else:
            target.write_text(charts.interactive_html(result, kind=kind), encoding="utf-8")
        err_console.print(f"chart written to {target}")
    else:
        rows = [{"group": s["group"], **dict(zip(result["buckets"], ["·" if v is None else v for v in s["values"]])),
                 "spikes": len(s["spikes"])} for s in result["series"]]
        emit(rows, OutputFormat.text, columns=["group", *result["buckets"][-8:], "spikes"],
             title=f"{measure} per {interval} (last 8; · = hidden below k={result['k_threshold']})")
        for s in result["series"]:
            for sp in s["spikes"]:
                console.print(f"spike: {sp['explanation']}")


@trends_app.command("brief")
@handled
def trends_brief(period: str = typer.Option(..., help="YYYY-MM or YYYY-Www"), as_member: str = AsOpt,
                 purpose: str = typer.Option("threat_reporting"),
                 output: Path | None = typer.Option(None, "--output", "-o"),
                 fmt: BriefFormat = typer.Option(BriefFormat.html, "--format", "-f", help="html, pdf or json")) -> None:
    """The periodic trend brief for the regional working groups."""
    from cyberfusion.trends import brief
    with session_scope() as session:
        data = brief.compile_brief(session, viewer=_viewer(session, as_member), purpose=purpose, period=period,
                                   k=get_settings().k_threshold)
    if fmt == BriefFormat.json:
        emit(data | {"regions": [{k: v for k, v in r.items() if k != "chart"} for r in data["regions"]]},
             OutputFormat.json)
        return
    target = output or Path(f"trend-brief-{data['period']}.{fmt.value}")
    if fmt == BriefFormat.pdf:
        target.write_bytes(brief.pdf_bytes(data))
    else:
        target.write_text(brief.html(data), encoding="utf-8")
    err_console.print(f"brief written to {target}")


@note_app.command("add")
@handled
def note_add(as_member: str = AsOpt, title: str = typer.Option(...), text: str = typer.Option(...),
             tags: str = typer.Option("", help="comma-separated"), region: str | None = None,
             country: str | None = None, crime_type: str | None = typer.Option(None, "--crime-type"),
             tlp: str = "amber", fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.sharing.handling import HandlingSpec
    from cyberfusion.trends import notes
    with session_scope() as session:
        note = notes.add_note(session, viewer=_viewer(session, as_member), title=title, text=text,
                              tags=split_list(tags), region=region, country=country, crime_type=crime_type,
                              spec=HandlingSpec(tlp=tlp))
    emit(note, fmt)


@note_app.command("list")
@handled
def note_list(as_member: str = AsOpt, purpose: str = typer.Option("threat_reporting"),
              region: str | None = None, crime_type: str | None = typer.Option(None, "--crime-type"),
              tag: str | None = None, limit: int = 100, fmt: OutputFormat = FormatOpt) -> None:
    from cyberfusion.trends import notes
    with session_scope() as session:
        rows = notes.list_notes(session, viewer=_viewer(session, as_member), purpose=purpose, region=region,
                                crime_type=crime_type, tag=tag, limit=limit)
    emit(rows, fmt, columns=["created_at", "title", "region", "crime_type", "tags"])


trends_app.add_typer(note_app, name="note")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(trends_app, name="trends")
