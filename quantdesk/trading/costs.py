"""Trading costs as data: commission, stamp duty, transfer fee.

=================  =====================================================  ===========
fee                formula (value = price x quantity of the fill)        who pays
=================  =====================================================  ===========
commission         ``max(min_commission, rate x value of the ORDER)``,    buys, sells
                   charged on the order's fills as they come
stamp duty         ``rate(trade date) x value``; A-shares: 0.0005 from    sells only
                   2023-08-28, 0.001 before
transfer fee       ``rate x value`` (A-shares 0.00001)                    buys, sells
=================  =====================================================  ===========

Rounding, as A-share brokers do it: every fee is rounded half up to the cent
(fen). Stamp duty and transfer fee are per fill (per execution report, as the
exchange and the registrar charge them). Commission is per *order*, with the
minimum per order (a partly filled order pays the minimum once, not per
fill): a fill pays ``order commission with it - order commission before it``,
where the order commission after fills of total value ``V`` is
``max(min_commission, round_half_up(rate x V))``. So the commission of an order
is exactly the formula over the order's value, however it was split into fills.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from quantdesk.domain.trading import CENT, ZERO, Side

__all__ = ["CostModel", "Fees"]

_SELL = Side.SELL  # an enum member as a constant (cheaper per use)
_new = tuple.__new__


class Fees(NamedTuple):
    commission: Decimal
    stamp_duty: Decimal
    transfer_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.commission + self.stamp_duty + self.transfer_fee


@dataclass(frozen=True, slots=True)
class CostModel:
    """The fee schedule of one market.

    ``stamp_duty`` is a schedule ``((first_day, rate), ...)`` in ascending day
    order (``first_day`` ``None`` = since always): the rate of a trade is the
    last entry whose day is on or before the trade date (exchange-local).
    """

    commission_rate: Decimal = ZERO
    min_commission: Decimal = ZERO
    stamp_duty: tuple[tuple[dt.date | None, Decimal], ...] = ()
    transfer_fee_rate: Decimal = ZERO
    _rates: dict[dt.date, Decimal] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def stamp_duty_rate(self, day: dt.date) -> Decimal:
        rate = self._rates.get(day)
        if rate is None:
            rate = Decimal(0)
            for first, r in self.stamp_duty:
                if first is None or first <= day:
                    rate = r
            if len(self._rates) > 10_000:
                self._rates.clear()
            self._rates[day] = rate
        return rate

    def order_commission(self, order_value: Decimal) -> Decimal:
        """The commission of an order whose fills add up to ``order_value`` (0 if none)."""
        if order_value <= 0:
            return ZERO
        return max(
            self.min_commission,
            (self.commission_rate * order_value).quantize(CENT, ROUND_HALF_UP),
        )

    def fill_fees(
        self,
        side: Side,
        quantity: int,
        price: Decimal,
        day: dt.date,
        order_value_before: Decimal = ZERO,
    ) -> Fees:
        """Fees of one fill; ``order_value_before`` is the value of the order's earlier fills."""
        value = price * quantity
        if order_value_before > 0:
            commission = self.order_commission(order_value_before + value)
            commission -= self.order_commission(order_value_before)
        elif value > 0:  # the order's first fill: order_commission(value), inline
            c = (self.commission_rate * value).quantize(CENT, ROUND_HALF_UP)
            commission = c if c > self.min_commission else self.min_commission  # max()
        else:
            commission = ZERO
        if side is _SELL:
            rate = self._rates.get(day)  # self.stamp_duty_rate(day), remembered
            if rate is None:
                rate = self.stamp_duty_rate(day)
            stamp = (rate * value).quantize(CENT, ROUND_HALF_UP)
        else:
            stamp = ZERO
        transfer = (self.transfer_fee_rate * value).quantize(CENT, ROUND_HALF_UP)
        # Fees(commission, stamp, transfer) without the NamedTuple's Python __new__ frame
        return _new(Fees, (commission, stamp, transfer))

    def estimate(self, side: Side, value: Decimal, day: dt.date) -> Decimal:
        """Upper estimate of an order's total fees (used to freeze cash for a buy)."""
        fees = self.fill_fees(side, 1, value, day)
        return fees.total
