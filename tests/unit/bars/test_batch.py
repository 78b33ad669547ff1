"""Batch aggregation: trades -> bars and 1m -> larger intervals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk import aggregate_trades
from quantdesk.bars import rollup_bars
from quantdesk.calendars import get_calendar
from quantdesk.errors import DataError

XSHG = get_calendar("XSHG")
DAY = dt.date(2026, 11, 20)
OPEN = XSHG.day_segments(DAY)[0][0]


def trades_frame(ts, price, volume, symbol="600036.SH") -> pd.DataFrame:
    return pd.DataFrame({"symbol": symbol, "ts": ts, "price": price, "volume": volume})


def test_ohlcv_vwap_and_count() -> None:
    df = trades_frame(
        [OPEN + 1_000, OPEN + 2_000, OPEN + 3_000], [10.0, 12.0, 11.0], [100, 300, 100]
    )
    bars = aggregate_trades(df, ["1m"], "XSHG")
    assert len(bars) == 1
    bar = bars.iloc[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades) == (
        10.0,
        12.0,
        10.0,
        11.0,
        500.0,
        3,
    )
    assert bar.vwap == pytest.approx((10 * 100 + 12 * 300 + 11 * 100) / 500)
    assert bar.time == OPEN


def test_empty_minutes_make_no_bar() -> None:
    df = trades_frame([OPEN + 1_000, OPEN + 5 * 60_000 + 1], [10.0, 11.0], [100, 100])
    bars = aggregate_trades(df, ["1m"], "XSHG")
    assert bars["time"].tolist() == [OPEN, OPEN + 5 * 60_000]


def test_disorder_sorted_by_time() -> None:
    df = trades_frame([OPEN + 3_000, OPEN + 1_000, OPEN + 2_000], [11.0, 10.0, 12.0], [1, 1, 1])
    bar = aggregate_trades(df, ["1m"], "XSHG").iloc[0]
    assert (bar.open, bar.close) == (10.0, 11.0)


def test_missing_column_is_one_clear_error() -> None:
    with pytest.raises(DataError, match="price"):
        aggregate_trades(pd.DataFrame({"symbol": ["A"], "ts": [1], "volume": [1]}))


def test_outside_session_prints_are_dropped() -> None:
    lunch = XSHG.day_segments(DAY)[0][1] + 10 * 60_000
    df = trades_frame([OPEN + 1_000, lunch], [10.0, 99.0], [1, 1])
    bars = aggregate_trades(df, None, "XSHG")
    assert 99.0 not in bars["high"].tolist()


@st.composite
def trade_streams(draw):
    n = draw(st.integers(1, 300))
    span = 5 * 3600 * 1000
    ts = draw(st.lists(st.integers(OPEN - 12 * 60_000, OPEN + span), min_size=n, max_size=n))
    px = draw(st.lists(st.integers(900, 1100), min_size=n, max_size=n))
    sz = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    sym = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n, max_size=n))
    return pd.DataFrame(
        {"symbol": sym, "ts": ts, "price": np.array(px) / 100.0, "volume": np.array(sz) * 100.0}
    )


@settings(max_examples=60, deadline=None)
@given(trades=trade_streams(), cal=st.sampled_from(["XSHG", "XNYS", None]))
def test_rollup_equals_direct_and_ohlc_invariants(trades: pd.DataFrame, cal) -> None:
    all_bars = aggregate_trades(trades, None, cal)
    minute = all_bars[all_bars["interval"] == "1m"]
    b = all_bars
    assert ((b.low <= b.open) & (b.open <= b.high) & (b.low <= b.close) & (b.close <= b.high)).all()
    assert ((b.low <= b.vwap + 1e-9) & (b.vwap <= b.high + 1e-9)).all()
    if minute.empty:
        return
    rolled = rollup_bars(minute.assign(source="t"), calendar=cal)
    key = ["interval", "symbol", "time"]
    direct = all_bars[all_bars["interval"] != "1m"].sort_values(key).reset_index(drop=True)
    rolled = rolled.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        direct[["interval", "symbol", "time", "open", "high", "low", "close", "volume", "trades"]],
        rolled[["interval", "symbol", "time", "open", "high", "low", "close", "volume", "trades"]],
        check_dtype=False,
    )
    np.testing.assert_allclose(direct["vwap"], rolled["vwap"], rtol=1e-12)
    # trades -> 5m equals trades -> 1m -> 5m, and volume is conserved per interval
    for interval, group in all_bars.groupby("interval"):
        assert group["volume"].sum() == pytest.approx(minute["volume"].sum()), interval
