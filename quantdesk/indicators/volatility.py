"""Volatility indicators: ATR and rolling standard deviation (vectorized and streaming).

Both equal TA-Lib's ``ATR`` and ``STDDEV`` within 1e-9 relative, with the same
lookback, and skip leading NaNs as TA-Lib does. A later NaN: ATR (a
recursion) is NaN from there on; STDDEV is NaN while it is in the window.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from quantdesk.indicators._core import (
    CHUNK,
    NAN,
    SPAN,
    ArrayLike,
    BlockedScan,
    FloatArray,
    as_float_array,
    as_float_arrays,
    check_period,
    check_real,
    chunk_ranges,
    first_valid,
    linear_scan,
    nan_array,
    rolling_mean_var,
    seq_sum,
)
from quantdesk.indicators._stream import StreamingIndicator
from quantdesk.indicators.overlap import _RollingMoments

__all__ = ["ATR", "STDDEV", "atr", "stddev", "true_range"]


def true_range(
    high: FloatArray, low: FloatArray, close: FloatArray, out: FloatArray | None = None
) -> FloatArray:
    """TA-Lib's true range of bars 1..N-1 (bar 0 has no previous close)::

    max(high - low, |prev_close - high|, |prev_close - low|)

    ``out`` (length N-1) receives it if given.
    """
    m = max(len(close) - 1, 0)
    if out is None:
        out = np.empty(m)
    scratch = np.empty(min(m, CHUNK))
    flags = np.empty(min(m, CHUNK), dtype=bool)
    inverted = False
    for lo, hi in chunk_ranges(m):
        h, low_ = high[lo + 1 : hi + 1], low[lo + 1 : hi + 1]
        _fast_range(h, low_, close[lo:hi], out[lo:hi], scratch[: hi - lo])
        inverted = inverted or _inverted(h, low_, flags[: hi - lo])
    if inverted:  # bars with high < low: TA-Lib's formula itself
        bad = np.flatnonzero(high[1:] < low[1:])
        prev, h, low_ = close[bad], high[bad + 1], low[bad + 1]
        out[bad] = np.maximum(np.maximum(h - low_, np.abs(prev - h)), np.abs(prev - low_))
    return out


def _fast_range(
    high: FloatArray, low: FloatArray, prev: FloatArray, out: FloatArray, scratch: FloatArray
) -> None:
    """``max(high, prev) - min(low, prev)``: TA-Lib's true range, to the last bit,
    on every bar with ``high >= low`` (the largest of TA-Lib's three rounded
    differences is this rounded difference); NaN wherever an input is NaN."""
    np.maximum(high, prev, out=out)
    np.minimum(low, prev, out=scratch)
    out -= scratch


def _inverted(high: FloatArray, low: FloatArray, flags: npt.NDArray[np.bool_]) -> bool:
    """Whether a bar has ``high < low`` (where :func:`_fast_range` is not TA-Lib's)."""
    return bool(np.less(high, low, out=flags).any())


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Average True Range (TA-Lib ``ATR``); lookback ``timeperiod``.

    As TA-Lib: the true range starts on the second bar (bar 0 has none), the
    first ATR is the mean of the first ``timeperiod`` true ranges, then
    Wilder's smoothing ``atr = (atr * (n - 1) + tr) / n``. With
    ``timeperiod=1`` the ATR is the true range itself.
    """
    h, lo, c = as_float_arrays(high=high, low=low, close=close)
    n = check_period("timeperiod", timeperiod, 1)
    size = len(c)
    start = first_valid(h, lo, c)
    if size - start <= n:
        return nan_array(size)
    hs, ls, cs = h[start:], lo[start:], c[start:]
    out = np.empty(size)
    if n == 1:
        out[: start + 1] = np.nan
        true_range(hs, ls, cs, out=out[start + 1 :])
        return out
    value = seq_sum(true_range(hs[: n + 1], ls[: n + 1], cs[: n + 1])) / n
    out[: start + n] = np.nan
    out[start + n] = value
    rest = out[start + n + 1 :]  # bars start+n+1 ..., from the true ranges of those bars
    a, scale = (n - 1) / n, 1.0 / n
    if not _smoothed_range(hs[n + 1 :], ls[n + 1 :], cs[n:-1], a, value, scale, rest):
        true_range(hs[n:], ls[n:], cs[n:], out=rest)
        linear_scan(rest, a, value, rest, scale=scale)
    return out


def _smoothed_range(
    high: FloatArray,
    low: FloatArray,
    prev: FloatArray,
    a: float,
    y0: float,
    scale: float,
    out: FloatArray,
) -> bool:
    """Wilder's smoothing of the true ranges into ``out``, one pass over the bars.

    Span by span (:data:`SPAN` bars): the span's true ranges go into a
    scratch, a chunk at a time (with the scan's row ends, while the chunk is
    in cache), then :class:`BlockedScan` scans the span,
    carrying in the last value of the span before. False, with ``out``
    undefined, if a bar has ``high < low`` or a NaN/inf value (the caller's
    general path then redoes it).
    """
    from quantdesk.indicators import _jit

    if _jit.wilder_range is not None:
        return bool(_jit.wilder_range(high, low, prev, a, y0, scale, out))
    m = len(out)
    ranges = np.empty(min(m, SPAN))
    scratch = np.empty(min(m, CHUNK))
    flags = np.empty(min(m, CHUNK), dtype=bool)
    for base, top in chunk_ranges(m, SPAN):
        scan = BlockedScan(top - base, a, y0, scale)
        for lo, hi in chunk_ranges(top - base, CHUNK):
            part = ranges[lo:hi]
            h, low_ = high[base + lo : base + hi], low[base + lo : base + hi]
            _fast_range(h, low_, prev[base + lo : base + hi], part, scratch[: hi - lo])
            if _inverted(h, low_, flags[: hi - lo]):
                return False
            scan.row_ends(lo, part)
        if not scan.finish(ranges[: top - base], out[base:top]):
            return False
        y0 = float(out[top - 1])
    return True


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
    for lo, hi, var in rolling_mean_var(xs, n):
        part = np.sqrt(var, out=dst[lo:hi])
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
