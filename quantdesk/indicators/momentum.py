"""Momentum indicators: RSI, MACD, KDJ, Williams %R (vectorized and streaming).

RSI, MACD and WILLR equal TA-Lib's functions of the same name within 1e-9
relative, with the same lookback; KDJ (no TA-Lib equivalent) is defined in
:func:`kdj`. Leading NaNs are skipped (the computation starts on the first
bar where every input is a number). Later NaNs: RSI, MACD and KDJ are
recursions and stay NaN from there; WILLR is NaN while the NaN is in its
window.
"""

from __future__ import annotations

import math

import numpy as np

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
    chunk_ranges,
    first_valid,
    linear_scan,
    nan_array,
    seq_sum,
    window_max,
    window_min,
)
from quantdesk.indicators._stream import StreamingIndicator
from quantdesk.indicators.overlap import ema_into, ema_k

__all__ = ["KDJ", "MACD", "RSI", "WILLR", "kdj", "macd", "rsi", "willr"]


# --------------------------------------------------------------------------- vectorized


def rsi(close: ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Relative Strength Index (TA-Lib ``RSI``); lookback ``timeperiod``.

    Wilder's smoothing, as TA-Lib with its default unstable period of 0: the
    first averages of gains and losses are plain means over the first
    ``timeperiod`` changes, then ``avg = (avg * (n - 1) + change) / n``.
    ``RSI = 100 * gain / (gain + loss)``, and 0 when both averages are 0.
    """
    x = as_float_array(close, "close")
    n = check_period("timeperiod", timeperiod, 2)
    size = len(x)
    start = first_valid(x)
    xs = x[start:]
    m = len(xs)
    if m <= n:
        return nan_array(size)
    first = np.diff(xs[: n + 1])
    gain = seq_sum(np.maximum(first, 0.0)) / n  # a NaN change is a gain (NaN), as in TA-Lib
    loss = seq_sum(np.fmax(-first, 0.0)) / n  # ... and no loss
    out = np.empty(size)
    out[: start + n] = np.nan
    out[start + n] = _rsi_value(gain, loss)
    if m == n + 1:
        return out
    # RSI = 100 * avg_gain / avg_total, avg_total the Wilder average of
    # |change| (= avg_gain + avg_loss); both scanned span by span from
    # cache-sized scratch arrays.
    a, scale = (n - 1) / n, 1.0 / n
    dst = out[start + n + 1 :]
    now, before = xs[n + 1 :], xs[n:-1]
    span = min(len(dst), SPAN)
    gains, avg_total = np.empty(span), np.empty(span)
    total = gain + loss
    gain *= 100.0
    for lo, hi in chunk_ranges(len(dst), SPAN):
        part, g, avg = dst[lo:hi], gains[: hi - lo], avg_total[: hi - lo]
        # |change| goes into the output (then its scan into avg), the gains
        # into g (then their scan into the output); a chunk at a time, with
        # the row ends of both scans while the chunk is in cache.
        totals = BlockedScan(hi - lo, a, total, scale)
        gains_scan = BlockedScan(hi - lo, a, gain, 100.0 * scale)
        for c0, c1 in chunk_ranges(hi - lo):
            change = np.subtract(now[lo + c0 : lo + c1], before[lo + c0 : lo + c1], out=part[c0:c1])
            np.maximum(change, 0.0, out=g[c0:c1])
            np.abs(change, out=change)
            totals.row_ends(c0, change)
            gains_scan.row_ends(c0, g[c0:c1])
        if not (totals.finish(part, avg) and gains_scan.finish(g, part)):
            # a NaN/inf close: the general path, NaN from there on
            _rsi_general(now[lo:], before[lo:], a, scale, gain, total, dst[lo:])
            break
        gain, total = float(part[-1]), float(avg[-1])
        if not float(avg.min()) > 0.0:
            # avg_total == 0 only where every average is 0: 0 / tiny = 0 (TA-Lib's)
            np.maximum(avg, _TINY, out=avg)
        part /= avg
    return out


def _rsi_general(
    now: FloatArray,
    before: FloatArray,
    a: float,
    scale: float,
    gain: float,
    total: float,
    out: FloatArray,
) -> None:
    """:func:`rsi` from a given state, for series holding a NaN/inf."""
    change = now - before
    totals = np.abs(change)
    np.maximum(change, 0.0, out=change)  # a NaN change stays NaN
    linear_scan(change, a, gain, out, scale=100.0 * scale, overwrite=True)
    linear_scan(totals, a, total, totals, scale=scale)
    np.maximum(totals, _TINY, out=totals)
    out /= totals


_TINY = 5e-324  # the smallest positive float64


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


def macd(
    close: ArrayLike, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD (TA-Lib ``MACD``) -> ``(macd, macdsignal, macdhist)``.

    ``macd = EMA(fast) - EMA(slow)``, ``macdsignal = EMA(macd, signal)``,
    ``macdhist = macd - macdsignal``. As in TA-Lib the fast EMA starts with the
    slow one (seeded with the SMA of the ``fastperiod`` closes ending there),
    so every output has lookback ``slowperiod + signalperiod - 2``; if
    ``slowperiod < fastperiod`` the two are swapped, as TA-Lib does.
    """
    x = as_float_array(close, "close")
    fast = check_period("fastperiod", fastperiod, 2)
    slow = check_period("slowperiod", slowperiod, 2)
    signal = check_period("signalperiod", signalperiod, 1)
    if slow < fast:
        fast, slow = slow, fast
    size = len(x)
    start = first_valid(x)
    xs = x[start:]
    lookback = slow + signal - 2
    if len(xs) <= lookback:
        return nan_array(size), nan_array(size), nan_array(size)
    out_macd, out_signal, out_hist = np.empty(size), np.empty(size), np.empty(size)
    # The MACD line from index slow - 1 on (both EMAs exist there), written
    # into out_macd; the part before the lookback is blanked at the end.
    line = out_macd[start + slow - 1 :]
    slow_ema = seq_sum(xs[:slow]) / slow
    fast_ema = seq_sum(xs[slow - fast : slow]) / fast
    line[0] = fast_ema - slow_ema
    k_slow, k_fast = ema_k(slow), ema_k(fast)
    rest = xs[slow:]
    from quantdesk.indicators import _jit

    if _jit.macd_line is not None and math.isfinite(fast_ema) and math.isfinite(slow_ema):
        _jit.macd_line(np.ascontiguousarray(rest), k_fast, k_slow, fast_ema, slow_ema, line[1:])
    else:
        fast_part = out_signal[start + slow :]  # scratch until the signal line goes there
        linear_scan(rest, 1.0 - k_fast, fast_ema, fast_part, scale=k_fast)
        linear_scan(rest, 1.0 - k_slow, slow_ema, line[1:], scale=k_slow)
        np.subtract(fast_part, line[1:], out=line[1:])
    out_signal[: start + slow - 1] = np.nan
    ema_into(line, signal, ema_k(signal), out_signal[start + slow - 1 :])
    np.subtract(
        out_macd[start + lookback :],
        out_signal[start + lookback :],
        out=out_hist[start + lookback :],
    )
    out_macd[: start + lookback] = np.nan
    out_hist[: start + lookback] = np.nan
    return out_macd, out_signal, out_hist


def willr(high: ArrayLike, low: ArrayLike, close: ArrayLike, timeperiod: int = 14) -> FloatArray:
    """Williams' %R (TA-Lib ``WILLR``); lookback ``timeperiod - 1``.

    ``-100 * (highest high - close) / (highest high - lowest low)`` over the
    last ``timeperiod`` bars (close included), and 0 when that range is flat:
    as TA-Lib 0.6, ``|range| <= 1e-14 * (|highest| + |lowest|)`` (a rounding
    residue of equal prices counts as flat).
    """
    h, lo_, c = as_float_arrays(high=high, low=low, close=close)
    n = check_period("timeperiod", timeperiod, 2)
    size = len(c)
    start = first_valid(h, lo_, c)
    hs, ls, cs = h[start:], lo_[start:], c[start:]
    if len(cs) < n:
        return nan_array(size)
    out = np.empty(size)
    out[: start + n - 1] = np.nan
    dst = out[start + n - 1 :]
    for lo, hi in chunk_ranges(len(cs) - n + 1):
        highest = window_max(hs[lo : hi + n - 1], n)
        lowest = window_min(ls[lo : hi + n - 1], n)
        diff = np.subtract(highest, lowest)
        # Any flat window? |highest|, |lowest| <= top, so none if the
        # narrowest range exceeds 2 * top * _FLAT (the usual case: no pass).
        top = max(float(highest.max()), -float(lowest.min()))
        flat = None
        if not float(diff.min()) > 2.0 * _FLAT * top:
            flat = np.abs(diff) <= _FLAT * (np.abs(highest) + np.abs(lowest))
        diff /= -100.0
        highest -= cs[lo + n - 1 : hi + n - 1]
        part = dst[lo:hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(highest, diff, out=part)
        if flat is not None:
            part[flat] = 0.0
    return out


_FLAT = 1e-14  # TA-Lib's relative dead zone for a zero range (TA_IS_ZERO_SCALED)


def kdj(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    fastk_period: int = 9,
    slowk_period: int = 3,
    slowd_period: int = 3,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """KDJ, the stochastic oscillator as charted in Chinese markets -> ``(k, d, j)``.

    With ``n = fastk_period``, ``m1 = slowk_period``, ``m2 = slowd_period``::

        RSV[t] = 100 * (close[t] - LLV(low, n)) / (HHV(high, n) - LLV(low, n))
                 (50 when the n-bar range is 0)
        K[t]   = ((m1 - 1) * K[t-1] + RSV[t]) / m1      K before the first RSV = 50
        D[t]   = ((m2 - 1) * D[t-1] + K[t]) / m2        D before the first K   = 50
        J[t]   = 3 * K[t] - 2 * D[t]

    HHV/LLV cover the last ``n`` bars, the current one included. The defaults
    (9, 3, 3) give the usual 1/3 smoothing. Lookback ``fastk_period - 1``.
    """
    h, lo_, c = as_float_arrays(high=high, low=low, close=close)
    n = check_period("fastk_period", fastk_period, 1)
    m1 = check_period("slowk_period", slowk_period, 1)
    m2 = check_period("slowd_period", slowd_period, 1)
    size = len(c)
    start = first_valid(h, lo_, c)
    hs, ls, cs = h[start:], lo_[start:], c[start:]
    if len(cs) < n:
        return nan_array(size), nan_array(size), nan_array(size)
    k_out, d_out, j_out = np.empty(size), np.empty(size), np.empty(size)
    off = start + n - 1
    for out in (k_out, d_out, j_out):
        out[:off] = np.nan
    rsv = j_out[off:]  # scratch until J goes there
    for lo, hi in chunk_ranges(len(rsv)):
        lowest = window_min(ls[lo : hi + n - 1], n)
        span = window_max(hs[lo : hi + n - 1], n) - lowest
        part = rsv[lo:hi]
        np.subtract(cs[lo + n - 1 : hi + n - 1], lowest, out=part)
        with np.errstate(divide="ignore", invalid="ignore"):
            part /= span
        part *= 100.0
        part[span == 0.0] = 50.0
    k = linear_scan(rsv, (m1 - 1) / m1, 50.0, k_out[off:], scale=1.0 / m1, overwrite=True)
    d = linear_scan(k, (m2 - 1) / m2, 50.0, d_out[off:], scale=1.0 / m2)
    j = j_out[off:]
    scratch = np.empty(min(len(j), CHUNK))
    for lo, hi in chunk_ranges(len(j)):
        np.multiply(k[lo:hi], 3.0, out=j[lo:hi])
        j[lo:hi] -= np.multiply(d[lo:hi], 2.0, out=scratch[: hi - lo])
    return k_out, d_out, j_out


# --------------------------------------------------------------------------- streaming


class RSI(StreamingIndicator):
    """Streaming RSI: ``update(close) -> float``, equal to :func:`rsi`."""

    __slots__ = ("_count", "_gain", "_loss", "_prev", "timeperiod")

    def __init__(self, timeperiod: int = 14) -> None:
        n = check_period("timeperiod", timeperiod, 2)
        self.timeperiod = n
        self.lookback = n
        self._count = 0
        self._prev = 0.0
        self._gain = 0.0
        self._loss = 0.0

    def update(self, value: float) -> float:
        change = value - self._prev
        self._prev = value
        n = self.timeperiod
        if self._count > n:
            if change < 0.0:
                gain = self._gain * (n - 1) / n
                loss = (self._loss * (n - 1) - change) / n
            else:
                gain = (self._gain * (n - 1) + change) / n
                loss = self._loss * (n - 1) / n
            self._gain = gain
            self._loss = loss
            total = gain + loss
            return 100.0 * (gain / total) if total != 0.0 else 0.0
        return self._warm(value, change)

    def _warm(self, value: float, change: float) -> float:
        count = self._count
        if count == 0:
            if value != value:
                return NAN
            self._count = 1
            return NAN
        self._count = count + 1
        if change < 0.0:
            self._loss -= change
        else:
            self._gain += change
        n = self.timeperiod
        if count < n:
            return NAN
        self._gain /= n
        self._loss /= n
        total = self._gain + self._loss
        return 100.0 * (self._gain / total) if total != 0.0 else 0.0


class MACD(StreamingIndicator):
    """Streaming MACD: ``update(close) -> (macd, macdsignal, macdhist)``."""

    __slots__ = (
        "_count",
        "_fast",
        "_kf",
        "_ks",
        "_ksig",
        "_seed",
        "_signal",
        "_slow",
        "fastperiod",
        "signalperiod",
        "slowperiod",
    )

    def __init__(self, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9) -> None:
        fast = check_period("fastperiod", fastperiod, 2)
        slow = check_period("slowperiod", slowperiod, 2)
        if slow < fast:
            fast, slow = slow, fast
        self.fastperiod = fast
        self.slowperiod = slow
        self.signalperiod = check_period("signalperiod", signalperiod, 1)
        self.lookback = slow + self.signalperiod - 2
        self._kf = ema_k(fast)
        self._ks = ema_k(slow)
        self._ksig = ema_k(self.signalperiod)
        self._seed = [0.0] * slow  # the first slowperiod closes (warm-up only)
        self._count = 0
        self._fast = 0.0
        self._slow = 0.0
        self._signal = 0.0

    def update(self, value: float) -> tuple[float, float, float]:
        if self._count > self.lookback:
            fast = self._fast
            fast = (value - fast) * self._kf + fast
            slow = self._slow
            slow = (value - slow) * self._ks + slow
            line = fast - slow
            signal = self._signal
            signal = (line - signal) * self._ksig + signal
            if value - value != 0.0:
                fast = slow = line = signal = NAN
            self._fast = fast
            self._slow = slow
            self._signal = signal
            return line, signal, line - signal
        return self._warm(value)

    def _warm(self, value: float) -> tuple[float, float, float]:
        count = self._count
        if count == 0 and value != value:
            return NAN, NAN, NAN
        self._count = count + 1
        slow_n = self.slowperiod
        if count < slow_n:
            self._seed[count] = value
            if count < slow_n - 1:
                return NAN, NAN, NAN
            self._slow = sum(self._seed) / slow_n
            self._fast = sum(self._seed[slow_n - self.fastperiod :]) / self.fastperiod
        else:
            self._fast = (value - self._fast) * self._kf + self._fast
            self._slow = (value - self._slow) * self._ks + self._slow
        line = self._fast - self._slow
        self._signal += line  # sum of the first signalperiod MACD values
        if count < self.lookback:
            return NAN, NAN, NAN
        self._signal /= self.signalperiod
        return line, self._signal, line - self._signal


class _HighLowWindow(StreamingIndicator):
    """Highest high and lowest low of the last ``n`` bars, O(1) amortized.

    Ring buffers plus the tracked extreme and its bar index; the ring is
    rescanned (C-speed ``max``/``min``) only when the extreme leaves the
    window. A NaN high/low makes the window NaN until it has left.
    """

    __slots__ = (
        "_count",
        "_hh",
        "_hh_at",
        "_highs",
        "_ll",
        "_ll_at",
        "_lows",
        "_nan_until",
        "_pos",
    )

    _EXPIRED = -(1 << 62)

    def __init__(self, n: int) -> None:
        self._highs = [-math.inf] * n
        self._lows = [math.inf] * n
        self._pos = 0
        self._count = 0
        self._hh = NAN
        self._ll = NAN
        self._hh_at = self._EXPIRED
        self._ll_at = self._EXPIRED
        self._nan_until = 0

    def _push(self, high: float, low: float) -> None:
        highs = self._highs
        n = len(highs)
        i = self._count
        pos = self._pos
        highs[pos] = high
        self._lows[pos] = low
        self._count = i + 1
        self._pos = pos + 1 if pos + 1 < n else 0
        if high != high or low != low:
            self._nan_until = i + n
        if i < self._nan_until:
            self._hh = self._ll = NAN
            self._hh_at = self._ll_at = self._EXPIRED
            return
        if high >= self._hh:
            self._hh = high
            self._hh_at = i
        elif self._hh_at <= i - n:
            best = max(highs)
            self._hh = best
            self._hh_at = i - (pos - highs.index(best)) % n
        if low <= self._ll:
            self._ll = low
            self._ll_at = i
        elif self._ll_at <= i - n:
            lows = self._lows
            best = min(lows)
            self._ll = best
            self._ll_at = i - (pos - lows.index(best)) % n


class WILLR(_HighLowWindow):
    """Streaming Williams' %R: ``update(high, low, close) -> float``."""

    __slots__ = ("timeperiod",)

    def __init__(self, timeperiod: int = 14) -> None:
        n = check_period("timeperiod", timeperiod, 2)
        super().__init__(n)
        self.timeperiod = n
        self.lookback = n - 1

    def update(self, high: float, low: float, close: float) -> float:
        if self._count == 0 and (high != high or low != low or close != close):
            return NAN
        self._push(high, low)
        if self._count < self.timeperiod:
            return NAN
        hh = self._hh
        ll = self._ll
        if abs(hh - ll) <= _FLAT * (abs(hh) + abs(ll)):
            return 0.0
        return (hh - close) / ((hh - ll) / -100.0)


class KDJ(_HighLowWindow):
    """Streaming KDJ: ``update(high, low, close) -> (k, d, j)``, equal to :func:`kdj`."""

    __slots__ = (
        "_a1",
        "_a2",
        "_d",
        "_k",
        "_s1",
        "_s2",
        "fastk_period",
        "slowd_period",
        "slowk_period",
    )

    def __init__(self, fastk_period: int = 9, slowk_period: int = 3, slowd_period: int = 3) -> None:
        n = check_period("fastk_period", fastk_period, 1)
        m1 = check_period("slowk_period", slowk_period, 1)
        m2 = check_period("slowd_period", slowd_period, 1)
        super().__init__(n)
        self.fastk_period, self.slowk_period, self.slowd_period = n, m1, m2
        self.lookback = n - 1
        self._a1, self._s1 = (m1 - 1) / m1, 1.0 / m1
        self._a2, self._s2 = (m2 - 1) / m2, 1.0 / m2
        self._k = 50.0
        self._d = 50.0

    def update(self, high: float, low: float, close: float) -> tuple[float, float, float]:
        if self._count == 0 and (high != high or low != low or close != close):
            return NAN, NAN, NAN
        self._push(high, low)
        if self._count < self.fastk_period:
            return NAN, NAN, NAN
        ll = self._ll
        span = self._hh - ll
        rsv = (close - ll) / span * 100.0 if span != 0.0 else 50.0
        k = self._a1 * self._k + self._s1 * rsv
        d = self._a2 * self._d + self._s2 * k
        self._k = k
        self._d = d
        return k, d, k * 3.0 - 2.0 * d
