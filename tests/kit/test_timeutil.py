"""format_ts and isoformat_utc write what isoformat writes, for any datetime; sqlite_text_of what
parse_ts and sqlite_datetime give, for any text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st

import pytest

from cyberfusion.ingest.stix import _TS_RE as _STIX_TIMESTAMP
from cyberfusion.kit.timeutil import format_ts, isoformat_utc, parse_ts, sqlite_datetime, sqlite_text_of

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


def _through_datetime(text: str) -> str | None:
    try:
        return sqlite_datetime(parse_ts(text))
    except ValueError:
        return None


_DIGITS = st.text("0123456789", min_size=1, max_size=12)
# Texts near the strict form: every part drawn from digits (some out of range), separators and
# zone from a few choices, so valid, invalid and other accepted-by-parse_ts shapes all come up.
_NEAR_TIMESTAMPS = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, zone: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{zone}",
    st.sampled_from(["2026", "0000", "0001", "1999", "2024", "2100", "9999", "202"]),
    st.sampled_from(["01", "02", "04", "12", "13", "00", "1"]),
    st.sampled_from(["01", "28", "29", "30", "31", "32", "00", "1"]),
    st.sampled_from(["T", " ", "t"]),
    st.sampled_from(["00", "23", "24", "9"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60", "61"]),
    st.one_of(st.just(""), _DIGITS.map(lambda d: "." + d), st.just(".")),
    st.sampled_from(["Z", "z", "+00:00", "+01:00", ""]))


@given(st.one_of(_NEAR_TIMESTAMPS, st.text(max_size=40)))
@example("2026-02-29T00:00:00Z")
@example("2024-02-29T00:00:00Z")
@example("2026-10-05T10:00:00.1234567Z")
@example("2026-10-05T10:00:00.1Z")
@example("2026-10-05T10:00:60Z")
@example("0000-01-01T00:00:00Z")
@example("２０２６-10-05T10:00:00Z")  # Unicode digits: not the strict form
def test_sqlite_text_of_is_parse_ts_then_sqlite_datetime(text: str) -> None:
    direct = sqlite_text_of(text)
    if direct is not None:  # the strict form: exactly the text the datetime gives
        assert direct == _through_datetime(text)
    elif _STIX_TIMESTAMP.fullmatch(text) and _through_datetime(text) is not None:
        # every timestamp the STIX validator accepts and parse_ts can read is taken directly
        pytest.fail(f"{text!r} is a STIX timestamp but was not converted directly")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-10-05T10:00:00Z", "2026-10-05 10:00:00.000000"),
    ("2026-10-05T10:00:00.5Z", "2026-10-05 10:00:00.500000"),
    ("2026-10-05T10:00:00.1234567Z", "2026-10-05 10:00:00.123456"),
    ("2024-02-29T23:59:59.999Z", "2024-02-29 23:59:59.999000"),
    ("2026-02-29T00:00:00Z", None), ("2026-10-05T10:00:60Z", None), ("0000-01-01T00:00:00Z", None),
    ("2026-10-05T10:00:00+00:00", None), ("2026-10-05 10:00:00Z", None), ("2026-10-05T10:00:00.Z", None)])
def test_sqlite_text_of_exact_values(text: str, expected: str | None) -> None:
    assert sqlite_text_of(text) == expected
