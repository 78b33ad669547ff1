"""The fast kernels (blocked scan, FIR products, rolling moments) and the
long-series paths built on them: values, NaN/inf handling, span boundaries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk import indicators as qi
from quantdesk.indicators import _core
from tests.unit.indicators._helpers import assert_close, run_stream

talib = pytest.importorskip("talib")

# Longer than a span of the scans, not a multiple of anything, so every path
# (whole rows, row tails, several spans, the last short span) runs.
LONG = 2 * _core.SPAN + 12_345


def _market(n: int, seed: int, scale: float = 100.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.abs(scale + np.cumsum(rng.normal(0.0, scale / 200.0, n))) + scale / 10.0
    spread = rng.random(n) * scale / 100.0
    return {
        "close": close,
        "high": close + spread,
        "low": close - spread,
        "volume": rng.integers(1, 10**6, n).astype(np.float64),
    }


def _loop_scan(u: np.ndarray, a: float, y0: float, scale: float) -> np.ndarray:
    out = np.empty(len(u))
    acc = y0
    for i, v in enumerate(u.tolist()):
        acc = a * acc + scale * v
        out[i] = acc
    bad = np.flatnonzero(~np.isfinite(u))
    if len(bad):
        out[bad[0] :] = np.nan
    return out


# --------------------------------------------------------------------------- scan


@pytest.mark.parametrize("a", [0.5, 13 / 14, 0.999, 1.0])
@pytest.mark.parametrize("overwrite", [False, True])
def test_linear_scan_over_several_spans(a: float, overwrite: bool) -> None:
    rng = np.random.default_rng(1)
    u = rng.normal(5.0, 2.0, LONG)
    expected = _loop_scan(u, a, 3.0, 1.0 - a if a < 1.0 else 1e-3)
    got = _core.linear_scan(
        u.copy(), a, 3.0, scale=1.0 - a if a < 1.0 else 1e-3, overwrite=overwrite
    )
    assert_close(got, expected)


@pytest.mark.parametrize("where", [5, _core.SPAN - 1, _core.SPAN + 7, LONG - 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_linear_scan_is_nan_from_a_bad_value_in_any_span(where: int, bad: float) -> None:
    u = np.random.default_rng(2).normal(1.0, 1.0, LONG)
    u[where] = bad
    got = _core.linear_scan(u, 0.9, 0.0, scale=0.1)
    assert np.isfinite(got[:where]).all()
    assert np.isnan(got[where:]).all()
    assert_close(got[:where], _loop_scan(u[:where], 0.9, 0.0, 0.1))


def test_linear_scan_output_may_be_its_input() -> None:
    u = np.random.default_rng(3).normal(0.0, 1.0, LONG)
    expected = _loop_scan(u, 0.8, 1.0, 0.2)
    for overwrite in (False, True):
        v = u.copy()
        _core.linear_scan(v, 0.8, 1.0, v, scale=0.2, overwrite=overwrite)
        assert_close(v, expected)


def test_blocked_scan_in_pieces() -> None:
    """Two passes over pieces give the scan of the whole (pieces start at row edges)."""
    u = np.random.default_rng(4).normal(0.0, 1.0, 10_003)
    scan = _core.BlockedScan(len(u), 0.7, 2.0, 0.3)
    cuts = [0, 8, 4096, 4104, 9000, len(u)]
    for lo, hi in itertools.pairwise(cuts):
        scan.row_ends(lo, u[lo:hi])
    assert scan.solve()
    out = np.empty(len(u))
    for lo, hi in itertools.pairwise(cuts):
        scan.apply(lo, u[lo:hi].copy(), out[lo:hi])
    assert_close(out, _loop_scan(u, 0.7, 2.0, 0.3))


# --------------------------------------------------------------------------- windows


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=400),
    taps=st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=_core.FIR_MAX_TAPS),
)
def test_fir_matches_naive(values: list[float], taps: list[float]) -> None:
    x = np.array(values, dtype=np.float64)
    w = np.array(taps, dtype=np.float64)
    count = max(len(x) - len(w) + 1, 0)
    out = np.empty(count)
    _core.fir_into(x, w, out)
    expected = [float(x[i : i + len(w)] @ w) for i in range(count)]
    scale = float(np.max(np.abs(x))) * float(np.sum(np.abs(w))) if count else 1.0
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12 * scale)


def _naive_moments(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Means, and variances as the mean squared pairwise difference / 2: the
    differences of nearby values are exact, so this is right to ~n * 1e-16."""
    windows = np.lib.stride_tricks.sliding_window_view(x, n)
    mean = windows.sum(axis=1) / n
    var = np.empty(len(windows))
    for lo in range(0, len(windows), 256):
        part = windows[lo : lo + 256]
        diff = part[:, :, None] - part[:, None, :]
        var[lo : lo + 256] = (diff * diff).sum(axis=(1, 2)) / (2.0 * n * n)
    return mean, var


