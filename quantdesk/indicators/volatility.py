"""Volatility indicators: ATR and rolling standard deviation (vectorized and streaming).

Both equal TA-Lib's ``ATR`` and ``STDDEV`` within 1e-9 relative, with the same
lookback, and skip leading NaNs as TA-Lib does. A later NaN: ATR (a
recursion) is NaN from there on; STDDEV is NaN while it is in the window.
"""

from __future__ import annotations

import math

import numpy as np

from quantdesk.indicators._core import (
    NAN,
    ArrayLike,
    FloatArray,
    as_float_array,
    as_float_arrays,
    check_period,
    check_real,
    chunk_ranges,
    first_valid,
    linear_scan,
    nan_array,
    seq_sum,
    window_moments,
)
from quantdesk.indicators._stream import StreamingIndicator
from quantdesk.indicators.overlap import _RollingMoments

__all__ = ["ATR", "STDDEV", "atr", "stddev", "true_range"]


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """TA-Lib's true range of bars 1..N-1 (bar 0 has no previous close)::

    max(high - low, |prev_close - high|, |prev_close - low|)
    """
    prev = close[:-1]
    h = high[1:]
    lo = low[1:]
    tr = h - lo
    gap = np.subtract(prev, h)
    np.abs(gap, out=gap)
    np.maximum(tr, gap, out=tr)
    np.subtract(prev, lo, out=gap)
    np.abs(gap, out=gap)
    np.maximum(tr, gap, out=tr)
    return tr


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Average True Range (TA-Lib ``ATR``); lookback ``timeperiod``.

    As TA-Lib: the true range starts on the second bar (bar 0 has none), the
    first ATR is the mean of the first ``timeperiod`` true ranges, then
    Wilder's smoothing ``atr = (atr * (n - 1) + tr) / n``. With
    ``timeperiod=1`` the ATR is the true range itself.
    """
    h, lo, c = as_float_arrays(high=high, low=low, close=close)
    n = check_period("timeperiod", timeperiod, 1)
    out = nan_array(len(c))
    start = first_valid(h, lo, c)
    if len(c) - start <= n:
        return out
    hs, ls, cs = h[start:], lo[start:], c[start:]
    if n == 1:
        out[start + 1 :] = true_range(hs, ls, cs)
        return out
    value = seq_sum(true_range(hs[: n + 1], ls[: n + 1], cs[: n + 1])) / n
    out[start + n] = value
    dst = out[start + n + 1 :]
    a, scale = (n - 1) / n, 1.0 / n
    for lo_, hi in chunk_ranges(len(cs) - n - 1):
        bars = slice(n + lo_, n + hi + 1)  # true ranges of bars n+1+lo_ .. n+hi
        tr = true_range(hs[bars], ls[bars], cs[bars])
        linear_scan(tr, a, value, dst[lo_:hi], scale=scale)
        value = float(dst[hi - 1])
    return out


def stddev(close: ArrayLike, timeperiod: int = 5, nbdev: float = 1.0) -> FloatArray:
    """Rolling population standard deviation times ``nbdev`` (TA-Lib ``STDDEV``).

    ``sqrt(sum((x - mean)**2) / timeperiod) * nbdev`` over the last
    ``timeperiod`` values; lookback ``timeperiod - 1``. Computed without the
    ``E[x^2] - E[x]^2`` cancellation, like TA-Lib 0.6+.
    """
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 2)
    k = check_real("nbdev", nbdev)
    out = nan_array(len(x))
    start = first_valid(x)
    xs = x[start:]
    if len(xs) < n:
        return out
    dst = out[start + n - 1 :]
    for lo, hi in chunk_ranges(len(xs) - n + 1):
        _, m2 = window_moments(xs[lo : hi + n - 1], n)
        m2 /= n
        part = np.sqrt(m2, out=dst[lo:hi])
        if k != 1.0:
            part *= k
    return out


class ATR(StreamingIndicator):
    """Streaming ATR: ``update(high, low, close) -> float``, equal to :func:`atr`."""

    __slots__ = ("_atr", "_count", "_prev_close", "timeperiod")

    def __init__(self, timeperiod: int = 14) -> None:
        n = check_period("timeperiod", timeperiod, 1)
        self.timeperiod = n
        self.lookback = n
        self._count = 0
        self._prev_close = NAN
        self._atr = 0.0

    def update(self, high: float, low: float, close: float) -> float:
        prev = self._prev_close
        self._prev_close = close
        tr = high - low
        gap = abs(prev - high)
        if gap > tr:
            tr = gap
        gap = abs(prev - low)
        if gap > tr:
            tr = gap
        if prev != prev:
            tr = NAN
        n = self.timeperiod
        if self._count > n:
            value = (self._atr * (n - 1) + tr) / n if n > 1 else tr  # n = 1: the true range
            self._atr = value
            return value
        return self._warm(high, low, close, tr)

    def _warm(self, high: float, low: float, close: float, tr: float) -> float:
        count = self._count
        if count == 0:
            if high != high or low != low or close != close:
                self._prev_close = NAN
                return NAN
            self._count = 1
            return NAN
        self._count = count + 1
        n = self.timeperiod
        self._atr += tr
        if count < n:
            return NAN
        self._atr /= n
        return self._atr


class STDDEV(_RollingMoments):
    """Streaming rolling standard deviation: ``update(close) -> float``."""

    __slots__ = ("nbdev",)

    def __init__(self, timeperiod: int = 5, nbdev: float = 1.0) -> None:
        super().__init__(timeperiod)
        self.nbdev = check_real("nbdev", nbdev)

    def update(self, value: float) -> float:
        if not self._push(value):
            return NAN
        m2 = self._m2
        return math.sqrt(m2 / self.timeperiod) * self.nbdev if m2 > 0.0 else m2 * 0.0
