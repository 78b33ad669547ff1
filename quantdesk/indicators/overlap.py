"""Overlap studies: SMA, EMA, WMA, Bollinger Bands (vectorized and streaming).

Vectorized functions follow TA-Lib's names, parameters and NaN warm-up
(lookback); their values equal TA-Lib's within 1e-9 relative. Leading NaNs
are skipped: the computation starts on the first non-NaN value, as TA-Lib's
wrapper does. A NaN or infinity later in the series spoils only the windows
that contain it for SMA, WMA and BBANDS (TA-Lib's running sums stay NaN for
the rest of the series); EMA, being a recursion, is NaN from it on.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from quantdesk.errors import ConfigError
from quantdesk.indicators._core import (
    FIR_MAX_TAPS,
    NAN,
    ArrayLike,
    FloatArray,
    as_float_array,
    check_period,
    check_real,
    chunk_ranges,
    fir_into,
    first_valid,
    linear_scan,
    nan_array,
    rolling_mean_var,
    seq_sum,
    window_sum,
)
from quantdesk.indicators._stream import StreamingIndicator

__all__ = ["BBANDS", "EMA", "SMA", "WMA", "bbands", "ema", "sma", "wma"]


# --------------------------------------------------------------------------- vectorized


def sma(close: ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Simple moving average (TA-Lib ``SMA``); lookback ``timeperiod - 1``."""
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 1)
    size = len(x)
    start = first_valid(x)
    xs = x[start:]
    if len(xs) < n:
        return nan_array(size)
    out = np.empty(size)
    out[: start + n - 1] = np.nan
    dst = out[start + n - 1 :]
    if n <= FIR_MAX_TAPS:
        fir_into(xs, np.full(n, 1.0 / n), dst)
        if math.isfinite(float(np.sum(dst))):
            return out
    # Long windows, or a NaN/inf (the product spreads it over its row): by
    # doubling, where a NaN spoils only the windows that hold it.
    for lo, hi in chunk_ranges(len(xs) - n + 1):
        np.divide(window_sum(xs[lo : hi + n - 1], n), n, out=dst[lo:hi])
    return out


def ema_k(timeperiod: int) -> float:
    """TA-Lib's EMA smoothing factor ``2 / (timeperiod + 1)``."""
    return 2.0 / (timeperiod + 1)


def ema_into(xs: FloatArray, n: int, k: float, out: FloatArray) -> None:
    """EMA of a series without leading NaNs into ``out`` (same length).

    TA-Lib's seed: the SMA of the first ``n`` values, at index ``n - 1``.
    """
    out[: n - 1] = np.nan
    if len(xs) < n:
        out[:] = np.nan
        return
    seed = seq_sum(xs[:n]) / n
    out[n - 1] = seed
    linear_scan(xs[n:], 1.0 - k, seed, out[n:], scale=k)


