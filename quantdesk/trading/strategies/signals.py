"""``signals``: trades the factor signal rules' signals.

A ``buy`` signal buys ``order_value`` of the symbol (rounded down to lots) at
the next price; a ``sell`` signal sells what is sellable. Signals come in the
step context (recorded ones, or computed from the bars by the backtester:
:mod:`quantdesk.trading.signal_feed`).
"""

from __future__ import annotations

import math

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["SignalStrategy"]


class SignalStrategy(Strategy):
    name = "signals"
    interval = "5m"

    def __init__(self, order_value: float = 10_000.0) -> None:
        if not order_value > 0:
            raise ConfigError(f"signals: order_value must be > 0 (got {order_value})")
        self.order_value = float(order_value)

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        if not ctx.signals:
            return []
        price = ctx.history.latest("close")
        out: list[OrderRequest] = []
        sold: set[str] = set()
        for sig in ctx.signals:
            i = ctx.history.index.get(sig.symbol)
            if i is None:
                continue
            if sig.side == "sell":
                if sig.symbol in sold:
                    continue
                q = ctx.portfolio.sellable(sig.symbol, ctx.day)
                if q > 0:
                    sold.add(sig.symbol)
                    out.append(OrderRequest(sig.symbol, Side.SELL, q))
            elif sig.side == "buy":
                px = float(price[i])
                if math.isnan(px):
                    continue
                q = lots_for_value(self.order_value, px, ctx.rules)
                if q > 0:
                    out.append(OrderRequest(sig.symbol, Side.BUY, q))
        return out
