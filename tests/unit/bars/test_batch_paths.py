"""The fast paths of the batch aggregation give the same bars as the plain ones.

* ``place`` on time-ordered prints (run by run) == ``place`` print by print;
* ``aggregate_trades`` in cache-sized chunks, on threads, == one chunk on one
  thread, for every symbol dtype (Arrow strings, objects, categoricals);
* ``aggregate_trades`` == a pandas ``groupby`` on the same trades.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.bars import aggregate_trades, buckets
from quantdesk.bars import batch as batch_mod
from quantdesk.calendars import AUCTION_MS, get_calendar

XSHG = get_calendar("XSHG")
XNYS = get_calendar("XNYS")
DAY = dt.date(2026, 11, 20)


def _edges(cal) -> np.ndarray:
    """Segment opens and closes around DAY, and the opening-auction windows."""
    lo = int(np.searchsorted(cal.opens, XSHG.day_segments(DAY)[0][0])) - 4
    opens, closes = cal.opens[lo : lo + 10], cal.closes[lo : lo + 10]
    return np.r_[opens, closes, opens - AUCTION_MS, opens - AUCTION_MS - 1]


@st.composite
def sorted_prints(draw):
    cal = draw(st.sampled_from([XSHG, XNYS]))
    edges = _edges(cal)
    n = draw(st.integers(1, 400))
    picks = draw(st.lists(st.integers(0, len(edges) - 1), min_size=n, max_size=n))
    offsets = draw(st.lists(st.integers(-90_000, 90_000), min_size=n, max_size=n))
    return cal, np.sort(edges[picks] + np.array(offsets, dtype=np.int64))


@settings(max_examples=150, deadline=None)
@given(data=sorted_prints())
def test_place_run_by_run_equals_print_by_print(data) -> None:
    cal, ts = data
    fast = buckets._place_sorted(ts, cal)
    shuffle = np.random.default_rng(len(ts)).permutation(len(ts))
    plain = buckets.place(ts[shuffle], cal)  # not sorted: placed print by print
    back = np.argsort(shuffle)
    for got, want in zip(fast, plain, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want[back])


def test_place_of_many_sorted_prints_takes_the_fast_path() -> None:
    day_open = XSHG.day_segments(DAY)[0][0]
    ts = np.arange(day_open - 600_000, day_open + 6 * 3_600_000, 1_000, dtype=np.int64)
    assert len(ts) >= buckets._SORTED_MIN
    t_eff, _seg, valid = buckets.place(ts, XSHG)
    assert t_eff[0] == day_open and valid[0]  # the opening auction joins the first bar
    lunch = (ts >= XSHG.day_segments(DAY)[0][1] + 1) & (ts < XSHG.day_segments(DAY)[1][0])
    assert not valid[lunch].any()


def _trades(
    rng: np.random.Generator, n: int, n_sym: int, kind: str, disorder: bool = True
) -> pd.DataFrame:
    day_open = XSHG.day_segments(DAY)[0][0]
    ts = np.sort(rng.integers(day_open - 900_000, day_open + 7 * 3_600_000, n))
    if disorder:
        late = rng.random(n) < 0.02
        ts[late] -= rng.integers(0, 5_000, int(late.sum()))
    names = np.array([f"{600000 + k}.SH" for k in rng.permutation(n_sym)], dtype=object)
    sym = names[rng.integers(0, n_sym, n)]
    return pd.DataFrame(
        {
            "symbol": pd.Series(sym, dtype=kind),
            "ts": ts,
            "price": np.round(rng.uniform(5, 50, n), 3),
            "volume": np.round(rng.uniform(0.5, 900, n), 2),  # fractional: sums are exact only
        }  # when added in the same order
    )


@pytest.mark.parametrize("kind", ["str", "object", "category", "string[pyarrow]"])
@pytest.mark.parametrize("calendar", [None, "XSHG"])
@pytest.mark.parametrize("disorder", [False, True])
def test_chunks_and_threads_give_identical_bars(
    monkeypatch: pytest.MonkeyPatch, kind: str, calendar: str | None, disorder: bool
) -> None:
    trades = _trades(np.random.default_rng(3), 20_000, 37, kind, disorder)
    whole = aggregate_trades(trades, None, calendar)  # one chunk, one thread
    monkeypatch.setattr(batch_mod, "_CHUNK", 97)
    monkeypatch.setattr(batch_mod, "_THREADED", 1)
    chunked = aggregate_trades(trades, None, calendar)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    reference = aggregate_trades(trades.astype({"symbol": object}), None, calendar)
    pd.testing.assert_frame_equal(chunked, reference, check_exact=True)


def test_factorize_matches_pandas_for_arrow_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_mod, "_CHUNK", 16)  # several pieces, each with its dictionary
    monkeypatch.setattr(batch_mod, "_THREADED", 1)
    symbols = pd.Series(
        np.random.default_rng(1).choice(["b", "a", "ä", "B", "600000.SH", "zz"], 5_000),
        dtype="str",
    )
    codes, names = batch_mod._factorize(symbols)
    want_codes, want_names = pd.factorize(symbols, sort=True)
    np.testing.assert_array_equal(codes, want_codes)
    assert names.tolist() == list(want_names)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3_000),
    n_sym=st.integers(1, 6),
)
def test_epoch_minutes_equal_a_pandas_groupby(seed: int, n: int, n_sym: int) -> None:
    rng = np.random.default_rng(seed)
    trades = _trades(rng, n, n_sym, "str")
    trades["volume"] = rng.integers(1, 90, n) * 100.0  # whole lots: sums exact in any order
    bars = aggregate_trades(trades, ["1m"], None)
    t = trades.assign(time=trades.ts // 60_000 * 60_000, pv=trades.price * trades.volume)
    t = t.sort_values("ts", kind="stable")
    g = t.groupby(["symbol", "time"], sort=True)
    want = pd.DataFrame(
        {
            "open": g.price.first(),
            "high": g.price.max(),
            "low": g.price.min(),
            "close": g.price.last(),
            "volume": g.volume.sum(),
            "trades": g.size(),
        }
    ).reset_index()
    assert bars["symbol"].tolist() == want["symbol"].tolist()
    assert bars["time"].tolist() == want["time"].tolist()
    for col in ("open", "high", "low", "close", "volume", "trades"):
        np.testing.assert_array_equal(bars[col].to_numpy(), want[col].to_numpy())
    np.testing.assert_allclose(bars["vwap"], g.pv.sum().to_numpy() / want["volume"], rtol=1e-12)
