"""Volume indicators: OBV, VWAP, volume ratio (vectorized and streaming).

OBV equals TA-Lib's ``OBV`` (bit for bit: both are the same sequential sum).
VWAP and the volume ratio have no TA-Lib function; their definitions are in
the docstrings. Leading bars with a NaN in any input are skipped.
"""

from __future__ import annotations

import numpy as np

from quantdesk.errors import DataError
from quantdesk.indicators._core import (
    NAN,
    ArrayLike,
    FloatArray,
    as_float_array,
    as_float_arrays,
    check_period,
    chunk_ranges,
    first_valid,
    nan_array,
    window_sum,
)
from quantdesk.indicators._stream import StreamingIndicator

__all__ = ["OBV", "VWAP", "VolumeRatio", "obv", "volume_ratio", "vwap"]


# --------------------------------------------------------------------------- vectorized


def obv(close: ArrayLike, volume: ArrayLike) -> FloatArray:
    """On-Balance Volume (TA-Lib ``OBV``); lookback 0.

    Starts at the first bar's volume; then adds the volume on an up close,
    subtracts it on a down close, and keeps it on an unchanged close.
    """
    c, v = as_float_arrays(close=close, volume=volume)
    out = np.empty(len(c))
    start = first_valid(c, v)
    out[:start] = np.nan
    cs, vs = c[start:], v[start:]
    if len(cs) == 0:
        return out
    now, before = cs[1:], cs[:-1]
    steps = out[start:]
    steps[0] = vs[0]
    # +volume on an up close, -volume on a down close, 0 otherwise (a NaN
    # close compares false both ways: unchanged, as in TA-Lib)
    up = np.greater(now, before)
    down = np.less(now, before)
    direction = np.subtract(up.view(np.int8), down.view(np.int8), out=up.view(np.int8))
    np.multiply(direction, vs[1:], out=steps[1:])
    np.cumsum(steps, out=steps)
    if steps[-1] != steps[-1]:
        # A NaN volume: TA-Lib adds it only on a changed close.
        steps[0] = vs[0]
        steps[1:] = np.where(now > before, vs[1:], np.where(now < before, -vs[1:], 0.0))
        np.cumsum(steps, out=steps)
    return out


