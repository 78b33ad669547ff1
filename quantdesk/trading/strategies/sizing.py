"""Order sizing shared by the strategies."""

from __future__ import annotations

import math

from quantdesk.trading.market import MarketRules

__all__ = ["lots_for_value"]

#: Room left for fees and a small move to the next open when sizing a buy.
FEE_BUFFER = 0.003


def lots_for_value(value: float, price: float, rules: MarketRules) -> int:
    """Whole lots of shares that ``value`` buys at ``price`` (fees and a small move kept aside)."""
    if not (value > 0 and price > 0) or math.isnan(price):
        return 0
    return rules.round_lot(value / (price * (1 + FEE_BUFFER)))