def _moments(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    count = len(x) - n + 1
    mean, var = np.full(count, -1.0), np.full(count, -1.0)
    for lo, hi, part in _core.rolling_mean_var(x, n, mean):
        var[lo:hi] = part
    return mean, var


@pytest.mark.parametrize("n", [2, 5, 7, 9, 20, 30, 48, 49, 64])
def test_rolling_moments_are_accurate(n: int) -> None:
    """Random walk, flat stretches, a spike, huge level with tiny moves: every
    variance within 1e-9 of the exact one, give or take the rounding of the
    window sums (~1e-16 of the level times the spread; flat windows exactly 0)."""
    rng = np.random.default_rng(n)
    walk = 100.0 + np.cumsum(rng.normal(0.0, 0.5, 12_000))
    walk[2_000:2_300] = walk[2_000]  # flat
    walk[4_000:4_003] = 1e7  # spike
    walk[8_000:] = 1e9 + np.cumsum(rng.normal(0.0, 1e-4, 4_000))  # tiny moves, big level
    mean, var = _moments(walk, n)
    exp_mean, exp_var = _naive_moments(walk, n)
    np.testing.assert_allclose(mean, exp_mean, rtol=1e-13)
    allowed = 1e-9 * exp_var + 1e-14 * np.abs(exp_mean) * np.sqrt(exp_var)
    assert (np.abs(var - exp_var) <= allowed).all()
    flat = np.flatnonzero(exp_var == 0.0)
    assert len(flat) and (var[flat] == 0.0).all()


@pytest.mark.parametrize("n", [5, 20])
def test_rolling_moments_nan_spoils_only_its_windows(n: int) -> None:
    x = 50.0 + np.cumsum(np.random.default_rng(7).normal(0.0, 1.0, 5_000))
    x[1_234] = np.nan
    mean, var = _moments(x, n)
    spoiled = np.zeros(len(mean), dtype=bool)
    spoiled[1_234 - n + 1 : 1_235] = True
    assert np.isnan(var[spoiled]).all() and np.isnan(mean[spoiled]).all()
    clean = _naive_moments(np.where(np.isnan(x), 0.0, x), n)
    np.testing.assert_allclose(var[~spoiled], clean[1][~spoiled], rtol=1e-9)
    np.testing.assert_allclose(mean[~spoiled], clean[0][~spoiled], rtol=1e-13)


# --------------------------------------------------------------------------- indicators, long


def test_long_series_match_talib() -> None:
    d = _market(LONG, 11)
    c, h, lo = d["close"], d["high"], d["low"]
    assert_close(qi.ema(c, 30), talib.EMA(c, 30))
    assert_close(qi.rsi(c, 14), talib.RSI(c, 14))
    assert_close(qi.atr(h, lo, c, 14), talib.ATR(h, lo, c, 14))
    assert_close(qi.sma(c, 30), talib.SMA(c, 30))
    assert_close(qi.wma(c, 30), talib.WMA(c, 30))
    assert_close(qi.stddev(c, 5), talib.STDDEV(c, 5, 1.0))
    for ours, theirs in zip(qi.macd(c), talib.MACD(c, 12, 26, 9), strict=True):
        assert_close(ours, theirs)
    for ours, theirs in zip(qi.bbands(c, 20), talib.BBANDS(c, 20, 2.0, 2.0, 0), strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("period", [60, 200])
def test_long_windows_match_talib(period: int) -> None:
    """Windows longer than FIR_MAX_TAPS take the doubling / running-sum paths."""
    c = _market(50_000, period)["close"]
    assert_close(qi.sma(c, period), talib.SMA(c, period))
    assert_close(qi.wma(c, period), talib.WMA(c, period))
    assert_close(qi.stddev(c, period, 2.0), talib.STDDEV(c, period, 2.0))
    for ours, theirs in zip(
        qi.bbands(c, period, 1.5, 2.5, 0), talib.BBANDS(c, period, 1.5, 2.5, 0), strict=True
    ):
        assert_close(ours, theirs)


def test_atr_inverted_bars_are_talibs() -> None:
    """Bars with high < low (bad data) still get TA-Lib's true range."""
    d = _market(LONG, 12)
    h, lo, c = d["high"].copy(), d["low"].copy(), d["close"]
    for i in (10, 1_000, _core.SPAN + 5, LONG - 2):
        h[i], lo[i] = lo[i] - 1.0, h[i] + 1.0
    assert_close(qi.atr(h, lo, c, 14), talib.ATR(h, lo, c, 14))
    assert_close(qi.true_range(h, lo, c), talib.TRANGE(h, lo, c)[1:])


@pytest.mark.parametrize("name", ["ema", "rsi", "atr", "macd", "wma", "sma", "bbands", "stddev"])
def test_long_series_with_a_nan_equal_streaming(name: str) -> None:
    """A NaN after the first span: vectorized (fast path, then its fallback) == streaming."""
    d = _market(_core.SPAN + 40_000, 13)
    d["close"][_core.SPAN + 1_000] = np.nan
    d["high"][_core.SPAN + 1_000] = np.nan
    c, h, lo = d["close"], d["high"], d["low"]
    cases = {
        "ema": (qi.ema(c, 30), qi.EMA(30), (c,)),
        "rsi": (qi.rsi(c, 14), qi.RSI(14), (c,)),
        "atr": (qi.atr(h, lo, c, 14), qi.ATR(14), (h, lo, c)),
        "macd": (qi.macd(c), qi.MACD(), (c,)),
        "wma": (qi.wma(c, 30), qi.WMA(30), (c,)),
        "sma": (qi.sma(c, 30), qi.SMA(30), (c,)),
        "bbands": (qi.bbands(c, 20), qi.BBANDS(20), (c,)),
        "stddev": (qi.stddev(c, 20), qi.STDDEV(20), (c,)),
    }
    expected, indicator, columns = cases[name]
    streamed = run_stream(indicator, *columns)
    if isinstance(expected, tuple):
        for s, e in zip(streamed.reshape(len(expected), -1), expected, strict=True):
            assert_close(s, e)
    else:
        assert_close(streamed.reshape(-1), expected)
