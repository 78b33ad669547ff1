"""Signals for the ``signals`` strategy: recorded ones, or computed from bars.

:class:`SignalList` hands out signals (e.g. the stored ``signals`` table)
by time. :func:`bar_signals` computes what the live signal rules would emit
on a bar panel: the rule's factor (an indicator of :mod:`quantdesk.indicators`,
named as the stream names it, e.g. ``rsi_14``) per symbol, then the same
crossing, NaN and cooldown semantics as :class:`quantdesk.stream.signals.SignalEngine`.
Indicators are causal (a value uses its bar and earlier ones only), so
computing them over the whole panel first does not look ahead: the strategy
still only receives a signal once the bar it comes from has closed. Rules on
book factors (``obi``, ``microprice``) need ticks and are skipped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from quantdesk.domain.messages import Signal
from quantdesk.indicators import atr, ema, macd, obv, rsi, sma, stddev, willr, wma
from quantdesk.stream.signals import SignalRule
from quantdesk.trading.history import BarHistory

__all__ = ["BAR_FACTORS", "SignalList", "bar_signals"]

F64 = npt.NDArray[np.float64]
_Fn = Callable[[F64, F64, F64, F64], F64]

#: Factor name -> f(close, high, low, volume) over one symbol's bars.
BAR_FACTORS: dict[str, _Fn] = {
    "rsi_14": lambda c, h, lo, v: rsi(c, timeperiod=14),
    "sma_20": lambda c, h, lo, v: sma(c, timeperiod=20),
    "ema_20": lambda c, h, lo, v: ema(c, timeperiod=20),
    "wma_20": lambda c, h, lo, v: wma(c, timeperiod=20),
    "stddev_20": lambda c, h, lo, v: stddev(c, timeperiod=20, nbdev=1.0),
    "atr_14": lambda c, h, lo, v: atr(h, lo, c, timeperiod=14),
    "willr_14": lambda c, h, lo, v: willr(h, lo, c, timeperiod=14),
    "macd": lambda c, h, lo, v: macd(c, 12, 26, 9)[0],
    "macd_signal": lambda c, h, lo, v: macd(c, 12, 26, 9)[1],
    "macd_hist": lambda c, h, lo, v: macd(c, 12, 26, 9)[2],
    "obv": lambda c, h, lo, v: obv(c, v),
}


class SignalList:
    """Signals in time order, handed out by time range."""

    def __init__(self, signals: Iterable[Signal]) -> None:
        self._signals = sorted(signals, key=lambda s: (s.ts, s.symbol, s.rule_id))
        self._ts = [s.ts for s in self._signals]

    def __len__(self) -> int:
        return len(self._signals)

    def add(self, signal: Signal) -> None:
        """A signal that arrived live (kept in time order)."""
        if not self._signals or signal.ts >= self._ts[-1]:  # the usual case: in time order
            self._signals.append(signal)
            self._ts.append(signal.ts)
            return
        i = bisect.bisect_right(self._ts, signal.ts)
        self._signals.insert(i, signal)
        self._ts.insert(i, signal.ts)

    def drop_through(self, ts: int) -> None:
        """Forget the signals at or before ``ts`` (live trading: what the
        trader has read, so a long run keeps only the signals still to come)."""
        k = bisect.bisect_right(self._ts, ts)
        if k:
            del self._signals[:k]
            del self._ts[:k]

    def between(self, after: int, upto: int) -> list[Signal]:
        """Signals with ``after < ts <= upto``."""
        lo = bisect.bisect_right(self._ts, after)
        hi = bisect.bisect_right(self._ts, upto)
        return self._signals[lo:hi]


def bar_signals(history: BarHistory, rules: Sequence[SignalRule], interval: str) -> SignalList:
    """The signals ``rules`` give on every known bar of ``history`` (ts: the bar's time)."""
    out: list[Signal] = []
    times = history.times
    close, high = history.field("close"), history.field("high")
    low, volume = history.field("low"), history.field("volume")
    for rule in rules:
        fn = BAR_FACTORS.get(rule.factor)
        if fn is None or not rule.enabled:
            continue
        if rule.interval is not None and rule.interval != interval:
            continue
        for j, sym in enumerate(history.symbols):
            if not rule.all_symbols and rule.symbol != sym:
                continue
            ok = ~np.isnan(close[:, j])
            if ok.sum() < 2:
                continue
            rows = np.flatnonzero(ok)
            values = fn(close[rows, j], high[rows, j], low[rows, j], volume[rows, j])
            out += _crossings(rule, sym, times[rows], values, interval)
    return SignalList(out)


def _crossings(
    rule: SignalRule, symbol: str, ts: npt.NDArray[np.int64], values: F64, interval: str
) -> list[Signal]:
    finite = np.isfinite(values)
    v, t = values[finite], ts[finite]
    if len(v) < 2:
        return []
    prev, cur, tt = v[:-1], v[1:], t[1:]
    buy = np.zeros(len(cur), dtype=bool)
    sell = np.zeros(len(cur), dtype=bool)
    if rule.buy_above is not None:
        buy |= (prev <= rule.buy_above) & (cur > rule.buy_above)
    if rule.sell_below is not None:
        sell |= (prev >= rule.sell_below) & (cur < rule.sell_below)
    if rule.buy_below is not None:
        buy |= (prev >= rule.buy_below) & (cur < rule.buy_below)
    if rule.sell_above is not None:
        sell |= (prev <= rule.sell_above) & (cur > rule.sell_above)
    out = []
    next_ok = -(2**62)
    for k in np.flatnonzero(buy | sell):
        when = int(tt[k])
        if when < next_ok:
            continue
        side = "buy" if buy[k] else "sell"
        out.append(Signal(symbol, when, rule.factor, float(cur[k]), side, rule.id))
        next_ok = when + rule.cooldown_ms
    return out
