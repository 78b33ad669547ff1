"""Definitions of the indicators TA-Lib lacks, input handling and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk import indicators as qi
from quantdesk.errors import ConfigError, DataError
from quantdesk.indicators import _core
from tests.unit.indicators._helpers import assert_close

NAN = np.nan


def test_kdj_by_hand() -> None:
    high = [10.0, 11.0, 12.0, 12.0]
    low = [8.0, 9.0, 10.0, 11.0]
    close = [9.0, 10.0, 11.0, 11.5]
    k, d, j = qi.kdj(high, low, close, fastk_period=3, slowk_period=3, slowd_period=3)
    rsv2 = 100 * (11.0 - 8.0) / (12.0 - 8.0)  # 75
    k2 = (2 * 50 + rsv2) / 3
    d2 = (2 * 50 + k2) / 3
    rsv3 = 100 * (11.5 - 9.0) / (12.0 - 9.0)
    k3 = (2 * k2 + rsv3) / 3
    d3 = (2 * d2 + k3) / 3
    assert_close(k, [NAN, NAN, k2, k3])
    assert_close(d, [NAN, NAN, d2, d3])
    assert_close(j, [NAN, NAN, 3 * k2 - 2 * d2, 3 * k3 - 2 * d3])


def test_kdj_flat_range_is_neutral() -> None:
    flat = np.full(30, 7.0)
    k, d, j = qi.kdj(flat, flat, flat)
    assert_close(k[8:], np.full(22, 50.0))
    assert_close(d[8:], np.full(22, 50.0))
    assert_close(j[8:], np.full(22, 50.0))
    assert np.isnan(k[:8]).all()


def test_vwap_by_hand_with_sessions() -> None:
    high = [11.0, 12.0, 13.0, 14.0]
    low = [9.0, 10.0, 11.0, 12.0]
    close = [10.0, 11.0, 12.0, 13.0]
    volume = [100.0, 300.0, 0.0, 50.0]
    reset = [False, False, True, False]
    got = qi.vwap(high, low, close, volume, reset)
    assert_close(got, [10.0, (10 * 100 + 11 * 300) / 400, NAN, 13.0])
    assert_close(qi.vwap(high, low, close, volume), [10.0, 10.75, 10.75, (4300 + 650) / 450])


def test_volume_ratio_by_hand() -> None:
    volume = [100.0, 200.0, 300.0, 400.0, 0.0, 0.0, 0.0, 5.0]
    got = qi.volume_ratio(volume, timeperiod=3)
    assert_close(got, [NAN, NAN, NAN, 400 / 200, 0.0, 0.0, 0.0, NAN])


def test_accepts_lists_and_pandas() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    expected = qi.sma(np.array(values), 2)
    assert_close(qi.sma(values, 2), expected)
    assert_close(qi.sma(pd.Series(values), 2), expected)
    nullable = pd.Series([None, 2.0, 3.0, 4.0, 5.0], dtype="Float64")
    assert_close(qi.sma(nullable, 2), [NAN, NAN, 2.5, 3.5, 4.5])
    out = qi.ema(pd.Series(values, index=list("abcde")), 2)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (5,)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: qi.sma([1.0, 2.0], 0), ConfigError),
        (lambda: qi.rsi([1.0, 2.0], 1), ConfigError),
        (lambda: qi.bbands([1.0, 2.0], 5, matype=3), ConfigError),
        (lambda: qi.stddev([1.0, 2.0], 5, nbdev=float("nan")), ConfigError),
        (lambda: qi.ema([1.0, 2.0], 2.5), ConfigError),  # type: ignore[arg-type]
        (lambda: qi.sma([1.0], 100_001), ConfigError),
        (lambda: qi.SMA(0), ConfigError),
        (lambda: qi.MACD(12, 26, 0), ConfigError),
        (lambda: qi.atr([1.0, 2.0], [1.0], [1.0, 2.0]), DataError),
        (lambda: qi.sma([[1.0, 2.0]], 2), DataError),
        (lambda: qi.sma(["x", "y"], 2), DataError),
        (lambda: qi.vwap([1.0], [1.0], [1.0], [1.0], reset=[True, False]), DataError),
    ],
)
def test_errors_are_one_clear_line(call: object, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_restore_rejects_foreign_state() -> None:
    with pytest.raises(DataError):
        qi.SMA(3).restore(qi.EMA(3).state())


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=120),
    n=st.integers(1, 40),
)
def test_window_kernels_match_naive(values: list[float], n: int) -> None:
    x = np.array(values, dtype=np.float64)
    count = max(len(x) - n + 1, 0)
    windows = [x[i : i + n] for i in range(count)]
    scale = float(np.max(np.abs(x))) * n if len(x) else 1.0
    np.testing.assert_allclose(
        _core.window_sum(x, n), [w.sum() for w in windows], atol=1e-12 * scale
    )
    np.testing.assert_array_equal(_core.window_max(x, n), [w.max() for w in windows])
    np.testing.assert_array_equal(_core.window_min(x, n), [w.min() for w in windows])
    sums, m2 = _core.window_moments(x, n)
    np.testing.assert_allclose(sums, [w.sum() for w in windows], atol=1e-12 * scale)
    np.testing.assert_allclose(
        m2, [((w - w.mean()) ** 2).sum() for w in windows], rtol=1e-9, atol=1e-9 * scale * scale / n
    )


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=3000),
    a=st.sampled_from([0.0, 0.3, 0.9, 0.99, 1.0]),
    y0=st.floats(-10.0, 10.0),
)
def test_linear_scan_matches_loop(values: list[float], a: float, y0: float) -> None:
    u = np.array(values, dtype=np.float64)
    expected = []
    acc = y0
    for v in values:
        acc = a * acc + 0.5 * v
        expected.append(acc)
    got = _core.linear_scan(u, a, y0, scale=0.5)
    scale = max([abs(y0), *(abs(e) for e in expected)], default=1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9 * scale)


def test_linear_scan_nan_ends_the_series() -> None:
    u = np.ones(500)
    u[321] = np.nan
    got = _core.linear_scan(u, 0.5, 0.0)
    assert np.isfinite(got[:321]).all()
    assert np.isnan(got[321:]).all()
    assert_close(got[:321], _core.linear_scan(u[:321], 0.5, 0.0))
