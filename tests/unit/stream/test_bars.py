"""The streaming bar aggregator: event time, watermark, late trades, streaming == batch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk import aggregate_trades
from quantdesk.calendars import get_calendar
from quantdesk.domain import Bar
from quantdesk.stream.bars import BarAggregator

XSHG = get_calendar("XSHG")
DAY = dt.date(2026, 11, 20)
(M_OPEN, M_CLOSE), (A_OPEN, A_CLOSE) = XSHG.day_segments(DAY)
NEXT_OPEN = XSHG.day_segments(dt.date(2026, 11, 23))[0][0]


def arr(*values, dtype=np.float64):
    return np.array(values, dtype=dtype)


def feed(agg: BarAggregator, symbol: str, ts: int, price: float, size: float = 100.0) -> list[Bar]:
    return agg.on_trades(symbol, arr(ts, dtype=np.int64), arr(price), arr(size))


def test_trade_time_decides_the_bar_not_arrival() -> None:
    agg = BarAggregator(XSHG, ["1m"], grace_ms=5_000)
    feed(agg, "A", M_OPEN + 61_000, 11.0)  # minute 2 first
    feed(agg, "A", M_OPEN + 59_000, 10.0)  # then a trade of minute 1 (within grace)
    bars = {b.time: b for b in agg.flush()}
    assert bars[M_OPEN].close == 10.0
    assert bars[M_OPEN + 60_000].open == 11.0
    assert agg.counters["late"] == 0


def test_bar_closes_on_watermark_and_session_end() -> None:
    agg = BarAggregator(XSHG, ["1m", "120m"], grace_ms=1_000)
    feed(agg, "A", M_CLOSE - 10_000, 10.0)  # last minute of the morning
    # the watermark passing the close + grace finalises the last morning bars
    closed = agg.advance(M_CLOSE + 1_000)
    finals = {(b.interval, b.time) for b in closed if b.final}
    assert ("1m", M_CLOSE - 60_000) in finals
    assert ("120m", M_OPEN) in finals


def test_late_trade_beyond_grace_updates_and_is_counted() -> None:
    agg = BarAggregator(XSHG, ["1m"], grace_ms=1_000)
    feed(agg, "A", M_OPEN + 1_000, 10.0)
    feed(agg, "A", M_OPEN + 120_000, 10.5)  # watermark moves past minute 1
    out = feed(agg, "A", M_OPEN + 30_000, 12.0)  # late for the final bar of minute 1
    updated = [b for b in out if b.time == M_OPEN and b.final]
    assert updated and updated[0].high == 12.0 and updated[0].trades == 2
    assert agg.counters["late"] == 1


def test_too_late_trades_are_rejected() -> None:
    agg = BarAggregator(XSHG, ["1m"], grace_ms=1_000, retention_ms=60_000)
    feed(agg, "A", M_OPEN + 1_000, 10.0)
    feed(agg, "A", A_OPEN + 1_000, 10.0)
    feed(agg, "A", M_OPEN + 2_000, 10.0)
    assert agg.counters["too_late"] == 1
    assert agg.take_rejects() == [("A", M_OPEN + 2_000, 10.0, 100.0)]


def test_a_too_late_trade_is_set_aside_from_every_interval() -> None:
    """The open day, week and month never take a trade that the 1m bars set aside."""
    agg = BarAggregator(XSHG, ["1m", "1d", "1w", "1M"], grace_ms=1_000, retention_ms=60_000)
    feed(agg, "A", M_OPEN + 1_000, 10.0)
    feed(agg, "A", A_OPEN + 1_000, 11.0)
    feed(agg, "A", M_OPEN + 2_000, 99.0)  # too late for its minute, in the open day/week/month
    assert agg.counters["too_late"] == 1
    larger = [b for b in agg.open_bars("A") if b.interval != "1m"]
    assert sorted((b.interval, b.high, b.trades) for b in larger) == [
        ("1M", 11.0, 2),
        ("1d", 11.0, 2),
        ("1w", 11.0, 2),
    ]


def test_outside_session_counted_and_no_bar() -> None:
    agg = BarAggregator(XSHG, ["1m"])
    assert feed(agg, "A", M_CLOSE + 60_000, 10.0) == []
    assert agg.counters["outside_session"] == 1
    assert agg.flush() == []


def test_partial_bars_are_throttled() -> None:
    agg = BarAggregator(XSHG, ["1m"], partial_every_ms=1_000)
    partial = []
    for i in range(10):  # ten trades 100 ms apart
        partial += [b for b in feed(agg, "A", M_OPEN + i * 100, 10.0 + i) if not b.final]
    assert 1 <= len(partial) <= 2


def test_every_second_with_trades_gets_a_partial_bar() -> None:
    """Throttle windows are aligned: a second's batch is shown at once, whatever its jitter."""
    agg = BarAggregator(XSHG, ["1m"], partial_every_ms=1_000)
    last_in_second = [990, 400, 999, 10, 500]  # the previous emission's distance: < or > 1 s
    for k, last in enumerate(last_in_second):
        ts = arr(M_OPEN + k * 1_000, M_OPEN + k * 1_000 + last, dtype=np.int64)
        bars = agg.on_trades("A", ts, arr(10.0, 10.1), arr(100.0, 100.0))
        assert [(b.final, b.trades) for b in bars] == [(False, 2 * (k + 1))]
    # a second batch in the same window waits for the next window
    assert agg.on_trades("A", arr(M_OPEN + 4_900, dtype=np.int64), arr(10.0), arr(1.0)) == []
    assert (
        agg.on_trades("A", arr(M_OPEN + 5_000, dtype=np.int64), arr(10.0), arr(1.0))[0].trades == 12
    )


