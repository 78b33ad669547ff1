"""``t1``: seed B's T+1 short-term strategy.

A-shares bought today can only be sold tomorrow, so the day is split in two:

* **morning** (the first decision at or after ``sell_time`` in the morning
  session): sell every sellable position;
* **afternoon** (the first decision at or after ``buy_time``): buy the
  ``top_k`` stocks with the highest predicted gain, where the gain is
  tomorrow's predicted morning close over the current price, minus 1; gains
  below ``min_gain`` (and non-positive ones) are skipped; the available cash
  is split in equal parts, rounded down to lots.

Predictions come from a :class:`PredictionSource`: those for tomorrow made by
now, else the newest earlier ones (the decision notes that it reused them),
else nothing is bought (the strategy is idle until predictions exist).
"""

from __future__ import annotations

import datetime as dt
import math

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.base import StepContext, Strategy
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["T1Strategy"]


class T1Strategy(Strategy):
    name = "t1"
    interval = "5m"

    def __init__(
        self,
        sell_time: str | dt.time = "09:35",
        buy_time: str | dt.time = "14:30",
        top_k: int = 5,
        min_gain: float = 0.0,
    ) -> None:
        self.sell_time = _time(sell_time, "sell_time")
        self.buy_time = _time(buy_time, "buy_time")
        if self.buy_time <= self.sell_time:
            raise ConfigError("t1: buy_time must be after sell_time")
        if top_k < 1:
            raise ConfigError(f"t1: top_k must be >= 1 (got {top_k})")
        self.top_k = top_k
        self.min_gain = min_gain
        self._sold_day = -1
        self._bought_day = -1

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        if ctx.session < 0 or ctx.rules.calendar.date_of(ctx.time) != ctx.date:
            return []  # closed, or at the close (an order now would be for tomorrow)
        out: list[OrderRequest] = []
        if ctx.day != self._sold_day and self.sell_time <= ctx.local_time < self.buy_time:
            self._sold_day = ctx.day
            for sym in sorted(ctx.portfolio.holdings()):
                q = ctx.portfolio.sellable(sym, ctx.day)
                if q > 0:
                    out.append(OrderRequest(sym, Side.SELL, q))
        if ctx.day != self._bought_day and ctx.local_time >= self.buy_time:
            self._bought_day = ctx.day
            out += self._buys(ctx)
        return out

    def _buys(self, ctx: StepContext) -> list[OrderRequest]:
        if ctx.predictions is None:
            ctx.note("t1: no prediction source; nothing bought")
            return []
        days = ctx.rules.calendar.days
        if ctx.day + 1 >= len(days):
            return []
        target = days[ctx.day + 1]
        preds = ctx.predictions.latest(target, ctx.time)
        if not preds.values:
            ctx.note(f"t1: no predictions for {target} or before; nothing bought")
            return []
        if preds.stale:
            ctx.note(f"t1: predictions for {target} missing; using those for {preds.as_of}")
        price = ctx.history.latest("close")
        gains = []
        for sym, predicted in preds.values.items():
            i = ctx.history.index.get(sym)
            if i is None:
                continue
            px = float(price[i])
            if math.isnan(px) or px <= 0 or not math.isfinite(predicted):
                continue
            gain = predicted / px - 1
            if gain > 0 and gain >= self.min_gain:
                gains.append((gain, sym, px))
        gains.sort(key=lambda g: (-g[0], g[1]))
        chosen = gains[: self.top_k]
        if not chosen:
            return []
        each = ctx.portfolio.available_cash / len(chosen)
        out = []
        for _gain, sym, px in chosen:
            q = lots_for_value(each, px, ctx.rules)
            if q > 0:
                out.append(OrderRequest(sym, Side.BUY, q))
        return out


def _time(value: str | dt.time, name: str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"t1: {name} must be HH:MM (got {value!r})") from None
