"""The ledger: T+1, same-day cash reuse, exact P&L, rebuild from fills."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quantdesk.domain.trading import Fill, Side
from quantdesk.errors import TradingError
from quantdesk.trading.ledger import Ledger
from tests.unit.trading.helpers import at, cn, trading_days

DAYS = trading_days(3)


def fill(
    fid: str, t: int, side: Side, q: int, px: str, comm: str = "5.00", stamp: str = "0"
) -> Fill:
    return Fill(fid, "o" + fid, t, "600000.SH", side, q, D(px), D(comm), D(stamp), D("0.01"))


def test_t_plus_one_and_same_day_cash() -> None:
    rules = cn()
    led = Ledger(rules, D("10000"))
    d0 = rules.day_of(at(DAYS[0], 10, 0))
    led.apply(fill("1", at(DAYS[0], 10, 0), Side.BUY, 500, "10.00"))
    assert led.cash == D("10000") - D("5005.01")
    assert led.sellable("600000.SH", d0) == 0  # bought today
    assert led.sellable("600000.SH", d0 + 1) == 500  # tomorrow
    # placed after today's close, an order belongs to tomorrow: sellable
    assert led.sellable("600000.SH", rules.day_of(at(DAYS[0], 16, 0))) == 500
    led.apply(fill("2", at(DAYS[1], 10, 0), Side.SELL, 500, "11.00", stamp="2.75"))
    # the sale's cash is there at once
    assert led.cash == D("10000") - D("5005.01") + D("5500") - D("7.76")
    # realised + unrealised == equity - initial, to the cent
    assert led.realised_pnl() == led.cash - D("10000")


def test_rebuild_is_identical_and_fills_count_once() -> None:
    rules = cn()
    fills = [
        fill("1", at(DAYS[0], 10, 0), Side.BUY, 300, "10.00"),
        fill("2", at(DAYS[0], 13, 5), Side.BUY, 200, "10.20"),
        fill("3", at(DAYS[1], 9, 40), Side.SELL, 250, "10.50", stamp="1.31"),
    ]
    led = Ledger(rules, D("100000"))
    for f in fills:
        assert led.apply(f)
    assert not led.apply(fills[0])  # the same fill id again: nothing
    again = Ledger.rebuild(rules, D("100000"), reversed(fills))
    assert again.state() == led.state()
    pos = led.positions({"600000.SH": 10.4}, rules.day_of(at(DAYS[1], 10, 0)))[0]
    assert pos.quantity == 250
    assert pos.realised_pnl + pos.unrealised_pnl == led.account({"600000.SH": 10.4}).equity - D(
        "100000"
    )


def test_impossible_fills_are_refused_whole() -> None:
    led = Ledger(cn(), D("1000"))
    with pytest.raises(TradingError, match="cash never negative"):
        led.apply(fill("1", at(DAYS[0], 10, 0), Side.BUY, 100, "10.00"))
    with pytest.raises(TradingError, match="held"):
        led.apply(fill("2", at(DAYS[0], 10, 0), Side.SELL, 100, "10.00"))
    assert led.cash == D("1000") and not led.applied


def test_freezes() -> None:
    rules = cn()
    led = Ledger(rules, D("100000"))
    led.apply(fill("1", at(DAYS[0], 10, 0), Side.BUY, 500, "10.00"))
    d1 = rules.day_of(at(DAYS[1], 10, 0))
    led.freeze_shares("s1", "600000.SH", 300)
    assert led.sellable("600000.SH", d1) == 200
    led.freeze_cash("b1", D("1234.56"))
    assert led.available_cash == led.cash - D("1234.56")
    led.release("s1")
    led.release("b1")
    assert led.sellable("600000.SH", d1) == 500 and led.available_cash == led.cash
