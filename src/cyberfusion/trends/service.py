"""Trend monitoring as readers use it: series with spikes explained and a forecast, charts — audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.audit import service as audit
from cyberfusion.db import utcnow
from cyberfusion.errors import InvalidInput
from cyberfusion.kit.regions import country_code, region_name
from cyberfusion.sharing import policy
from cyberfusion.sharing.viewer import Viewer
from cyberfusion.trends import detect
from cyberfusion.trends.series import (
    CRIME_TYPES,
    DIMENSIONS,
    INTERVALS,
    MEASURES,
    Table,
    bucket_label,
    collect,
    matches,
    next_bucket,
    tabulate,
)

DEFAULT_WEEKS = 26


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{value!r} is not one of: {', '.join(allowed)}", field=field)
    return value


def _window(since: datetime | None, until: datetime | None, interval: str) -> tuple[datetime, datetime]:
    until = until or utcnow()
    since = since or until - timedelta(weeks=DEFAULT_WEEKS if interval == "week" else 4 * 26)
    if since >= until:
        raise InvalidInput("must be before 'until'", field="since")
    if until - since > timedelta(days=366 * 3):
        raise InvalidInput("at most three years at a time", field="since")
    return since, until


def _filters(crime_type: str | None, region: str | None, country: str | None,
             sector: str | None) -> dict[str, str | None]:
    return {"crime_type": _choice(crime_type, CRIME_TYPES, "crime_type") if crime_type else None,
            "region": region_name(region) if region else None,
            "country": country_code(country) if country else None,
            "sector": sector.strip().lower() if sector else None}


def explain(*, measure: str, by: str, group: str, label: str, interval: str, spike: detect.Spike,
            filters: dict[str, str | None]) -> str:
    scope = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in filters.items() if v)
    what = f"{measure} for {by.replace('_', ' ')} '{group}'" if by != "total" else measure
    rise = (f"{(spike.value - spike.baseline_median) / spike.baseline_median:+.0%}"
            if spike.baseline_median else "from nothing")
    return (f"{what[0].upper()}{what[1:]}{f' ({scope})' if scope else ''} rose to {spike.value} in {label}, "
            f"against a median of {spike.baseline_median:g} (median absolute deviation {spike.baseline_mad:g}) "
            f"over the previous {spike.baseline_size} known {interval}s ({rise}); "
            f"robust z-score {spike.z:g} ≥ {detect.Z_THRESHOLD:g}.")


def analyse(table: Table, *, measure: str, by: str, filters: dict[str, str | None], horizon: int) -> list[dict[str, Any]]:
    labels = table.labels
    future: list[str] = []
    cur = table.buckets[-1] if table.buckets else None
    for _ in range(horizon if cur else 0):
        cur = next_bucket(cur, table.interval)  # type: ignore[arg-type]
        future.append(bucket_label(cur, table.interval))
    out = []
    for group, values in table.values.items():
        found = detect.spikes(values)
        fc = detect.forecast(values, horizon=horizon)
        out.append({
            "group": group, "values": values,
            "spikes": [{"bucket": labels[s.index], "value": s.value, "baseline_median": s.baseline_median,
                        "baseline_mad": s.baseline_mad, "z": s.z,
                        "explanation": explain(measure=measure, by=by, group=group, label=labels[s.index],
                                               interval=table.interval, spike=s, filters=filters)}
                       for s in found],
            "forecast": None if fc is None else {"buckets": future, "values": fc.values, "lower": fc.lower,
                                                 "upper": fc.upper, "method": fc.method},
        })
    return out


def series(session: Session, *, viewer: Viewer, purpose: str, k: int, measure: str = "indicators",
           by: str = "crime_type", interval: str = "week", since: datetime | None = None,
           until: datetime | None = None, crime_type: str | None = None, region: str | None = None,
           country: str | None = None, sector: str | None = None, horizon: int = 4,
           disseminate: bool = False, audit_action: str = "trends.series") -> dict[str, Any]:
    policy.require_purpose(viewer, purpose)
    _choice(measure, MEASURES, "measure")
    _choice(by, DIMENSIONS, "by")
    _choice(interval, INTERVALS, "interval")
    if not 0 <= horizon <= 12:
        raise InvalidInput("must be between 0 and 12", field="horizon")
    filters = _filters(crime_type, region, country, sector)
    since, until = _window(since, until, interval)
    events = [e for e in collect(session, viewer=viewer, purpose=purpose, measure=measure, since=since,
                                 until=until, disseminate=disseminate) if matches(e, **filters)]
    table = tabulate(events, by=by, interval=interval, since=since, until=until, k=k,
                     groups=[filters[by]] if filters.get(by) else ())
    result = {"measure": measure, "by": by, "interval": interval, "purpose": purpose, "filters": filters,
              "since": since, "until": until, "k_threshold": k, "buckets": table.labels,
              "series": analyse(table, measure=measure, by=by, filters=filters, horizon=horizon),
              "suppressed_cells": table.suppressed}
    audit.record(session, action=audit_action, viewer=viewer, purpose=purpose,
                 detail={"measure": measure, "by": by, "interval": interval, "filters": filters,
                         "since": since.isoformat(), "until": until.isoformat(), "suppressed": table.suppressed})
    return result


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
