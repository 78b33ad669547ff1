"""1w and 1M bars: the aggregate of their 1d bars, across month ends and holidays.

The oracle here is written independently of :mod:`quantdesk.bars`: it groups
1d bars by the exchange-local ISO week or calendar month of their date (in
plain Python) and takes the period's start from the calendar's list of
trading days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.backfill.periods import period_bounds, refresh_periods
from quantdesk.bars import aggregate_trades, rollup_bars, rollup_periods
from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain import BAR_COLUMNS, PERIOD_INTERVALS, normalize_interval
from quantdesk.storage import open_store
from quantdesk.stream.bars import BarAggregator

XSHG = get_calendar("XSHG")
XNYS = get_calendar("XNYS")


def _local(cal: ExchangeCalendar, ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, cal.tz).date()


def _period_key(day: dt.date, interval: str) -> tuple[int, int]:
    if interval == "1w":
        iso = day.isocalendar()
        return iso.year, iso.week
    return day.year, day.month


def _first_session(cal: ExchangeCalendar, day: dt.date, interval: str) -> int:
    """Open of the first trading day of ``day``'s ISO week or calendar month."""
    if interval == "1w":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=6)
    else:
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return cal.day_segments(cal.trading_days(first, last)[0])[0][0]


def _oracle(days: pd.DataFrame, interval: str, cal: ExchangeCalendar) -> dict[tuple, dict]:
    """(symbol, start) -> the aggregate of the period's 1d bars, by hand."""
    groups: dict[tuple[str, tuple[int, int]], list[dict]] = defaultdict(list)
    for row in days.sort_values("time").to_dict("records"):
        day = _local(cal, int(row["time"]))
        groups[(row["symbol"], _period_key(day, interval))].append(row)
    out = {}
    for (symbol, _), rows in groups.items():
        start = _first_session(cal, _local(cal, int(rows[0]["time"])), interval)
        volume = sum(r["volume"] for r in rows)
        out[(symbol, start)] = {
            "open": rows[0]["open"],
            "high": max(r["high"] for r in rows),
            "low": min(r["low"] for r in rows),
            "close": rows[-1]["close"],
            "volume": volume,
            "vwap": sum(r["vwap"] * r["volume"] for r in rows) / volume,
            "trades": sum(r["trades"] for r in rows),
        }
    return out


def _assert_matches(periods: pd.DataFrame, days: pd.DataFrame, cal: ExchangeCalendar) -> None:
    for interval in PERIOD_INTERVALS:
        want = _oracle(days, interval, cal)
        got = periods[periods["interval"] == interval]
        assert len(got) == len(want), interval
        for row in got.to_dict("records"):
            expect = want[(row["symbol"], int(row["time"]))]
            for col in ("open", "high", "low", "close", "trades"):
                assert row[col] == expect[col], (interval, col)
            for col in ("volume", "vwap"):
                assert math.isclose(row[col], expect[col], rel_tol=1e-12), (interval, col)


