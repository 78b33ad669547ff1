"""The streaming aggregator's fast paths give the bars of its general path.

A batch inside one session segment skips print placement and splits its
minutes from the first and last print (one, two or more minutes); a batch
that touches a session edge is placed print by print. Both must agree with
each other and with the batch aggregation.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk import aggregate_trades
from quantdesk.calendars import get_calendar
from quantdesk.domain import Bar
from quantdesk.stream import bars as bars_mod
from quantdesk.stream.bars import BarAggregator

XSHG = get_calendar("XSHG")
DAY = dt.date(2026, 11, 20)
(M_OPEN, M_CLOSE), (A_OPEN, A_CLOSE) = XSHG.day_segments(DAY)


def run(agg: BarAggregator, trades: pd.DataFrame, sizes: list[int]) -> dict[tuple, Bar]:
    """Feed ``trades`` in batches of ``sizes`` (cycled), per symbol; the final bars."""
    finals: dict[tuple, Bar] = {}
    start, k = 0, 0
    while start < len(trades):
        part = trades.iloc[start : start + sizes[k % len(sizes)]]
        start, k = start + len(part), k + 1
        for symbol, g in part.groupby("symbol", sort=False):
            for bar in agg.on_trades(
                str(symbol), g.ts.to_numpy(np.int64), g.price.to_numpy(), g.volume.to_numpy()
            ):
                if bar.final:
                    finals[(bar.symbol, bar.interval, bar.time)] = bar
    for bar in agg.flush():
        finals[(bar.symbol, bar.interval, bar.time)] = bar
    return finals


def as_tuple(bar: Bar) -> tuple:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap, bar.trades)


@st.composite
def dense_streams(draw):
    """A few symbols trading 0.2-20 prints/s around the lunch break, a little out of order."""
    n = draw(st.integers(1, 1_500))
    gap = draw(st.sampled_from([50, 500, 5_000]))
    start = draw(st.integers(M_CLOSE - 40 * 60_000, M_CLOSE - 60_000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ts = start + np.cumsum(rng.integers(0, 2 * gap, n))
    ts[ts >= M_CLOSE] += A_OPEN - M_CLOSE - 30 * 60_000  # some prints in the lunch break
    late = rng.random(n) < 0.03
    ts[late] -= rng.integers(0, 1_500, int(late.sum()))
    return pd.DataFrame(
        {
            "symbol": rng.choice(["A", "B", "C"], n),
            "ts": ts.astype(np.int64),
            "price": np.round(rng.uniform(9, 11, n), 2),
            "volume": rng.integers(1, 9, n) * 100.0,
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    trades=dense_streams(),
    sizes=st.lists(st.integers(1, 600), min_size=1, max_size=4),
    cal=st.sampled_from(["XSHG", None]),
)
def test_streaming_in_large_batches_equals_batch(trades, sizes, cal) -> None:
    finals = run(BarAggregator(get_calendar(cal) if cal else None, grace_ms=2_000), trades, sizes)
    batch = aggregate_trades(trades, None, cal)
    assert len(batch) == len(finals)
    for row in batch.itertuples():
        bar = finals[(row.symbol, row.interval, row.time)]
        assert (*as_tuple(bar)[:5], bar.trades) == (
            row.open,
            row.high,
            row.low,
            row.close,
            row.volume,
            row.trades,
        )
        assert abs(bar.vwap - row.vwap) <= 1e-12 * row.vwap


def test_batch_across_the_lunch_break_equals_two_batches() -> None:
    rng = np.random.default_rng(5)
    ts = np.r_[
        np.sort(rng.integers(M_CLOSE - 150_000, M_CLOSE, 200)),
        [M_CLOSE, M_CLOSE + 60_000],  # a close print, and one outside sessions
        np.sort(rng.integers(A_OPEN, A_OPEN + 150_000, 200)),
    ].astype(np.int64)
    price = np.round(rng.uniform(9, 11, len(ts)), 2)
    size = np.round(rng.uniform(1, 500, len(ts)), 1)  # fractional: the same sums, bit for bit
    one = BarAggregator(XSHG)  # one batch: placed print by print
    out_one = one.on_trades("A", ts, price, size) + one.flush()
    two = BarAggregator(XSHG)  # split at the break: both halves inside one segment
    cut = 202
    out_two = two.on_trades("A", ts[:cut], price[:cut], size[:cut])
    out_two += two.on_trades("A", ts[cut:], price[cut:], size[cut:]) + two.flush()
    final_one = {(b.interval, b.time): as_tuple(b) for b in out_one if b.final}
    final_two = {(b.interval, b.time): as_tuple(b) for b in out_two if b.final}
    assert final_one == final_two
    assert one.counters["outside_session"] == two.counters["outside_session"] == 1


def test_minute_key_cache_eviction_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(9)
    n = 3_000
    trades = pd.DataFrame(
        {
            "symbol": rng.choice(["A", "B"], n),
            "ts": np.sort(rng.integers(M_OPEN, A_CLOSE, n)),
            "price": np.round(rng.uniform(9, 11, n), 2),
            "volume": rng.integers(1, 9, n) * 100.0,
        }
    )
    want = run(BarAggregator(XSHG), trades, [7, 150, 40])
    monkeypatch.setattr(bars_mod, "_KEY_CACHE", 2)
    got = run(BarAggregator(XSHG), trades, [7, 150, 40])
    assert {k: as_tuple(b) for k, b in got.items()} == {k: as_tuple(b) for k, b in want.items()}
