"""``ma_cross``: a moving-average cross per symbol (the backtest benchmark's strategy).

When the fast simple moving average of closes crosses above the slow one,
buy ``equity / number of symbols`` of the symbol; when it crosses below, sell
what is sellable. Vectorised over the cross-section: one step costs a few
NumPy operations over ``slow + 1`` rows, whatever the number of symbols.
"""

from __future__ import annotations

import numpy as np

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["MovingAverageCross"]

_add_reduce = np.add.reduce
_BUY, _SELL = Side.BUY, Side.SELL


class MovingAverageCross(Strategy):
    name = "ma_cross"

    def __init__(self, fast: int = 10, slow: int = 30) -> None:
        if not 1 <= fast < slow:
            raise ConfigError(f"ma_cross: need 1 <= fast < slow (got fast={fast}, slow={slow})")
        self.fast, self.slow = fast, slow
        self.warmup = slow + 1
        self._slot: float | None = None

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        if self._slot is None:
            self._slot = ctx.portfolio.equity / max(1, len(ctx.symbols))
        w = ctx.history.window("close", self.slow + 1)
        if len(w) < self.slow + 1:
            return []
        f, s = self.fast, self.slow
        # the divisors as floats: the same quotients (an int is made a float64 anyway),
        # without NumPy converting a Python int per division
        ff, sf = float(f), float(s)
        total = _add_reduce(w, 0)  # w.sum(axis=0) (the slow + 1 rows), without its wrapper
        slow_now = (total - w[0]) / sf
        slow_prev = (total - w[-1]) / sf
        fast_sum = _add_reduce(w[-f:], 0)
        fast_now = fast_sum / ff
        fast_prev = (fast_sum - w[-1] + w[-f - 1]) / ff
        # comparisons with NaN (a symbol without enough bars) are False, without warnings
        up = (fast_prev <= slow_prev) & (fast_now > slow_now)
        down = (fast_prev >= slow_prev) & (fast_now < slow_now)
        out = []
        close = w[-1]
        syms = ctx.symbols
        portfolio = ctx.portfolio
        day = ctx.day
        for i in down.nonzero()[0].tolist():
            sym = syms[i]
            q = portfolio.sellable(sym, day)
            if q > 0:
                out.append(OrderRequest(sym, _SELL, q))
        slot, rules = self._slot, ctx.rules
        for i in up.nonzero()[0].tolist():
            sym = syms[i]
            if portfolio.quantity(sym) > 0:
                continue
            q = lots_for_value(slot, close.item(i), rules)
            if q > 0:
                out.append(OrderRequest(sym, _BUY, q))
        return out
