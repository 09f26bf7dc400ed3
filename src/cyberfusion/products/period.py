"""Reporting periods: a month (2026-10), an ISO week (2026-W42), a quarter (2026-Q4) or a year."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cyberfusion.errors import InvalidInput

_MONTH = re.compile(r"(\d{4})-(\d{2})\Z")
_WEEK = re.compile(r"(\d{4})-W(\d{2})\Z")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])\Z")
_YEAR = re.compile(r"(\d{4})\Z")


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start: datetime  # inclusive, UTC
    end: datetime    # exclusive, UTC


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(value: str, *, field: str = "period") -> Period:
    text = (value or "").strip().upper()
    try:
        if m := _MONTH.match(text):
            y, mo = int(m[1]), int(m[2])
            date(y, mo, 1)  # a month that exists
            return Period(text, _utc(_month_start(y, mo)), _utc(_month_start(y, mo + 1)))
        if m := _WEEK.match(text):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(text, _utc(start), _utc(start + timedelta(days=7)))
        if m := _QUARTER.match(text):
            y, q = int(m[1]), int(m[2])
            return Period(text, _utc(_month_start(y, 3 * q - 2)), _utc(_month_start(y, 3 * q + 1)))
        if m := _YEAR.match(text):
            return Period(text, _utc(date(int(m[1]), 1, 1)), _utc(date(int(m[1]) + 1, 1, 1)))
    except ValueError:
        pass
    raise InvalidInput(f"not a period: {value!r}; use YYYY-MM, YYYY-Www, YYYY-Qn or YYYY", field=field)