def ema(close: ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Exponential moving average (TA-Lib ``EMA``); lookback ``timeperiod - 1``.

    ``k = 2 / (timeperiod + 1)``; seeded, as TA-Lib, with the SMA of the first
    ``timeperiod`` values; then ``ema += k * (close - ema)``.
    """
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 1)
    out = nan_array(len(x))
    start = first_valid(x)
    ema_into(x[start:], n, ema_k(n), out[start:])
    return out


def wma(close: ArrayLike, timeperiod: int = 30) -> FloatArray:
    """Weighted moving average (TA-Lib ``WMA``): weights n, n-1, ..., 1 from the
    newest value, divided by ``n * (n + 1) / 2``; lookback ``timeperiod - 1``."""
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 1)
    size = len(x)
    start = first_valid(x)
    if size - start < n:
        return nan_array(size)
    out = np.empty(size)
    out[: start + n - 1] = np.nan
    _wma_into(x[start:], n, out[start:])
    return out


def _wma_into(xs: FloatArray, n: int, out: FloatArray, check: bool = True) -> None:
    """WMA of ``xs`` into ``out[n - 1:]`` (``out[:n - 1]`` is the caller's NaN)."""
    m = len(xs)
    if m < n:
        return
    divider = n * (n + 1) / 2.0
    dst = out[n - 1 :]
    if n <= FIR_MAX_TAPS:  # every window's weighted sum by matrix products
        fir_into(xs, np.arange(1, n + 1, dtype=np.float64) / divider, dst)
    else:
        # W[t] = W[t-1] + n * x[t] - S[t-1], S = plain window sum: a prefix sum.
        total = float(np.dot(xs[:n], np.arange(1, n + 1, dtype=np.float64)))
        dst[0] = total / divider
        rest = dst[1:]
        for lo, hi in chunk_ranges(m - n):
            inc = np.multiply(xs[lo + n : hi + n], float(n), out=rest[lo:hi])
            inc -= window_sum(xs[lo : hi + n - 1], n)  # S[t-1] for t in lo+n .. hi+n-1
        linear_scan(rest, 1.0, total / divider, rest, scale=1.0 / divider)
    if check and not math.isfinite(float(np.sum(dst))):
        _wma_segments(xs, n, out)


def _wma_segments(xs: FloatArray, n: int, out: FloatArray) -> None:
    """Slow path for series holding NaN/inf: each finite run on its own."""
    out[:] = np.nan
    bad = np.flatnonzero(~np.isfinite(xs))
    edges = [-1, *bad.tolist(), len(xs)]
    for left, right in itertools.pairwise(edges):
        lo = left + 1
        if right - lo >= n:
            _wma_into(xs[lo:right], n, out[lo:right], check=False)


def bbands(
    close: ArrayLike,
    timeperiod: int = 5,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    matype: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger Bands (TA-Lib ``BBANDS``) -> ``(upper, middle, lower)``.

    ``middle`` is the SMA (``matype=0``) or EMA (``matype=1``) of ``close``;
    the bands are ``middle +/- nbdev * stddev`` with the population standard
    deviation of the last ``timeperiod`` closes (around their SMA, as TA-Lib).
    Lookback ``timeperiod - 1``. Other TA-Lib MA types are not supported.
    """
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 2)
    up = check_real("nbdevup", nbdevup)
    dn = check_real("nbdevdn", nbdevdn)
    if matype not in (0, 1):
        raise ConfigError(f"matype must be 0 (SMA) or 1 (EMA), got {matype!r}")
    size = len(x)
    start = first_valid(x)
    xs = x[start:]
    if len(xs) < n:
        return nan_array(size), nan_array(size), nan_array(size)
    upper, middle, lower = np.empty(size), np.empty(size), np.empty(size)
    off = start + n - 1
    upper[:off] = np.nan
    lower[:off] = np.nan
    if matype == 1:
        middle[:start] = np.nan
        ema_into(xs, n, ema_k(n), middle[start:])
    else:
        middle[:off] = np.nan
    means = middle[off:] if matype == 0 else None
    for lo, hi, var in rolling_mean_var(xs, n, means):
        mid = middle[off + lo : off + hi]
        std = np.sqrt(var, out=var)
        if up == dn:
            std *= up
            np.add(mid, std, out=upper[off + lo : off + hi])
            np.subtract(mid, std, out=lower[off + lo : off + hi])
        else:
            np.add(mid, std * up, out=upper[off + lo : off + hi])
            np.subtract(mid, std * dn, out=lower[off + lo : off + hi])
    return upper, middle, lower


# --------------------------------------------------------------------------- streaming


class SMA(StreamingIndicator):
    """Streaming SMA: ``update(close) -> float``, equal to :func:`sma`.

    A ring buffer and a running total; the total is recomputed exactly once
    per ``timeperiod`` updates (and whenever it turned NaN), so neither float
    drift nor a passing NaN lasts.
    """

    __slots__ = ("_count", "_pos", "_ring", "_total", "timeperiod")

    def __init__(self, timeperiod: int = 30) -> None:
        n = check_period("timeperiod", timeperiod, 1)
        self.timeperiod = n
        self.lookback = n - 1
        self._ring = [0.0] * n
        self._pos = 0
        self._count = 0
        self._total = 0.0

    def update(self, value: float) -> float:
        count = self._count
        n = self.timeperiod
        if count < n:
            if count == 0 and value != value:
                return NAN  # leading NaN: not started yet
            self._count = count = count + 1
        ring = self._ring
        pos = self._pos
        total = self._total + value - ring[pos]
        ring[pos] = value
        pos += 1
        if pos == n:
            pos = 0
            total = sum(ring)  # exact recompute once per period: no drift
        elif total != total:
            total = sum(ring)  # heal once a NaN has left the window
        self._pos = pos
        self._total = total
        if count < n:
            return NAN
        return total / n


class EMA(StreamingIndicator):
    """Streaming EMA: ``update(close) -> float``, equal to :func:`ema`."""

    __slots__ = ("_count", "_k", "_prev", "timeperiod")

    def __init__(self, timeperiod: int = 30) -> None:
        n = check_period("timeperiod", timeperiod, 1)
        self.timeperiod = n
        self.lookback = n - 1
        self._k = ema_k(n)
        self._prev = 0.0
        self._count = 0

    def update(self, value: float) -> float:
        if self._count >= self.timeperiod:
            prev = self._prev
            prev = (value - prev) * self._k + prev
            if value - value != 0.0:
                prev = NAN  # a NaN or inf input: NaN from here on, as :func:`ema`
            self._prev = prev
            return prev
        return self._warm(value)

    def _warm(self, value: float) -> float:
        if self._count == 0 and value != value:
            return NAN
        self._count += 1
        self._prev += value  # running sum of the seed window
        if self._count < self.timeperiod:
            return NAN
        self._prev /= self.timeperiod
        return self._prev


class WMA(StreamingIndicator):
    """Streaming WMA: ``update(close) -> float``, equal to :func:`wma`.

    Running plain and weighted sums (TA-Lib's update), recomputed exactly once
    per ``timeperiod`` updates. A window holding a NaN or inf gives NaN.
    """

    __slots__ = ("_bad_until", "_count", "_divider", "_pos", "_ring", "_sum", "_wsum", "timeperiod")

    def __init__(self, timeperiod: int = 30) -> None:
        n = check_period("timeperiod", timeperiod, 1)
        self.timeperiod = n
        self.lookback = n - 1
        self._divider = n * (n + 1) / 2.0
        self._ring = [0.0] * n
        self._pos = 0
        self._count = 0
        self._sum = 0.0
        self._wsum = 0.0
        self._bad_until = 0

    def update(self, value: float) -> float:
        count = self._count
        n = self.timeperiod
        if count == 0 and value != value:
            return NAN
        self._count = count + 1
        if value - value != 0.0:  # NaN or inf: every window holding it is NaN
            self._bad_until = count + n
        ring = self._ring
        pos = self._pos
        old_sum = self._sum
        self._sum = old_sum + value - ring[pos]
        self._wsum = self._wsum + n * value - old_sum
        ring[pos] = value
        pos += 1
        if pos == n:
            pos = 0
        self._pos = pos
        if count < self._bad_until:
            return NAN
        if pos == 0 or count == self._bad_until:
            self._recompute()
        if count < n - 1:
            return NAN
        return self._wsum / self._divider

    def _recompute(self) -> None:
        ring = self._ring
        pos = self._pos
        ordered = ring[pos:] + ring[:pos]  # oldest first
        self._sum = sum(ordered)
        self._wsum = sum(w * v for w, v in enumerate(ordered, 1))


class _RollingMoments(StreamingIndicator):
    """Rolling mean and variance of the last ``timeperiod`` values.

    Sliding Welford updates, reseeded by an exact two-pass pass over the ring
    once per period, when a NaN has left the window, and whenever an update
    cancels most of the variance (so a collapse to a flat window stays exact).
    """

    __slots__ = ("_count", "_m2", "_mean", "_pos", "_ring", "timeperiod")

    def __init__(self, timeperiod: int) -> None:
        n = check_period("timeperiod", timeperiod, 2)
        self.timeperiod = n
        self.lookback = n - 1
        self._ring = [0.0] * n
        self._pos = 0
        self._count = 0
        self._mean = 0.0
        self._m2 = 0.0

    def _push(self, value: float) -> bool:
        """Add ``value``; False while warming up (or before the first valid value)."""
        n = self.timeperiod
        ring = self._ring
        pos = self._pos
        if self._count < n:
            if self._count == 0 and value != value:
                return False
            ring[pos] = value
            self._count += 1
            self._pos = 0 if pos + 1 == n else pos + 1
            if self._count < n:
                return False
            self._reseed()
            return True
        old = ring[pos]
        ring[pos] = value
        pos += 1
        if pos == n:
            pos = 0
        self._pos = pos
        delta = value - old
        mean = self._mean
        new_mean = mean + delta / n
        step = delta * (value - new_mean + old - mean)
        m2 = self._m2 + step
        self._mean = new_mean
        self._m2 = m2
        if pos == 0 or not m2 >= 1e-4 * (m2 - step + abs(step)):
            self._reseed()  # periodic, NaN (comparison False) or cancellation
        return True

    def _reseed(self) -> None:
        ring = self._ring
        mean = sum(ring) / self.timeperiod
        self._mean = mean
        self._m2 = sum((v - mean) * (v - mean) for v in ring)


class BBANDS(_RollingMoments):
    """Streaming Bollinger Bands: ``update(close) -> (upper, middle, lower)``."""

    __slots__ = ("_ema", "matype", "nbdevdn", "nbdevup")

    def __init__(
        self, timeperiod: int = 5, nbdevup: float = 2.0, nbdevdn: float = 2.0, matype: int = 0
    ) -> None:
        super().__init__(timeperiod)
        self.nbdevup = check_real("nbdevup", nbdevup)
        self.nbdevdn = check_real("nbdevdn", nbdevdn)
        if matype not in (0, 1):
            raise ConfigError(f"matype must be 0 (SMA) or 1 (EMA), got {matype!r}")
        self.matype = matype
        self._ema = EMA(self.timeperiod) if matype == 1 else None

    def update(self, value: float) -> tuple[float, float, float]:
        ready = self._push(value)
        middle = self._mean if self._ema is None else self._ema.update(value)
        if not ready:
            return NAN, NAN, NAN
        std = math.sqrt(self._m2 / self.timeperiod) if self._m2 > 0.0 else self._m2 * 0.0
        return middle + std * self.nbdevup, middle, middle - std * self.nbdevdn
