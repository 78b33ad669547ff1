"""Technical indicators on closed bars, as a stream operator.

For every (symbol, interval) the operator keeps one O(1) streaming instance
of each indicator (:mod:`quantdesk.indicators`) and turns each *final* bar
into factor values named as below (``interval`` set on each):

==================  ===================================================
factor names        indicator (parameters)
==================  ===================================================
``sma_20``          SMA(close, 20)
``ema_20``          EMA(close, 20)
``wma_20``          WMA(close, 20)
``rsi_14``          RSI(close, 14)
``macd``,           MACD(close, 12, 26, 9): line, signal, histogram
``macd_signal``,
``macd_hist``
``bb_upper``,       Bollinger Bands(close, 20, 2, 2)
``bb_middle``,
``bb_lower``
``stddev_20``       STDDEV(close, 20)
``atr_14``          ATR(high, low, close, 14)
``willr_14``        Williams %R(high, low, close, 14)
``kdj_k``,          KDJ(high, low, close, 9, 3, 3)
``kdj_d``, ``kdj_j``
``obv``             OBV(close, volume)
``vwap``            VWAP of typical price, reset at each trading day (1d bars: never)
``volume_ratio_5``  volume / mean volume of the 5 bars before
==================  ===================================================

Values that are NaN (warm-up) are not emitted. A bar re-emitted because a
late trade updated it does not update the indicators again: indicators run
once per bar, in bar order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quantdesk.calendars import DAY_MS
from quantdesk.domain import Bar, FactorValue, is_intraday
from quantdesk.indicators import (
    ATR,
    BBANDS,
    EMA,
    KDJ,
    MACD,
    OBV,
    RSI,
    SMA,
    STDDEV,
    VWAP,
    WILLR,
    WMA,
    VolumeRatio,
)

_CLOSE_ONE = {
    "sma_20": lambda: SMA(20),
    "ema_20": lambda: EMA(20),
    "wma_20": lambda: WMA(20),
    "rsi_14": lambda: RSI(14),
    "stddev_20": lambda: STDDEV(20, 1.0),
}


@dataclass(slots=True)
class _Bundle:
    last_time: int = -(2**62)
    last_day: int = -1
    one: dict[str, Any] = field(default_factory=lambda: {k: f() for k, f in _CLOSE_ONE.items()})
    macd: MACD = field(default_factory=lambda: MACD(12, 26, 9))
    bbands: BBANDS = field(default_factory=lambda: BBANDS(20, 2.0, 2.0))
    atr: ATR = field(default_factory=lambda: ATR(14))
    willr: WILLR = field(default_factory=lambda: WILLR(14))
    kdj: KDJ = field(default_factory=lambda: KDJ(9, 3, 3))
    obv: OBV = field(default_factory=OBV)
    vwap: VWAP = field(default_factory=VWAP)
    vratio: VolumeRatio = field(default_factory=lambda: VolumeRatio(5))

    def parts(self) -> dict[str, Any]:
        return {
            **self.one,
            "macd": self.macd,
            "bbands": self.bbands,
            "atr": self.atr,
            "willr": self.willr,
            "kdj": self.kdj,
            "obv": self.obv,
            "vwap": self.vwap,
            "vratio": self.vratio,
        }


class BarIndicators:
    """Final bars in, indicator factor values out."""

    def __init__(self, day_of: Callable[[int], int] | None = None) -> None:
        #: Trading day of a bar time, for VWAP resets (default: the UTC day).
        self.day_of: Callable[[int], int] = day_of or (lambda t: t // DAY_MS)
        self._bundles: dict[tuple[str, str], _Bundle] = {}

    def has_state(self, symbol: str, interval: str) -> bool:
        """Whether the (symbol, interval) series has seen a bar (live, restored or warmed)."""
        return (symbol, interval) in self._bundles

    def on_bar(self, bar: Bar) -> list[FactorValue]:
        if not bar.final:
            return []
        key = (bar.symbol, bar.interval)
        b = self._bundles.get(key)
        if b is None:
            b = self._bundles[key] = _Bundle()
        if bar.time <= b.last_time:
            return []  # a late update of a bar the indicators already saw
        b.last_time = bar.time
        c, h, lo, v = bar.close, bar.high, bar.low, bar.volume
        values: dict[str, float] = {name: ind.update(c) for name, ind in b.one.items()}
        values["macd"], values["macd_signal"], values["macd_hist"] = b.macd.update(c)
        values["bb_upper"], values["bb_middle"], values["bb_lower"] = b.bbands.update(c)
        values["atr_14"] = b.atr.update(h, lo, c)
        values["willr_14"] = b.willr.update(h, lo, c)
        values["kdj_k"], values["kdj_d"], values["kdj_j"] = b.kdj.update(h, lo, c)
        values["obv"] = b.obv.update(c, v)
        day = self.day_of(bar.time)
        reset = is_intraday(bar.interval) and day != b.last_day
        b.last_day = day
        values["vwap"] = b.vwap.update(h, lo, c, v, reset)
        values["volume_ratio_5"] = b.vratio.update(v)
        return [
            FactorValue(bar.symbol, bar.time, name, value, bar.interval)
            for name, value in values.items()
            if not math.isnan(value)
        ]

    def snapshot(self, symbols: set[str] | None = None) -> list[dict[str, Any]]:
        """State of the symbols' indicators (JSON-ready)."""
        return [
            {
                "symbol": s,
                "interval": i,
                "last_time": b.last_time,
                "last_day": b.last_day,
                "parts": {name: ind.state() for name, ind in b.parts().items()},
            }
            for (s, i), b in self._bundles.items()
            if symbols is None or s in symbols
        ]

    def restore(self, snapshot: list[dict[str, Any]]) -> None:
        for item in snapshot:
            b = _Bundle(last_time=int(item["last_time"]), last_day=int(item["last_day"]))
            for name, ind in b.parts().items():
                ind.restore(item["parts"][name])
            self._bundles[(item["symbol"], item["interval"])] = b
