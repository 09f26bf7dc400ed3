"""format_ts and isoformat_utc write what isoformat writes, for any datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from cyberfusion.kit.timeutil import format_ts, isoformat_utc, parse_ts

_ZONES = st.sampled_from([UTC, timezone.utc, timezone(timedelta(0)), timezone(timedelta(hours=5, minutes=30)),
                          timezone(timedelta(hours=-11)), None])


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), _ZONES)
@example(datetime(2026, 10, 5, 10, 0, 0), UTC)
@example(datetime(2026, 10, 5, 10, 0, 0, 999), UTC)
@example(datetime(2026, 10, 5, 23, 59, 59, 999999), UTC)
@example(datetime(999, 1, 1, 0, 0, 0, 1000), UTC)
def test_timestamps_are_isoformat_character_for_character(naive: datetime, zone: timezone | None) -> None:
    dt = naive.replace(tzinfo=zone) if zone is not None else naive
    assert isoformat_utc(dt) == dt.isoformat()
    if zone is not None:
        assert format_ts(dt) == dt.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def test_format_ts_exact_values() -> None:
    assert format_ts(datetime(2026, 10, 5, 10, 0, tzinfo=UTC)) == "2026-10-05T10:00:00.000Z"
    assert format_ts(datetime(2026, 10, 5, 10, 0, 0, 123999, tzinfo=UTC)) == "2026-10-05T10:00:00.123Z"
    assert format_ts(datetime(2026, 10, 5, 12, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-10-05T10:00:00.000Z"
    assert format_ts(parse_ts("2026-10-05T10:00:00.1234567Z")) == "2026-10-05T10:00:00.123Z"
    assert isoformat_utc(datetime(2026, 10, 5, 10, 0, 0, 5, tzinfo=UTC)) == "2026-10-05T10:00:00.000005+00:00"
