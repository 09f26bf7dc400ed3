"""Country report files: HTML (self-contained, printable), PDF, STIX 2.1 report bundle, CSV.

Every piece of text that came from partners or users goes through Jinja2 autoescaping;
the PDF renderer may not fetch anything but ``data:`` URLs, so a hostile value cannot
make the server call out.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from cyberfusion.kit.observables import to_pattern
from cyberfusion.kit.timeutil import format_ts
from cyberfusion.products.country_report import CompiledReport, Item
from cyberfusion.products.roles import ACTIONS, ROLES
from cyberfusion.sharing.markings import (
    TLP2_MARKING_IDS,
    TLP_COLOURS,
    tlp2_marking_definition,
)

MAX_HTML_ITEMS = 200  # per category; the CSV and STIX files carry every item
REPORT_NS = uuid.UUID("5a1d3c0e-2b8f-4e61-9a7d-0c3e5b7f9d21")
CSV_COLUMNS = ("category", "role", "kind", "observable", "crime_types", "first_seen", "last_seen",
               "corroboration", "sources", "confidence", "related", "recommended_actions", "basis", "network")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("cyberfusion.products", "templates"),
                      autoescape=select_autoescape(["html"], default=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = lambda d: d.strftime("%Y-%m-%d %H:%M") if isinstance(d, datetime) else ""
    env.filters["day"] = lambda d: d.strftime("%Y-%m-%d") if isinstance(d, datetime) else ""
    env.filters["action"] = lambda a: a.replace("_", " ")
    return env


def _groups(report: CompiledReport) -> list[dict[str, Any]]:
    groups: dict[str, list[Item]] = {}
    for item in report.items:
        groups.setdefault(item.role, []).append(item)
    return [{"role": role, "title": ROLES[role], "count": len(items), "items": items[:MAX_HTML_ITEMS],
             "more": max(0, len(items) - MAX_HTML_ITEMS)} for role, items in groups.items()]


def html(report: CompiledReport, *, report_id: str, generated_at: datetime, generated_by: str,
         centre: str) -> str:
    return environment().get_template("country_report.html").render(
        r=report, report_id=report_id, generated_at=generated_at, generated_by=generated_by, centre=centre,
        groups=_groups(report), counts=report.counts(), roles=ROLES, tlp_colour=TLP_COLOURS[report.tlp],
        actions=ACTIONS)


def pdf(html_text: str) -> bytes:
    """Render HTML to PDF; only data: URLs may be fetched (nothing local or remote)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    return HTML(string=html_text, base_url=None, url_fetcher=URLFetcher(allowed_protocols=("data",))).write_pdf()


_INDICATOR_TYPES = {"compromised_host": ["compromised"]}


def stix_bundle(report: CompiledReport, *, report_id: str, generated_at: datetime, centre: str,
                centre_identity: str) -> str:
    ts = format_ts(generated_at)
    tlp = tlp2_marking_definition(report.tlp)
    marking = [TLP2_MARKING_IDS[report.tlp]]
    common = {"spec_version": "2.1", "created": ts, "modified": ts, "created_by_ref": centre_identity,
              "object_marking_refs": marking}
    location = {"type": "location", "id": f"location--{uuid.uuid5(REPORT_NS, report.country)}", **common,
                "name": report.country_name, "country": report.country}
    objects: list[dict[str, Any]] = [
        {"type": "identity", "id": centre_identity, "spec_version": "2.1", "created": ts, "modified": ts,
         "name": centre, "identity_class": "organization"}, tlp, location]
    recommended: dict[tuple[str, tuple[str, ...]], str] = {}  # few distinct (role, actions): built once each
    for item in report.items:
        oid = uuid.uuid5(REPORT_NS, f"{report_id}|{item.kind}|{item.value}")
        key = (item.role, tuple(item.actions))
        head = recommended.get(key) or recommended.setdefault(
            key, f"{ROLES[item.role]}. Recommended: {', '.join(a.replace('_', ' ') for a in item.actions)}. ")
        description = (f"{head}Corroboration: {item.corroboration} source(s). "
                       f"Linked by: {', '.join(item.basis)}.")
        if item.related:
            description += " Related: " + "; ".join(item.related) + "."
        if item.kind == "organisation":
            obj = {"type": "identity", "id": f"identity--{oid}", **common, "name": item.value,
                   "identity_class": "organization", "description": description,
                   "labels": ["victim"]}
        else:
            try:
                pattern = to_pattern(item.kind, item.value)
            except Exception:  # noqa: BLE001, S112 - a stored value that no longer normalises is left out
                continue
            obj = {"type": "indicator", "id": f"indicator--{oid}", **common,
                   "name": f"{ROLES[item.role]}: {item.value}"[:250], "description": description,
                   "indicator_types": _INDICATOR_TYPES.get(item.role, ["malicious-activity"]),
                   "pattern": pattern, "pattern_type": "stix",
                   "valid_from": format_ts(item.first_seen or report.period.start),
                   "labels": [item.role, *item.crime_types]}
        if item.confidence is not None:
            obj["confidence"] = item.confidence
        objects.append(obj)
    for rec in report.recommendations:
        objects.append({"type": "course-of-action", **common,
                        "id": f"course-of-action--{uuid.uuid5(REPORT_NS, report_id + '|' + rec['title'])}",
                        "name": rec["title"], "description": f"{rec['audience']}: {rec['text']}".strip()})
    refs = [o["id"] for o in objects if o["type"] != "marking-definition" and o["id"] != centre_identity]
    objects.append({
        "type": "report", "id": f"report--{report_id}", **common,
        "name": f"Country cyber activity report: {report.country_name}, {report.period.label}",
        "description": (f"{len(report.items)} items linked to {report.country_name} for {report.period.label}. "
                        f"IP geolocation: {report.geo_database['source']}."),
        "published": ts, "report_types": ["threat-report"], "object_refs": refs})
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid5(REPORT_NS, report_id)}",
                       "objects": objects}, ensure_ascii=False, separators=(",", ":"))


def _cell(value: Any, *, observable: bool = False) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    # Spreadsheet formula injection: a partner's value must never run as a formula.
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not observable):
        return "'" + text
    return text


def csv_text(report: CompiledReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i in report.items:
        w.writerow([_cell(ROLES[i.role]), i.role, i.kind, _cell(i.value, observable=i.kind == "phone"),
                    ";".join(i.crime_types), _cell(i.first_seen), _cell(i.last_seen), i.corroboration,
                    _cell("; ".join(i.sources)), "" if i.confidence is None else i.confidence,
                    _cell("; ".join(i.related)), ";".join(i.actions), _cell("; ".join(i.basis)), _cell(i.network)])
    return out.getvalue()
