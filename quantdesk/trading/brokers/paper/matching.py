"""How the paper broker prices an execution: walking a book, or trading against a bar.

Pure functions of the order and the market data, no state: the broker decides
quantities (lots, volume share, cash) and books the fills.

**Against a book** (live): a buy takes the asks best first while the level's
price is within its limit (market: any) and within the day's price limits; a
sell takes the bids. Each level gives one execution at that level's price.
A book with no asks is a board sealed at limit-up: nobody sells, no buy fills.

**Against a bar** (backtests and bar-driven live trading): an order placed at
or before a bar's start trades at that bar's *open* (the next bar's open
after the decision), moved ``slippage_ticks`` ticks against the order and
kept inside the bar's range and the price limits. A limit buy fills at the
open if the open is at or below its limit, else at its limit if the bar's low
reaches it; a limit sell mirrors that. On A-shares a bar that never traded
below limit-up (low >= limit-up) fills no buy, one that never traded above
limit-down (high <= limit-down) fills no sell: the board was sealed.
"""

from __future__ import annotations

from decimal import Decimal

from quantdesk.domain.trading import OrderType, Side
from quantdesk.trading.market import MarketRules, PriceBand

__all__ = ["bar_price", "book_levels"]

_BUY = Side.BUY  # enum members as constants (cheaper per use)
_LIMIT = OrderType.LIMIT


def book_levels(
    side: Side,
    limit: Decimal | None,
    levels: tuple[tuple[float, float], ...],
    rules: MarketRules,
    band: PriceBand | None,
) -> list[tuple[int, Decimal, float]]:
    """``(level index, price, size)`` of the levels an order may take, best first."""
    out = []
    for i, (p, size) in enumerate(levels):
        if not (size > 0 and p > 0):
            continue
        px = rules.round_price(p)
        if limit is not None and (px > limit if side is Side.BUY else px < limit):
            break
        if band is not None and not band.contains(px):
            break
        out.append((i, px, size))
    return out


def bar_price(
    side: Side,
    order_type: OrderType,
    limit: Decimal | None,
    open_: float,
    high: float,
    low: float,
    rules: MarketRules,
    band: PriceBand | None,
    slippage_ticks: int = 0,
) -> Decimal | None:
    """The price an order trades at in this bar, or None when it does not trade."""
    if not (open_ > 0 and high > 0 and low > 0):
        return None
    rnd = rules.round_price
    o = rnd(open_)
    buy = side is _BUY
    limit_order = order_type is _LIMIT and limit is not None
    # a buy needs the bar's low for the sealed-board check and a limit, its high only as
    # the cap of a slipped price (rounding is monotonic: with the open inside the bar and
    # no slippage the cap is the open); a sell mirrors that. What is not needed is not
    # rounded (the hottest function of a backtest).
    if buy:
        hi = rnd(high) if slippage_ticks or open_ > high else o
        lo = rnd(low) if band is not None or limit_order or open_ < low else o
    else:
        lo = rnd(low) if slippage_ticks or open_ < low else o
        hi = rnd(high) if band is not None or limit_order or open_ > high else o
    if band is not None:
        if buy and lo >= band.high:
            return None  # sealed at limit-up: nobody sells
        if not buy and hi <= band.low:
            return None  # sealed at limit-down: nobody buys
    if slippage_ticks:
        slip = rules.tick * slippage_ticks
        px = min(o + slip, hi) if buy else max(o - slip, lo)
    else:  # min(o, hi) / max(o, lo), without the calls
        px = (hi if hi < o else o) if buy else (lo if lo > o else o)
    if buy:
        if band is not None:
            px = min(px, band.high)
        if limit_order and limit is not None:
            if o <= limit:
                px = min(px, limit)
            elif lo <= limit:
                px = limit
            else:
                return None
    else:
        if band is not None:
            px = max(px, band.low)
        if limit_order and limit is not None:
            if o >= limit:
                px = max(px, limit)
            elif hi >= limit:
                px = limit
            else:
                return None
    return px
