"""``momentum``: a daily cross-sectional strategy: hold the top-k by past return.

Every ``rebalance`` steps, rank the symbols by their return over the last
``lookback`` bars and hold the ``top_k`` best in equal parts of equity:
sell what dropped out of the top (what is sellable), buy the newcomers.
Ranking is one vectorised pass over the cross-section.
"""

from __future__ import annotations

import numpy as np

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["Momentum"]


class Momentum(Strategy):
    name = "momentum"

    def __init__(self, lookback: int = 20, top_k: int = 20, rebalance: int = 5) -> None:
        if lookback < 1 or top_k < 1 or rebalance < 1:
            raise ConfigError("momentum: lookback, top_k and rebalance must be >= 1")
        self.lookback, self.top_k, self.rebalance = lookback, top_k, rebalance
        self.warmup = lookback + 1
        self._steps = 0

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        self._steps += 1
        if self._steps % self.rebalance:
            return []
        w = ctx.history.window("close", self.lookback + 1)
        if len(w) < self.lookback + 1:
            return []
        with np.errstate(invalid="ignore", divide="ignore"):
            ret = w[-1] / w[0] - 1
        ret = np.where(np.isfinite(ret), ret, -np.inf)
        k = min(self.top_k, int(np.isfinite(ret).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-ret, k - 1)[:k]
        syms = ctx.symbols
        wanted = {syms[i] for i in top}
        out = []
        for sym in sorted(ctx.portfolio.holdings()):
            if sym not in wanted:
                q = ctx.portfolio.sellable(sym, ctx.day)
                if q > 0:
                    out.append(OrderRequest(sym, Side.SELL, q))
        close = w[-1]
        new = [i for i in sorted(top.tolist(), key=lambda j: -ret[j])]
        new = [i for i in new if ctx.portfolio.quantity(syms[i]) == 0]
        if not new:
            return out
        # equal parts of equity, but only the cash there is now (sells fill later)
        slot = min(ctx.portfolio.equity / self.top_k, ctx.portfolio.available_cash / len(new))
        for i in new:
            sym = syms[i]
            q = lots_for_value(slot, float(close[i]), ctx.rules)
            if q > 0:
                out.append(OrderRequest(sym, Side.BUY, q))
        return out