def _trades(cal: ExchangeCalendar, first: dt.date, last: dt.date, seed: int) -> pd.DataFrame:
    """Random trades of two symbols on some trading days of ``[first, last]``."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in ("AAA", "BBB"):
        for day in cal.trading_days(first, last):
            if rng.random() < 0.15:  # the stock did not trade that day (suspended)
                continue
            segs = cal.day_segments(day)
            ts = np.sort(np.concatenate([rng.integers(o, c, 30, dtype=np.int64) for o, c in segs]))
            price = 10 + rng.random(len(ts))
            size = rng.integers(1, 1000, len(ts)).astype(float)
            frames.append(
                pd.DataFrame({"symbol": symbol, "ts": ts, "price": price, "volume": size})
            )
    if not frames:  # every day skipped (or no trading day in the range)
        return pd.DataFrame({"symbol": [], "ts": [], "price": [], "volume": []})
    return pd.concat(frames, ignore_index=True).sort_values("ts", kind="stable")


# Golden Week (XSHG closed 2024-10-01..07: the week of Sep 30 has one day and the
# next week starts on Tuesday Oct 8), the Spring Festival, the ISO week across New
# Year; US: Thanksgiving (early close on Friday), Christmas, Good Friday.
WINDOWS = [
    (XSHG, dt.date(2024, 9, 16), dt.date(2024, 10, 31)),
    (XSHG, dt.date(2024, 12, 23), dt.date(2025, 2, 14)),
    (XNYS, dt.date(2024, 11, 18), dt.date(2025, 1, 10)),
    (XNYS, dt.date(2024, 3, 18), dt.date(2024, 4, 12)),
]


@pytest.mark.parametrize(("cal", "first", "last"), WINDOWS, ids=lambda x: str(x))
def test_periods_are_the_aggregate_of_their_days(
    cal: ExchangeCalendar, first: dt.date, last: dt.date
) -> None:
    bars = aggregate_trades(_trades(cal, first, last, 1), ["1d", "1w", "1M"], calendar=cal)
    days = bars[bars["interval"] == "1d"]
    periods = bars[bars["interval"].isin(PERIOD_INTERVALS)]
    _assert_matches(periods, days, cal)
    # and rolled up from stored 1d bars, the same bars
    again = rollup_periods(days, calendar=cal).sort_values(["interval", "symbol", "time"])
    pd.testing.assert_frame_equal(
        again[periods.columns].reset_index(drop=True),
        periods.sort_values(["interval", "symbol", "time"]).reset_index(drop=True),
    )


def test_golden_week_and_month_ends() -> None:
    days = rollup_bars(
        aggregate_trades(
            _trades(XSHG, dt.date(2024, 9, 23), dt.date(2024, 10, 18), 3), ["1m"], XSHG
        ).assign(source="t"),
        ["1d", "1w", "1M"],
        XSHG,
    )
    aaa = days[days["symbol"] == "AAA"]
    cst = XSHG.tz

    def opens(interval: str) -> list[str]:
        times = aaa[aaa["interval"] == interval]["time"]
        return [dt.datetime.fromtimestamp(t / 1000, cst).strftime("%m-%d %H:%M") for t in times]

    # Sep 30 (Mon) is alone in its week, and the last day of September;
    # October's month and the week of Oct 7 (a holiday) start on Tuesday Oct 8;
    # September's bar starts at the month's first session, before the data's first day.
    assert opens("1w") == ["09-23 09:30", "09-30 09:30", "10-08 09:30", "10-14 09:30"]
    assert opens("1M") == ["09-02 09:30", "10-08 09:30"]
    week = aaa[(aaa["interval"] == "1w")].iloc[1]
    sep30 = aaa[(aaa["interval"] == "1d")].set_index("time").loc[week["time"]]
    assert (week["open"], week["close"], week["volume"]) == (
        sep30["open"],
        sep30["close"],
        sep30["volume"],
    )


def test_bar_time_is_the_first_session_even_without_a_trade_that_day() -> None:
    # AAA trades on Tuesday..Friday only; its week still starts at Monday's open
    monday = dt.date(2024, 6, 3)
    trades = _trades(XNYS, monday + dt.timedelta(days=1), monday + dt.timedelta(days=4), 5)
    bars = aggregate_trades(trades, ["1w"], calendar=XNYS)
    assert set(bars["time"]) == {XNYS.day_segments(monday)[0][0]}


def test_without_a_calendar_weeks_start_monday_and_months_on_the_first_utc() -> None:
    t = int(pd.Timestamp("2024-02-29T13:00:00Z").value // 1_000_000)
    trades = pd.DataFrame({"symbol": ["X", "X"], "ts": [t, t + 3 * 86_400_000], "price": [1.0, 2.0],
                           "volume": [1.0, 1.0]})  # fmt: skip
    bars = aggregate_trades(trades, ["1w", "1M"], calendar=None)
    iso = [pd.Timestamp(x, unit="ms", tz="UTC").isoformat() for x in bars["time"]]
    assert iso == [
        "2024-02-26T00:00:00+00:00",  # Monday of Feb 29's week; Mar 3 is its Sunday
        "2024-02-01T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), offset=st.integers(0, 300), span=st.integers(5, 70))
def test_streaming_periods_equal_batch(seed: int, offset: int, span: int) -> None:
    """The streaming operator's 1w/1M bars equal the batch roll-up (and its 1d aggregate)."""
    first = dt.date(2023, 1, 2) + dt.timedelta(days=offset)
    last = first + dt.timedelta(days=span)
    trades = _trades(XSHG, first, last, seed)
    if trades.empty:
        return
    agg = BarAggregator(XSHG, ["1m", "1d", "1w", "1M"])
    out = []
    for symbol, group in trades.groupby("symbol", sort=False):
        for chunk in np.array_split(group.index.to_numpy(), 7):
            g = trades.loc[chunk]
            out += agg.on_trades(
                str(symbol),
                g["ts"].to_numpy(np.int64),
                g["price"].to_numpy(float),
                g["volume"].to_numpy(float),
            )
    out += agg.flush()
    finals: dict[tuple[str, str, int], object] = {}
    for b in out:
        if b.final:
            finals[(b.symbol, b.interval, b.time)] = b
    stream = pd.DataFrame(
        [(b.symbol, b.interval, b.time, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades)
         for b in finals.values()],  # type: ignore[attr-defined]
        columns=["symbol", "interval", "time", "open", "high", "low", "close", "volume", "vwap",
                 "trades"],
    )  # fmt: skip
    batch = aggregate_trades(trades, ["1d", "1w", "1M"], calendar=XSHG)
    key = ["interval", "symbol", "time"]
    s = stream[stream["interval"] != "1m"].sort_values(key).reset_index(drop=True)
    b = batch.sort_values(key).reset_index(drop=True)
    assert s[key].equals(b[key])
    for col in ("open", "high", "low", "close", "trades"):
        assert (s[col].to_numpy() == b[col].to_numpy()).all(), col
    np.testing.assert_allclose(s["volume"], b["volume"], rtol=1e-12)
    np.testing.assert_allclose(s["vwap"], b["vwap"], rtol=1e-12)
    _assert_matches(s[s["interval"] != "1d"], s[s["interval"] == "1d"], XSHG)


