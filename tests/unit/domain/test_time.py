"""domain.time: epoch ms UTC in the core, conversions at the edges."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.domain.time import (
    MAX_MS,
    MIN_MS,
    from_ms,
    iso,
    iso_seconds,
    local_minute,
    now_ms,
    parse_time,
    to_ms,
)
from quantdesk.errors import DataError

NY = ZoneInfo("America/New_York")


@given(st.integers(MIN_MS + 86_400_000, MAX_MS - 86_400_000))
def test_to_ms_inverts_from_ms(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms
    assert to_ms(from_ms(ms, NY)) == ms


def test_formats() -> None:
    t = to_ms(dt.datetime(2024, 3, 18, 13, 30, tzinfo=dt.UTC))
    assert iso(t) == "2024-03-18T13:30:00Z" and iso(t + 5) == "2024-03-18T13:30:00.005Z"
    assert iso_seconds(t, NY) == "2024-03-18T09:30:00-04:00"
    assert local_minute(t, NY) == "2024-03-18 09:30 America/New_York"
    assert to_ms(dt.datetime(2024, 3, 18, 13, 30)) == t  # naive = UTC
    assert abs(now_ms() - to_ms(dt.datetime.now(dt.UTC))) < 5_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-03-18", 1_710_720_000_000),
        ("2024-03-18T13:30:00Z", 1_710_768_600_000),
        ("2024-03-18T09:30:00-04:00", 1_710_768_600_000),
        ("1710768600000", 1_710_768_600_000),
        ("-5", -5),
        (None, None),
    ],
)
def test_parse_time(text: str | None, ms: int | None) -> None:
    assert parse_time(text, "--start") == ms


@pytest.mark.parametrize("text", ["--5", "---1", "tomorrow", "2024-13-01", "99999999999999999"])
def test_parse_time_is_total(text: str) -> None:
    with pytest.raises(DataError, match=r"^--start: "):
        parse_time(text, "--start")