def test_seed_continues_a_stored_bar() -> None:
    agg = BarAggregator(XSHG, ["1m"])
    stored = Bar("A", "1m", M_OPEN, 10.0, 11.0, 9.5, 10.5, 300.0, 10.2, 3)
    agg.seed(stored, M_OPEN + 30_000)
    feed(agg, "A", M_OPEN + 40_000, 12.0)
    bar = agg.flush()[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.trades) == (10.0, 12.0, 9.5, 12.0, 4)
    assert bar.volume == 400.0


@st.composite
def disordered_streams(draw):
    n = draw(st.integers(1, 250))
    grace = 3_000
    base = np.sort(
        np.array(
            draw(
                st.lists(
                    st.integers(M_OPEN - 15 * 60_000, A_CLOSE + 120_000), min_size=n, max_size=n
                )
            )
        )
    )
    jitter = np.array(draw(st.lists(st.integers(-grace // 2, 0), min_size=n, max_size=n)))
    px = np.array(draw(st.lists(st.integers(900, 1100), min_size=n, max_size=n))) / 100.0
    sz = np.array(draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))) * 100.0
    sym = draw(st.lists(st.sampled_from(["A", "B"]), min_size=n, max_size=n))
    chunk = draw(st.integers(1, 20))
    return (
        pd.DataFrame({"symbol": sym, "ts": base + jitter, "price": px, "volume": sz}),
        grace,
        chunk,
    )


@settings(max_examples=80, deadline=None)
@given(data=disordered_streams(), cal=st.sampled_from(["XSHG", None]))
def test_streaming_equals_batch(data, cal) -> None:
    trades, grace, chunk = data
    calendar = get_calendar(cal) if cal else None
    agg = BarAggregator(calendar, grace_ms=grace)
    finals: dict[tuple[str, str, int], Bar] = {}
    for start in range(0, len(trades), chunk):
        part = trades.iloc[start : start + chunk]
        for symbol, g in part.groupby("symbol", sort=False):
            for bar in agg.on_trades(
                str(symbol), g.ts.to_numpy(np.int64), g.price.to_numpy(), g.volume.to_numpy()
            ):
                if bar.final:
                    finals[(bar.symbol, bar.interval, bar.time)] = bar
    for bar in agg.flush():
        finals[(bar.symbol, bar.interval, bar.time)] = bar
    batch = aggregate_trades(trades, None, cal)
    assert len(batch) == len(finals)
    for row in batch.itertuples():
        bar = finals[(row.symbol, row.interval, row.time)]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades) == (
            row.open,
            row.high,
            row.low,
            row.close,
            row.volume,
            row.trades,
        )
        assert abs(bar.vwap - row.vwap) <= 1e-12 * row.vwap