def vwap(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    reset: ArrayLike | None = None,
) -> FloatArray:
    """Volume-weighted average price, cumulative from the session start; lookback 0.

    ``typical = (high + low + close) / 3`` and, over the bars of the current
    session up to and including bar ``t``::

        VWAP[t] = sum(typical * volume) / sum(volume)      (NaN while sum(volume) == 0)

    ``reset`` (optional, booleans, same length): True on a bar that opens a new
    session, so the sums restart on it (e.g. the first bar of each trading
    day). Without it the whole series is one session.
    """
    h, lo, c, v = as_float_arrays(high=high, low=low, close=close, volume=volume)
    size = len(c)
    out = nan_array(size)
    start = first_valid(h, lo, c, v)
    if start >= size:
        return out
    priced = (h[start:] + lo[start:] + c[start:]) / 3.0
    priced *= v[start:]
    vol = v[start:]
    starts = [0]
    if reset is not None:
        flags = np.asarray(reset, dtype=bool)
        if flags.shape != (size,):
            raise DataError(f"reset must have one flag per bar ({size}), got shape {flags.shape}")
        starts += [int(i) for i in np.flatnonzero(flags[start:]) if i > 0]
    cum_pv, cum_v = _segmented_cumsum(priced, vol, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(cum_pv, cum_v, out=out[start:])
    out[start:][cum_v == 0.0] = np.nan
    return out


def _segmented_cumsum(
    a: FloatArray, b: FloatArray, starts: list[int]
) -> tuple[FloatArray, FloatArray]:
    """Cumulative sums of ``a`` and ``b`` restarting at each index in ``starts``.

    Sequential sums (``np.cumsum`` per session), so they are bit-identical to
    the streaming running sums. Many sessions are laid out as the rows of a
    zero-padded matrix and summed along the rows in one call.
    """
    n = len(a)
    edges = np.array([*starts, n])
    lengths = np.diff(edges)
    rows, width = len(lengths), int(lengths.max())
    if rows <= 8 or rows * width > 4 * n:
        out_a, out_b = np.empty(n), np.empty(n)
        for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            np.cumsum(a[lo:hi], out=out_a[lo:hi])
            np.cumsum(b[lo:hi], out=out_b[lo:hi])
        return out_a, out_b
    # Position of each value in the row-major (rows, width) grid.
    flat = np.arange(n) + np.repeat(np.arange(rows) * width - edges[:-1], lengths)
    result = []
    for values in (a, b):
        grid = np.zeros(rows * width)
        grid[flat] = values
        summed = np.cumsum(grid.reshape(rows, width), axis=1)
        result.append(summed.ravel()[flat])
    return result[0], result[1]


def volume_ratio(volume: ArrayLike, timeperiod: int = 5) -> FloatArray:
    """Volume ratio: each bar's volume over the mean volume of the previous bars.

    ``volume[t] / (sum(volume[t - timeperiod : t]) / timeperiod)`` — the mean
    excludes bar ``t`` itself; NaN when that mean is 0. Lookback
    ``timeperiod``. (On daily bars this is "volume vs the last n days'
    average"; the intraday 量比 that pro-rates by minutes is not this.)
    """
    v = as_float_array(volume, "volume")
    n = check_period("timeperiod", timeperiod, 1)
    out = nan_array(len(v))
    start = first_valid(v)
    vs = v[start:]
    if len(vs) <= n:
        return out
    dst = out[start + n :]
    for lo, hi in chunk_ranges(len(vs) - n):
        mean = window_sum(vs[lo : hi + n - 1], n)
        mean /= n
        part = dst[lo:hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(vs[lo + n : hi + n], mean, out=part)
        part[mean == 0.0] = np.nan
    return out


# --------------------------------------------------------------------------- streaming


class OBV(StreamingIndicator):
    """Streaming OBV: ``update(close, volume) -> float``, equal to :func:`obv`."""

    __slots__ = ("_obv", "_prev", "_started")

    def __init__(self) -> None:
        self.lookback = 0
        self._started = False
        self._prev = NAN
        self._obv = NAN

    def update(self, close: float, volume: float) -> float:
        if self._started:
            prev = self._prev
            if close > prev:
                self._obv += volume
            elif close < prev:
                self._obv -= volume
        elif close != close or volume != volume:
            return NAN
        else:
            self._started = True
            self._obv = volume
        self._prev = close
        return self._obv


class VWAP(StreamingIndicator):
    """Streaming VWAP: ``update(high, low, close, volume, reset=False) -> float``.

    ``reset=True`` opens a new session on this bar; equal to :func:`vwap`.
    """

    __slots__ = ("_started", "_sum_pv", "_sum_v")

    def __init__(self) -> None:
        self.lookback = 0
        self._started = False
        self._sum_pv = 0.0
        self._sum_v = 0.0

    def update(
        self, high: float, low: float, close: float, volume: float, reset: bool = False
    ) -> float:
        if reset or not self._started:
            if not self._started:
                if high != high or low != low or close != close or volume != volume:
                    return NAN
                self._started = True
            self._sum_pv = 0.0
            self._sum_v = 0.0
        sum_pv = self._sum_pv + (high + low + close) / 3.0 * volume
        sum_v = self._sum_v + volume
        self._sum_pv = sum_pv
        self._sum_v = sum_v
        return sum_pv / sum_v if sum_v != 0.0 else NAN


class VolumeRatio(StreamingIndicator):
    """Streaming volume ratio: ``update(volume) -> float``, equal to :func:`volume_ratio`."""

    __slots__ = ("_count", "_pos", "_ring", "_total", "timeperiod")

    def __init__(self, timeperiod: int = 5) -> None:
        n = check_period("timeperiod", timeperiod, 1)
        self.timeperiod = n
        self.lookback = n
        self._ring = [0.0] * n
        self._pos = 0
        self._count = 0
        self._total = 0.0

    def update(self, volume: float) -> float:
        n = self.timeperiod
        count = self._count
        if count >= n:
            mean = self._total / n
            ratio = volume / mean if mean != 0.0 else NAN
        else:
            if count == 0 and volume != volume:
                return NAN
            ratio = NAN
            self._count = count + 1
        ring = self._ring
        pos = self._pos
        total = self._total + volume - ring[pos]
        ring[pos] = volume
        pos += 1
        if pos == n:
            pos = 0
            total = sum(ring)  # exact recompute once per period: no drift
        elif total != total:
            total = sum(ring)  # heal once a NaN has left the window
        self._pos = pos
        self._total = total
        return ratio
