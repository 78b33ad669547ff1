"""``buy_and_hold``: the benchmark. Buys every symbol once, equal weights, then holds."""

from __future__ import annotations

import math

from quantdesk.domain.trading import Side
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["BuyAndHold"]


class BuyAndHold(Strategy):
    """At the first step a symbol has a price, buy ``equity / number of symbols`` of it."""

    name = "buy_and_hold"

    def __init__(self) -> None:
        self._bought: set[str] = set()
        self._slot: float | None = None

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        if self._slot is None:
            self._slot = ctx.portfolio.equity / max(1, len(ctx.symbols))
        close = ctx.history.latest("close")
        out = []
        for sym, px in zip(ctx.symbols, close.tolist(), strict=True):
            if sym in self._bought or math.isnan(px):
                continue
            qty = lots_for_value(self._slot, px, ctx.rules)
            self._bought.add(sym)
            if qty > 0:
                out.append(OrderRequest(sym, Side.BUY, qty))
        return out
