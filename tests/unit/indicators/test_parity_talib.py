"""Vectorized indicators equal TA-Lib's output (values, NaN warm-up, quirks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk import indicators as qi
from tests.unit.indicators._helpers import assert_close, market, run_stream

talib = pytest.importorskip("talib")

Data = dict[str, np.ndarray]
# (name, ours, TA-Lib's), both called with the data and one period.
CASES: list[tuple[str, Callable[[Data, int], Any], Callable[[Data, int], Any]]] = [
    ("sma", lambda d, p: qi.sma(d["close"], p), lambda d, p: talib.SMA(d["close"], p)),
    ("ema", lambda d, p: qi.ema(d["close"], p), lambda d, p: talib.EMA(d["close"], p)),
    ("wma", lambda d, p: qi.wma(d["close"], p), lambda d, p: talib.WMA(d["close"], p)),
    ("rsi", lambda d, p: qi.rsi(d["close"], p + 1), lambda d, p: talib.RSI(d["close"], p + 1)),
    (
        "macd",
        lambda d, p: qi.macd(d["close"], p + 1, 2 * p + 3, p),
        lambda d, p: talib.MACD(d["close"], p + 1, 2 * p + 3, p),
    ),
    (
        "macd-swapped",
        lambda d, p: qi.macd(d["close"], 2 * p + 3, p + 1, 2),
        lambda d, p: talib.MACD(d["close"], 2 * p + 3, p + 1, 2),
    ),
    (
        "bbands",
        lambda d, p: qi.bbands(d["close"], p + 1, 2.0, 2.0, 0),
        lambda d, p: talib.BBANDS(d["close"], p + 1, 2.0, 2.0, 0),
    ),
    (
        "bbands-asym-ema",
        lambda d, p: qi.bbands(d["close"], p + 1, 1.5, 2.5, 1),
        lambda d, p: talib.BBANDS(d["close"], p + 1, 1.5, 2.5, 1),
    ),
    (
        "stddev",
        lambda d, p: qi.stddev(d["close"], p + 1, 1.5),
        lambda d, p: talib.STDDEV(d["close"], p + 1, 1.5),
    ),
    (
        "atr",
        lambda d, p: qi.atr(d["high"], d["low"], d["close"], p),
        lambda d, p: talib.ATR(d["high"], d["low"], d["close"], p),
    ),
    (
        "willr",
        lambda d, p: qi.willr(d["high"], d["low"], d["close"], p + 1),
        lambda d, p: talib.WILLR(d["high"], d["low"], d["close"], p + 1),
    ),
    (
        "obv",
        lambda d, p: qi.obv(d["close"], d["volume"]),
        lambda d, p: talib.OBV(d["close"], d["volume"]),
    ),
]
NAMES = [c[0] for c in CASES]


# Outputs in price units get an absolute floor from the price scale (an EMA
# difference that should be 0 may be 1e-16 of the price); RSI, WILLR (0..100)
# and OBV (volume units) from their own values.
PRICE_UNITS = {
    "sma",
    "ema",
    "wma",
    "macd",
    "macd-swapped",
    "bbands",
    "bbands-asym-ema",
    "stddev",
    "atr",
}


def _check(case: str, data: Data, period: int) -> None:
    _, ours, theirs = CASES[NAMES.index(case)]
    expected = theirs(data, period)
    actual = ours(data, period)
    scale = None
    if case in PRICE_UNITS:
        prices = np.concatenate([data["close"], data["high"], data["low"]])
        prices = prices[np.isfinite(prices)]
        scale = float(np.max(np.abs(prices))) if prices.size else 1.0
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_close(a, e, scale=scale)
    else:
        assert_close(actual, expected, scale=scale)


@pytest.mark.parametrize("case", NAMES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=market(), period=st.integers(1, 12))
def test_random_series_match_talib(case: str, data: Data, period: int) -> None:
    _check(case, data, period)


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("value", [0.0, 1e-7, 0.1, 123.456, 1e6 + 0.1])
def test_constant_series(case: str, value: float) -> None:
    n = 80
    data = {k: np.full(n, value) for k in ("close", "high", "low")}
    data["volume"] = np.full(n, 1000.0)
    _check(case, data, 5)


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("leading", [1, 7, 40])
def test_leading_nans_start_like_talib(case: str, leading: int) -> None:
    rng = np.random.default_rng(leading)
    n = 120
    close = 50.0 + np.cumsum(rng.normal(0, 1, n))
    data = {
        "close": close,
        "high": close + rng.random(n),
        "low": close - rng.random(n),
        "volume": rng.integers(1, 1000, n).astype(float),
    }
    for key in data:  # the first complete row is after the longest NaN run
        data[key][: leading + (key == "high")] = np.nan
    _check(case, data, 4)


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_shorter_than_the_period_is_all_nan(case: str, n: int) -> None:
    data = {k: np.linspace(1.0, 2.0, n) for k in ("close", "high", "low", "volume")}
    _check(case, data, 6)
    _, ours, _ = CASES[NAMES.index(case)]
    result = ours(data, 6)
    for column in result if isinstance(result, tuple) else (result,):
        assert len(column) == n
        if case != "obv":
            assert np.isnan(column).all()


@pytest.mark.parametrize("case", NAMES)
@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e9, 1e15])
def test_extreme_magnitudes(case: str, scale: float) -> None:
    rng = np.random.default_rng(7)
    n = 300
    close = (100.0 + np.cumsum(rng.normal(0, 1, n))) * scale
    data = {
        "close": close,
        "high": close + rng.random(n) * scale,
        "low": close - rng.random(n) * scale,
        "volume": rng.integers(1, 10**6, n).astype(float),
    }
    _check(case, data, 10)


def test_long_series_keep_parity() -> None:
    """Running sums and scans do not drift over a long series."""
    rng = np.random.default_rng(3)
    n = 200_000
    close = np.abs(1000.0 + np.cumsum(rng.normal(0, 1, n))) + 1.0
    high, low = close + rng.random(n), close - rng.random(n)
    assert_close(qi.sma(close, 30), talib.SMA(close, 30))
    assert_close(qi.ema(close, 30), talib.EMA(close, 30))
    assert_close(qi.wma(close, 30), talib.WMA(close, 30))
    assert_close(qi.rsi(close, 14), talib.RSI(close, 14))
    assert_close(qi.stddev(close, 20), talib.STDDEV(close, 20, 1.0))
    assert_close(qi.atr(high, low, close, 14), talib.ATR(high, low, close, 14))
    for ours, theirs in zip(qi.macd(close), talib.MACD(close, 12, 26, 9), strict=True):
        assert_close(ours, theirs)


def test_defaults_are_talibs() -> None:
    rng = np.random.default_rng(11)
    close = 10.0 + np.cumsum(rng.normal(0, 0.1, 200))
    high, low = close + 0.2, close - 0.2
    assert_close(qi.sma(close), talib.SMA(close, 30))
    assert_close(qi.ema(close), talib.EMA(close, 30))
    assert_close(qi.wma(close), talib.WMA(close, 30))
    assert_close(qi.rsi(close), talib.RSI(close, 14))
    assert_close(qi.atr(high, low, close), talib.ATR(high, low, close, 14))
    assert_close(qi.willr(high, low, close), talib.WILLR(high, low, close, 14))
    assert_close(qi.stddev(close), talib.STDDEV(close, 5, 1.0))
    for ours, theirs in zip(qi.bbands(close), talib.BBANDS(close, 5, 2.0, 2.0, 0), strict=True):
        assert_close(ours, theirs)
    for ours, theirs in zip(qi.macd(close), talib.MACD(close, 12, 26, 9), strict=True):
        assert_close(ours, theirs)


def test_lookbacks_equal_talibs() -> None:
    close = np.linspace(1.0, 2.0, 100) ** 2
    for ours, theirs, lookback in [
        (qi.sma(close, 7), talib.SMA(close, 7), 6),
        (qi.ema(close, 7), talib.EMA(close, 7), 6),
        (qi.rsi(close, 7), talib.RSI(close, 7), 7),
        (qi.atr(close, close, close, 7), talib.ATR(close, close, close, 7), 7),
        (qi.macd(close, 5, 9, 4)[1], talib.MACD(close, 5, 9, 4)[1], 9 + 4 - 2),
    ]:
        assert int(np.isnan(ours).sum()) == int(np.isnan(theirs).sum()) == lookback


def test_rsi_small_but_nonzero_moves_are_not_zeroed() -> None:
    """TA-Lib 0.6+ only returns 0 when the average gain + loss is exactly 0."""
    close = np.array([0.0] * 6 + [1e-300] * 4)
    assert_close(qi.rsi(close, 3), talib.RSI(close, 3))


@pytest.mark.parametrize("level", [1e-6, 1.0, 1e6])
def test_willr_range_flat_within_rounding_is_zero(level: float) -> None:
    """TA-Lib 0.6 counts a range within 1e-14 of the prices as flat (WILLR = 0)."""
    rng = np.random.default_rng(4)
    base = level * (1.0 + rng.random(60))
    residue = base * rng.choice([0.0, 1e-15, 5e-15, 3e-14, 1e-12], 60)
    high, low = base + residue, base.copy()
    close = base.copy()
    assert_close(qi.willr(high, low, close, 2), talib.WILLR(high, low, close, 2))
    assert_close(run_stream(qi.WILLR(2), high, low, close), talib.WILLR(high, low, close, 2))
