"""Session-anchored buckets: the placement rules of quantdesk.bars.buckets."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.bars.buckets import bucket_end, bucket_start, place
from quantdesk.calendars import get_calendar
from quantdesk.domain import INTERVALS

XSHG = get_calendar("XSHG")
XNYS = get_calendar("XNYS")
DAY = dt.date(2026, 11, 20)  # a Friday, a trading day on both


def local_ms(cal, hh: int, mm: int, ss: int = 0, day: dt.date = DAY) -> int:
    return int(dt.datetime.combine(day, dt.time(hh, mm, ss), cal.tz).timestamp() * 1000)


def starts(cal, times: list[int], interval: str) -> list[int]:
    t_eff, seg, valid = place(np.array(times, dtype=np.int64), cal)
    assert valid.all()
    return bucket_start(t_eff, seg, interval, cal).tolist()


@pytest.mark.parametrize(
    ("hhmm", "expected"),
    [
        ((9, 30), (9, 30)),
        ((10, 29), (9, 30)),
        ((10, 30), (10, 30)),
        ((11, 29), (10, 30)),
        ((13, 0), (13, 0)),
        ((13, 59), (13, 0)),
        ((14, 0), (14, 0)),
        ((14, 59), (14, 0)),
    ],
)
def test_ashare_60m_never_spans_lunch(hhmm, expected) -> None:
    got = starts(XSHG, [local_ms(XSHG, *hhmm)], "60m")
    assert got == [local_ms(XSHG, *expected)]


def test_ashare_120m_is_morning_or_afternoon() -> None:
    morning = [local_ms(XSHG, 9, 30), local_ms(XSHG, 11, 29, 59)]
    afternoon = [local_ms(XSHG, 13, 0), local_ms(XSHG, 14, 59, 59)]
    assert set(starts(XSHG, morning, "120m")) == {local_ms(XSHG, 9, 30)}
    assert set(starts(XSHG, afternoon, "120m")) == {local_ms(XSHG, 13, 0)}


def test_1d_starts_at_first_open() -> None:
    times = [local_ms(XSHG, 9, 31), local_ms(XSHG, 14, 0)]
    assert set(starts(XSHG, times, "1d")) == {local_ms(XSHG, 9, 30)}


def test_us_60m_last_bar_is_short() -> None:
    t = [local_ms(XNYS, 15, 45)]
    t_eff, seg, _ = place(np.array(t, dtype=np.int64), XNYS)
    start = bucket_start(t_eff, seg, "60m", XNYS)
    assert start.tolist() == [local_ms(XNYS, 15, 30)]
    assert bucket_end(start, seg, "60m", XNYS).tolist() == [local_ms(XNYS, 16, 0)]


def test_auction_close_and_outside_prints() -> None:
    times = np.array(
        [
            local_ms(XSHG, 9, 25),  # opening auction -> first bar
            local_ms(XSHG, 9, 19, 59),  # before the auction window -> no bar
            local_ms(XSHG, 11, 30),  # exactly at the morning close -> last morning bar
            local_ms(XSHG, 12, 0),  # lunch break -> no bar
            local_ms(XSHG, 12, 55),  # before the afternoon open: not an auction -> no bar
            local_ms(XSHG, 15, 0),  # exactly at the close -> last bar
            local_ms(XSHG, 15, 0, 1),  # after the close -> no bar
        ],
        dtype=np.int64,
    )
    t_eff, seg, valid = place(times, XSHG)
    assert valid.tolist() == [True, False, True, False, False, True, False]
    b = bucket_start(t_eff[valid], seg[valid], "1m", XSHG).tolist()
    assert b == [local_ms(XSHG, 9, 30), local_ms(XSHG, 11, 29), local_ms(XSHG, 14, 59)]


def test_weekend_has_no_session() -> None:
    saturday = dt.date(2026, 11, 21)
    _, _, valid = place(np.array([local_ms(XSHG, 10, 0, day=saturday)]), XSHG)
    assert not valid.any()


def test_no_calendar_uses_epoch_buckets() -> None:
    t = np.array([3_600_000 * 5 + 123], dtype=np.int64)
    t_eff, seg, valid = place(t, None)
    assert valid.all()
    assert bucket_start(t_eff, seg, "60m", None).tolist() == [3_600_000 * 5]
    assert bucket_start(t_eff, seg, "1d", None).tolist() == [0]


@settings(max_examples=200, deadline=None)
@given(
    offset=st.integers(0, 4 * 3600 * 1000 - 1),
    interval=st.sampled_from(INTERVALS),
    cal_name=st.sampled_from(["XSHG", "XNYS"]),
)
def test_bucket_contains_the_print_and_nests(offset: int, interval: str, cal_name: str) -> None:
    cal = get_calendar(cal_name)
    opens = [o for o, _ in cal.day_segments(DAY)]
    t = np.array([opens[0] + offset], dtype=np.int64)
    t_eff, seg, valid = place(t, cal)
    if not valid[0]:
        return
    start = bucket_start(t_eff, seg, interval, cal)
    end = bucket_end(start, seg, interval, cal)
    assert start[0] <= t_eff[0] < end[0]
    # nesting: the interval's bucket of the 1m bucket start is the same bucket
    m = bucket_start(t_eff, seg, "1m", cal)
    t2, s2, _ = place(m, cal)
    assert bucket_start(t2, s2, interval, cal)[0] == start[0]
