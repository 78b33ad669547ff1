"""What the trading side knows of the market now: last prices, previous closes, books.

One :class:`MarketView` serves live trading (a price at a time, per symbol)
and the backtester (a whole cross-section per step, as NumPy arrays): the
same object, so the paper broker and the risk engine read prices the same way
in both. Per symbol it keeps the last price, the trading day of that price
and the previous day's close, from which the day's price limits come
(:meth:`band`). It never sees the future: a previous close is the last price
of an earlier day, known when it is read.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from quantdesk.domain.messages import BookSnapshot
from quantdesk.trading.brokers.base import Quote
from quantdesk.trading.market import MarketRules, PriceBand

__all__ = ["MarketView"]

_MISSING = object()

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class MarketView:
    """Last price, its day and the previous close per symbol (arrays indexed by symbol)."""

    def __init__(self, rules: MarketRules, symbols: list[str] | tuple[str, ...] = ()) -> None:
        self.rules = rules
        self.symbols: list[str] = []
        self.index: dict[str, int] = {}
        n = max(16, len(symbols))
        self.last: F64 = np.full(n, np.nan)
        self.prev_close: F64 = np.full(n, np.nan)
        self.day: I64 = np.full(n, -1, dtype=np.int64)
        self.time: I64 = np.zeros(n, dtype=np.int64)
        self.books: dict[str, BookSnapshot] = {}
        self._bands: dict[tuple[str, int, float], PriceBand | None] = {}
        self._tick2 = 2 * float(rules.tick)
        #: the trading day of every symbol's price when they are all of one day (set by a
        #: whole cross-section, cleared by any other update); None: not known to be one
        self._same_day: int | None = None
        for s in symbols:
            self.add(s)

    def add(self, symbol: str) -> int:
        """The index of ``symbol``, added if new."""
        i = self.index.get(symbol)
        if i is not None:
            return i
        i = len(self.symbols)
        if i >= len(self.last):
            grow = len(self.last)
            self.last = np.r_[self.last, np.full(grow, np.nan)]
            self.prev_close = np.r_[self.prev_close, np.full(grow, np.nan)]
            self.day = np.r_[self.day, np.full(grow, -1, dtype=np.int64)]
            self.time = np.r_[self.time, np.zeros(grow, dtype=np.int64)]
        self.symbols.append(symbol)
        self.index[symbol] = i
        self._same_day = None
        return i

    # -- updates ----------------------------------------------------------------

    def on_price(self, symbol: str, t_ms: int, price: float, day: int | None = None) -> None:
        """A trade, bar close or mid price of ``symbol`` at ``t_ms``."""
        i = self.add(symbol)
        d = self.rules.day_of(t_ms) if day is None else day
        old = int(self.day[i])
        if d > old >= 0:
            self.prev_close[i] = self.last[i]
        if d >= old:
            self.day[i] = d
            self.last[i] = price
            self.time[i] = t_ms
            self._same_day = None

    def on_book(self, snapshot: BookSnapshot) -> None:
        self.books[snapshot.symbol] = snapshot
        if snapshot.bids and snapshot.asks:
            mid = (snapshot.bids[0][0] + snapshot.asks[0][0]) / 2
            self.on_price(snapshot.symbol, snapshot.ts, mid)

    def on_cross_section(
        self, idx: npt.NDArray[np.intp] | slice, t_ms: int, day: int, close: F64
    ) -> None:
        """Closes of the symbols at positions ``idx`` (one step of a backtest; a slice when
        every symbol has a bar, which spares the gathers)."""
        n = len(self.symbols)
        whole = isinstance(idx, slice) and idx.stop == n and not idx.start and idx.step is None
        same = self._same_day
        if whole and same is not None:
            # every symbol's price is of day ``same`` (the previous step was a whole
            # cross-section too): all of them roll over to a new day, or none
            if 0 <= same < day:
                self.prev_close[:n] = self.last[:n]
        else:
            old = self.day[idx]
            if len(old) == 0:
                return
            roll = ((old >= 0) & (old < day)).nonzero()[0]
            if len(roll):
                ri = roll + (idx.start or 0) if isinstance(idx, slice) else idx[roll]
                self.prev_close[ri] = self.last[ri]
        self.day[idx] = day
        self.last[idx] = close
        self.time[idx] = t_ms
        self._same_day = day if whole else None

    def seed_close(self, symbol: str, close: float, day: int) -> None:
        """Seed the close of trading day ``day`` (e.g. from stored bars at start)."""
        i = self.add(symbol)
        if self.day[i] < day:
            self.last[i] = close
            self.day[i] = day
            self._same_day = None

    # -- reads ------------------------------------------------------------------

    def known(self, symbol: str) -> bool:
        i = self.index.get(symbol)
        if i is None:
            return False
        v = self.last.item(i)
        return v == v

    def last_price(self, symbol: str) -> float | None:
        i = self.index.get(symbol)
        if i is None:
            return None
        v = self.last.item(i)
        return None if v != v else float(v)

    def prices(self) -> dict[str, float]:
        """Every known last price, by symbol."""
        out = {}
        for s, i in self.index.items():
            v = float(self.last[i])
            if v == v:
                out[s] = v
        return out

    def prev_close_for(self, symbol: str, day: int) -> float | None:
        """The close of the trading day before ``day`` (None if unknown)."""
        i = self.index.get(symbol)
        if i is None:
            return None
        d = self.day.item(i)
        if d < 0:
            return None
        if day > d:
            v = self.last.item(i)
        elif day == d:
            v = self.prev_close.item(i)
        else:
            return None
        return None if v != v else float(v)

    def band(self, symbol: str, day: int) -> PriceBand | None:
        """The day's price limits of ``symbol`` (None: no limits or previous close unknown)."""
        pc = self.prev_close_for(symbol, day)
        if pc is None:
            return None
        key = (symbol, day, pc)
        band = self._bands.get(key, _MISSING)
        if band is _MISSING:
            if len(self._bands) > 50_000:
                self._bands.clear()
            band = self._bands[key] = self.rules.price_band(symbol, Decimal(repr(pc)))
        return band  # type: ignore[return-value]

    def band_for_bar(self, symbol: str, day: int, low: float, high: float) -> PriceBand | None:
        """:meth:`band`, or None when the limits cannot matter to a fill in a bar that
        traded between ``low`` and ``high``: every price such a fill can take (the bar's
        open, high or low on the tick, or a limit price between them) lies inside the
        limits by more than two ticks, so neither the sealed-board checks nor the clamp
        to the limits can change it. Spares the exact (Decimal) limits of nearly every
        backtest fill; the fills are the same."""
        pc = self.prev_close_for(symbol, day)
        if pc is None:
            return None
        pct = self.rules.limit_pct(symbol)
        if pct is None:
            return None
        p = float(pct)
        margin = self._tick2 + pc * 1e-9  # rounding to the tick, and float error
        if pc * (1 - p) + margin < low and high < pc * (1 + p) - margin:
            return None
        return self.band(symbol, day)

    def quote(self, symbol: str) -> Quote | None:
        i = self.index.get(symbol)
        if i is None or np.isnan(self.last[i]):
            return None
        book = self.books.get(symbol)
        bid = book.bids[0][0] if book and book.bids else None
        ask = book.asks[0][0] if book and book.asks else None
        return Quote(symbol, int(self.time[i]), float(self.last[i]), bid, ask)