def test_refresh_extends_a_stored_month_instead_of_replacing_it(tmp_path: Path) -> None:
    """Two imports of parts of one month: the stored 1M bar covers both parts."""
    store = open_store(f"sqlite:///{(tmp_path / 'q.db').as_posix()}")
    store.migrate()
    trades = _trades(XSHG, dt.date(2024, 1, 22), dt.date(2024, 2, 23), 9)
    days = aggregate_trades(trades, ["1d"], calendar=XSHG).assign(source="t")
    cut = XSHG.day_segments(dt.date(2024, 2, 7))[0][0]  # a Wednesday
    for part in (days[days["time"] < cut], days[days["time"] >= cut]):
        store.upsert_bars(part[list(BAR_COLUMNS)])
        times = part["time"].to_numpy(np.int64)
        refresh_periods(store, ["AAA", "BBB"], int(times.min()), int(times.max()) + 1, XSHG)
    stored = pd.concat(
        [
            pd.DataFrame(store.query_bars(s, iv), columns=list(BAR_COLUMNS))
            for s in ("AAA", "BBB")
            for iv in PERIOD_INTERVALS
        ]
    )
    _assert_matches(stored, days, XSHG)
    store.close()


def test_period_bounds_and_names() -> None:
    t = XSHG.day_segments(dt.date(2024, 10, 10))[1][0]  # Thursday afternoon
    start, end = period_bounds(t, "1w", XSHG)
    assert (_local(XSHG, start), _local(XSHG, end)) == (dt.date(2024, 10, 8), dt.date(2024, 10, 11))
    start, end = period_bounds(t, "1M", XSHG)
    assert end == XSHG.day_segments(dt.date(2024, 10, 31))[-1][1]
    assert normalize_interval("1mo") == "1M" and normalize_interval("1W") == "1w"
    assert normalize_interval("1m") == "1m"
