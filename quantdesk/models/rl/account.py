"""The agent's cash account: all-in buys in whole lots, whole sells, exact fees, T+1.

Money is kept in integer cents so that every fill is exact; the fees are the
market's :class:`~quantdesk.trading.costs.CostModel` (``fill_fees``), the lot
rounding is :func:`~quantdesk.trading.strategies.sizing.lots_for_value` (what
the strategies size with) and the odd-lot / T+1 rules come from
:class:`~quantdesk.trading.market.MarketRules`. One position at a time: a buy
spends the cash on as many lots as it pays for (fees included), a sell sells
everything, which the lot rule always allows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from quantdesk.domain.trading import Side
from quantdesk.trading.market import MarketRules
from quantdesk.trading.strategies.sizing import lots_for_value

__all__ = ["Account"]

_HUNDRED = Decimal(100)


class Account:
    """Cash (cents), one position (shares, its cost in cents, the day it was bought)."""

    __slots__ = ("bought_day", "cash", "cost", "fees", "qty", "rules", "t1", "trades")

    def __init__(self, rules: MarketRules, cash_cents: int) -> None:
        self.rules = rules
        self.t1 = rules.settlement_days > 0
        self.cash = cash_cents
        self.qty = 0
        self.cost = 0
        self.bought_day = -1
        self.fees = 0
        self.trades = 0

    def _fee_cents(self, side: Side, qty: int, px_cents: int, day: int) -> int:
        price = Decimal(px_cents) / _HUNDRED
        fees = self.rules.costs.fill_fees(side, qty, price, dt.date.fromordinal(day))
        return int(fees.total * _HUNDRED)

    def can_sell(self, day: int) -> bool:
        """Whether the position may be sold on trading day ``day`` (an ordinal; T+1)."""
        return self.qty > 0 and (not self.t1 or day > self.bought_day)

    def buy(self, px_cents: int, day: int) -> bool:
        """Spend the cash on whole lots at ``px_cents`` on ``day``; False if nothing bought."""
        if self.qty or px_cents <= 0:
            return False
        qty = lots_for_value(self.cash / 100, px_cents / 100, self.rules)
        lot = max(1, self.rules.lot_size)
        while qty > 0:
            value = px_cents * qty
            fee = self._fee_cents(Side.BUY, qty, px_cents, day)
            if value + fee <= self.cash:
                self.cash -= value + fee
                self.qty, self.cost, self.bought_day = qty, value + fee, day
                self.fees += fee
                self.trades += 1
                return True
            qty -= lot
        return False

    def sell(self, px_cents: int, day: int) -> bool:
        """Sell the whole position at ``px_cents`` on ``day``; False if it may not."""
        if px_cents <= 0 or not self.can_sell(day):
            return False
        value = px_cents * self.qty
        fee = self._fee_cents(Side.SELL, self.qty, px_cents, day)
        self.cash += value - fee
        self.fees += fee
        self.trades += 1
        self.qty = self.cost = 0
        return True

    def equity(self, close: float) -> float:
        """Cash plus the position at ``close``, in currency units."""
        return self.cash / 100 + self.qty * close
