"""Streaming indicators return, bar by bar, what the vectorized functions give."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk import indicators as qi
from tests.unit.indicators._helpers import assert_close, market, run_stream

Data = dict[str, np.ndarray]
# name -> (streaming factory, vectorized function, input columns), for a period p.
CASES: dict[str, tuple[Callable[[int], Any], Callable[..., Any], tuple[str, ...]]] = {
    "sma": (lambda p: qi.SMA(p), lambda d, p: qi.sma(d["close"], p), ("close",)),
    "ema": (lambda p: qi.EMA(p), lambda d, p: qi.ema(d["close"], p), ("close",)),
    "wma": (lambda p: qi.WMA(p), lambda d, p: qi.wma(d["close"], p), ("close",)),
    "rsi": (lambda p: qi.RSI(p + 1), lambda d, p: qi.rsi(d["close"], p + 1), ("close",)),
    "macd": (
        lambda p: qi.MACD(p + 1, 2 * p + 2, p),
        lambda d, p: qi.macd(d["close"], p + 1, 2 * p + 2, p),
        ("close",),
    ),
    "bbands": (
        lambda p: qi.BBANDS(p + 1, 2.0, 1.5),
        lambda d, p: qi.bbands(d["close"], p + 1, 2.0, 1.5),
        ("close",),
    ),
    "bbands-ema": (
        lambda p: qi.BBANDS(p + 1, 2.0, 2.0, 1),
        lambda d, p: qi.bbands(d["close"], p + 1, 2.0, 2.0, 1),
        ("close",),
    ),
    "stddev": (
        lambda p: qi.STDDEV(p + 1, 2.0),
        lambda d, p: qi.stddev(d["close"], p + 1, 2.0),
        ("close",),
    ),
    "atr": (
        lambda p: qi.ATR(p),
        lambda d, p: qi.atr(d["high"], d["low"], d["close"], p),
        ("high", "low", "close"),
    ),
    "willr": (
        lambda p: qi.WILLR(p + 1),
        lambda d, p: qi.willr(d["high"], d["low"], d["close"], p + 1),
        ("high", "low", "close"),
    ),
    "kdj": (
        lambda p: qi.KDJ(p, 3, 2),
        lambda d, p: qi.kdj(d["high"], d["low"], d["close"], p, 3, 2),
        ("high", "low", "close"),
    ),
    "obv": (lambda p: qi.OBV(), lambda d, p: qi.obv(d["close"], d["volume"]), ("close", "volume")),
    "vwap": (
        lambda p: qi.VWAP(),
        lambda d, p: qi.vwap(d["high"], d["low"], d["close"], d["volume"], d["reset"]),
        ("high", "low", "close", "volume", "reset"),
    ),
    "volume_ratio": (
        lambda p: qi.VolumeRatio(p),
        lambda d, p: qi.volume_ratio(d["volume"], p),
        ("volume",),
    ),
}


def _compare(name: str, data: Data, period: int) -> None:
    factory, vectorized, columns = CASES[name]
    data = dict(data)
    if "reset" not in data:
        data["reset"] = (np.arange(len(data["close"])) % 17) == 5
    expected = vectorized(data, period)
    streamed = run_stream(factory(period), *(data[c] for c in columns))
    if isinstance(expected, tuple):
        streamed = streamed.reshape(len(expected), -1)
        for s, e in zip(streamed, expected, strict=True):
            assert_close(s, e, scale=_scale(data, e))
    else:
        assert_close(streamed.reshape(-1), expected, scale=_scale(data, expected))


def _scale(data: Data, expected: np.ndarray) -> float:
    values = np.concatenate([data["close"], data["high"], data["low"], expected])
    values = values[np.isfinite(values)]
    return float(np.max(np.abs(values))) if values.size else 1.0


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=market(), period=st.integers(1, 10))
def test_streaming_equals_vectorized(name: str, data: Data, period: int) -> None:
    _compare(name, data, period)


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=market(min_size=1),
    period=st.integers(1, 8),
    leading=st.integers(0, 12),
    holes=st.lists(st.integers(0, 200), max_size=3),
)
def test_streaming_equals_vectorized_with_nans(
    name: str, data: Data, period: int, leading: int, holes: list[int]
) -> None:
    """Leading NaNs are skipped by both; a later NaN is treated the same by both."""
    data = {k: v.copy() for k, v in data.items()}
    size = len(data["close"])
    for key in ("close", "high", "low", "volume"):
        data[key][: min(leading, size)] = np.nan
    for hole in holes:
        if hole < size:
            data["close"][hole] = np.nan
            data["high"][hole] = np.nan
    _compare(name, data, period)


@pytest.mark.parametrize("name", list(CASES))
def test_long_series_stay_equal(name: str) -> None:
    """Running sums are recomputed, so no drift shows after many updates."""
    rng = np.random.default_rng(5)
    n = 12_000
    close = np.abs(500.0 + np.cumsum(rng.normal(0, 2, n))) + 1.0
    close[5000:5010] = 1e7  # a spike that a running sum would remember
    data = {
        "close": close,
        "high": close + rng.random(n),
        "low": close - rng.random(n),
        "volume": rng.integers(0, 10**6, n).astype(float),
    }
    _compare(name, data, 9)


@pytest.mark.parametrize("name", list(CASES))
def test_state_round_trip(name: str) -> None:
    rng = np.random.default_rng(9)
    n = 120
    close = 20.0 + np.cumsum(rng.normal(0, 1, n))
    data = {
        "close": close,
        "high": close + 1.0,
        "low": close - 1.0,
        "volume": rng.integers(1, 100, n).astype(float),
        "reset": np.arange(n) % 30 == 0,
    }
    factory, _, columns = CASES[name]
    rows = list(zip(*(data[c].tolist() for c in columns), strict=True))
    whole = factory(6)
    expected = [whole.update(*row) for row in rows]
    first = factory(6)
    for row in rows[:50]:
        first.update(*row)
    saved = pickle.loads(pickle.dumps(first.state()))
    second = factory(6)
    second.restore(saved)
    rest = [second.update(*row) for row in rows[50:]]
    np.testing.assert_array_equal(np.array(rest, dtype=float), np.array(expected[50:], dtype=float))


@pytest.mark.parametrize("name", list(CASES))
def test_memory_stays_fixed(name: str) -> None:
    factory, _, columns = CASES[name]
    indicator = factory(20)
    rng = np.random.default_rng(1)

    def size() -> int:
        total = 0
        for value in indicator.state().values():
            total += sys.getsizeof(value)
            if isinstance(value, list):
                total += sum(sys.getsizeof(v) for v in value)
        return total

    row = dict.fromkeys(columns, 1.0)
    row["reset"] = False
    for _ in range(200):
        indicator.update(*(row[c] + rng.random() for c in columns))
    before = size()
    for _ in range(5000):
        indicator.update(*(row[c] + rng.random() for c in columns))
    assert size() <= before


def test_repr_and_lookback() -> None:
    assert repr(qi.SMA(5)) == "SMA(timeperiod=5)"
    assert qi.MACD(12, 26, 9).lookback == 33
    assert qi.RSI(14).lookback == 14
    assert qi.ATR(14).lookback == 14
    assert qi.BBANDS(20).lookback == 19
    assert qi.VolumeRatio(5).lookback == 5
