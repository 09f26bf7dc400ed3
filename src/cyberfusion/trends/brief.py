"""The periodic trend brief for the regional working groups: per region, top movers, spikes
explained, a chart, and analysts' horizon notes; a heat map table of regions over time.

Figures are read with ``disseminate=True`` (the brief travels onwards) and every cell
passes the k-threshold.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.kit.regions import REGIONS
from cyberfusion.products.period import parse_period
from cyberfusion.products.render import environment, pdf
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.trends import charts, notes
from cyberfusion.trends.series import Event, bucket_start, collect, matches, tabulate
from cyberfusion.trends.service import analyse

HISTORY_WEEKS = 12
TOP_MOVERS = 5


def _window_counts(events: list[Event], start: datetime, end: datetime, k: int) -> dict[str, int | None]:
    ids: dict[str, set[str]] = defaultdict(set)
    orgs: dict[str, set[int]] = defaultdict(set)
    for ev in events:
        if start <= ev.when < end:
            for g in ev.groups("crime_type"):
                ids[g].add(ev.id)
                orgs[g].update(ev.orgs)
    rows = [{"group": g, "count": len(ids[g]), "sources": len(orgs[g])} for g in sorted(ids)]
    kept, _ = policy.suppress_small_cells(rows, k=k)
    shown = {r["group"]: r["count"] for r in kept}
    return {g: shown.get(g) for g in sorted(ids)}


def movers(events: list[Event], *, start: datetime, end: datetime, k: int) -> list[dict[str, Any]]:
    """Crime types whose count changed most against the previous period of the same length;
    only where both figures pass the k-threshold."""
    now = _window_counts(events, start, end, k)
    before = _window_counts(events, start - (end - start), start, k)
    out = []
    for crime in sorted(set(now) | set(before)):
        cur, prev = now.get(crime), before.get(crime)
        if cur is None or prev is None:
            continue
        out.append({"crime_type": crime, "previous": prev, "current": cur, "change": cur - prev,
                    "percent": round(100 * (cur - prev) / prev) if prev else None})
    out.sort(key=lambda m: (-abs(m["change"]), m["crime_type"]))
    return out[:TOP_MOVERS]


def compile_brief(session: Session, *, viewer: Viewer, purpose: str, period: str, k: int) -> dict[str, Any]:
    policy.require_purpose(viewer, purpose)
    span = parse_period(period)
    first = bucket_start(span.start, "week")
    since = datetime(first.year, first.month, first.day, tzinfo=span.start.tzinfo) - timedelta(weeks=HISTORY_WEEKS)
    events = collect(session, viewer=viewer, purpose=purpose, measure="indicators", since=since, until=span.end,
                     disseminate=True)
    in_span = {b for b in tabulate([], by="total", interval="week", since=span.start, until=span.end, k=k).labels}
    all_notes = notes.list_notes(session, viewer=viewer, purpose=purpose, since=span.start, until=span.end,
                                 disseminate=True, limit=500)
    regions = []
    for region in REGIONS:
        filters = {"crime_type": None, "region": region, "country": None, "sector": None}
        evs = [e for e in events if matches(e, **filters)]
        table = tabulate(evs, by="crime_type", interval="week", since=since, until=span.end, k=k)
        analysed = analyse(table, measure="indicators", by="crime_type", filters=filters, horizon=2)
        result = {"measure": "indicators", "by": "crime_type", "interval": "week", "filters": filters,
                  "k_threshold": k, "buckets": table.labels, "series": analysed,
                  "suppressed_cells": table.suppressed}
        shown = [s for s in analysed if any(v is not None for v in s["values"])]
        regions.append({
            "region": region, "movers": movers(evs, start=span.start, end=span.end, k=k),
            "spikes": [sp for s in analysed for sp in s["spikes"] if sp["bucket"] in in_span],
            "chart": base64.b64encode(charts.png({**result, "series": shown}, width=8, height=3.2)).decode()
            if shown else None,
            "notes": [n for n in all_notes if n["region"] == region],
            "suppressed_cells": table.suppressed})
    heat = tabulate(events, by="region", interval="week", since=since, until=span.end, k=k)
    peak = max((v for vals in heat.values.values() for v in vals if v is not None), default=0)
    brief = {"period": span.label, "start": span.start, "end": span.end, "purpose": purpose, "k_threshold": k,
             "generated_at": utcnow(), "generated_by": viewer.email, "regions": regions,
             "heat": {"buckets": heat.labels, "rows": [{"region": g, "values": v} for g, v in heat.values.items()],
                      "peak": peak, "suppressed_cells": heat.suppressed},
             "general_notes": [n for n in all_notes if n["region"] is None]}
    audit.record(session, action="trends.brief", viewer=viewer, purpose=purpose,
                 detail={"period": span.label, "events": len(events)})
    return brief


def html(brief: dict[str, Any]) -> str:
    return environment().get_template("trend_brief.html").render(b=brief, tlp="amber", tlp_colour="#FFC000")


def pdf_bytes(brief: dict[str, Any]) -> bytes:
    return pdf(html(brief))
