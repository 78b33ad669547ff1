"""Fees equal the formulas, rounded half up to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from quantdesk.domain.trading import Side
from tests.unit.trading.helpers import cn, us

DAY = dt.date(2024, 3, 4)


def test_commission_minimum_per_order_and_rates() -> None:
    c = cn().costs
    f = c.fill_fees(Side.BUY, 100, D("10.00"), DAY)  # value 1000
    assert f.commission == D("5.00")  # 0.25 < 5 minimum
    assert f.stamp_duty == D("0.00")  # buys pay none
    assert f.transfer_fee == D("0.01")  # 0.00001 x 1000 = 0.01
    big = c.fill_fees(Side.SELL, 10_000, D("35.55"), DAY)  # value 355,500
    assert big.commission == D("88.88")  # 88.875 half up
    assert big.stamp_duty == D("177.75")  # 0.0005 x 355,500
    assert big.transfer_fee == D("3.56")  # 3.555 half up


def test_commission_is_per_order_across_fills() -> None:
    c = cn().costs
    first = c.fill_fees(Side.BUY, 100, D("10.00"), DAY)
    second = c.fill_fees(Side.BUY, 20_000, D("10.00"), DAY, order_value_before=D("1000"))
    # the order's commission: max(5, 0.00025 x 201,000) = 50.25, paid 5 + 45.25
    assert first.commission + second.commission == D("50.25")
    assert second.commission == D("45.25")
    # a second small fill after the minimum was paid costs nothing more
    assert c.fill_fees(Side.BUY, 100, D("10"), DAY, order_value_before=D("1000")).commission == 0


def test_stamp_duty_before_the_cut() -> None:
    c = cn().costs
    before = c.fill_fees(Side.SELL, 1000, D("10.00"), dt.date(2023, 8, 25))
    after = c.fill_fees(Side.SELL, 1000, D("10.00"), dt.date(2023, 8, 28))
    assert before.stamp_duty == D("10.00")  # 0.001
    assert after.stamp_duty == D("5.00")  # 0.0005


def test_us_has_no_fees_by_default() -> None:
    f = us().costs.fill_fees(Side.SELL, 7, D("190.13"), DAY)
    assert f.total == 0
