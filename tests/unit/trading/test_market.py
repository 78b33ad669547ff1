"""A-share rules as data: price limits per board, lots and odd lots, order days."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pytest

from quantdesk.domain.trading import Side
from quantdesk.errors import ConfigError
from quantdesk.trading.market import rules_for
from tests.unit.trading.helpers import at, cn, us


@pytest.mark.parametrize(
    ("symbol", "prev", "low", "high"),
    [
        ("600000.SH", "8.55", "7.70", "9.41"),  # main 10%: 9.405 and 7.695 half up
        ("000001.SZ", "11.11", "10.00", "12.22"),
        ("688981.SH", "50.05", "40.04", "60.06"),  # STAR 20%
        ("300750.SZ", "10.00", "8.00", "12.00"),  # ChiNext 20%
        ("301001.SZ", "3.33", "2.66", "4.00"),  # ChiNext 301, 3.996 -> 4.00
        ("920001.BJ", "10.00", "7.00", "13.00"),  # Beijing 30%
    ],
)
def test_price_band(symbol: str, prev: str, low: str, high: str) -> None:
    band = cn().price_band(symbol, D(prev))
    assert band is not None
    assert (band.low, band.high) == (D(low), D(high))


def test_st_stocks_have_five_percent() -> None:
    rules = dataclasses.replace(cn(), st_symbols=frozenset({"600001.SH"}))
    band = rules.price_band("600001.SH", D("10.00"))
    assert band is not None and (band.low, band.high) == (D("9.50"), D("10.50"))


def test_us_has_no_limits_and_one_share_lots() -> None:
    assert us().price_band("AAPL", D("190")) is None
    assert us().quantity_error(Side.BUY, 7) is None


def test_lots_and_odd_lot_sells() -> None:
    r = cn()
    assert r.quantity_error(Side.BUY, 100) is None
    assert "multiple of 100" in (r.quantity_error(Side.BUY, 150) or "")
    assert r.quantity_error(Side.BUY, 0) is not None
    assert r.quantity_error(Side.BUY, -100) is not None
    # holding 250: whole lots, or any amount that includes the whole odd 50
    for q in (100, 200, 50, 150, 250):
        assert r.quantity_error(Side.SELL, q, held=250) is None, q
    for q in (30, 120, 249):
        assert r.quantity_error(Side.SELL, q, held=250) is not None, q


def test_order_day_after_close_is_the_next_trading_day() -> None:
    r = cn()
    fri = dt.date(2024, 3, 8)
    mon = dt.date(2024, 3, 11)
    cal = r.calendar
    assert r.date_of_day(r.day_of(at(fri, 10, 0))) == fri
    assert r.date_of_day(r.day_of(at(fri, 12, 0))) == fri  # lunch break: the afternoon's day
    assert r.date_of_day(r.day_of(at(fri, 15, 30))) == mon  # after the close: Monday
    assert r.date_of_day(r.day_of(at(mon, 9, 0))) == mon  # before the open
    assert not r.in_session(at(mon, 9, 20))  # the call auction is not continuous trading
    assert r.in_session(at(mon, 9, 30)) and not r.in_session(at(mon, 11, 30))
    assert cal.name == "XSHG"


def test_unknown_market() -> None:
    with pytest.raises(ConfigError, match="unknown market"):
        rules_for("jp")
