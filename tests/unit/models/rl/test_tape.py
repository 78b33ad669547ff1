"""The tape and the account: the paper broker's prices and limits, exact fees, lots, T+1."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from quantdesk.domain.trading import Side
from quantdesk.errors import ModelError
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.rl.account import Account
from quantdesk.models.rl.tape import build_tape
from quantdesk.trading.market import rules_for


def test_fill_price_is_the_next_open_on_the_tick(walk: Dataset) -> None:
    rules = rules_for("cn")
    tape = build_tape(walk, rules)
    rows = walk.rows()
    close = walk.reference[rows]
    ret, gap = (walk.x[rows, walk.features.index(f)] for f in ("ret_1", "gap"))
    next_open = close[1:] / (1 + ret[1:]) * (1 + gap[1:])
    a, b = tape.segment(0)
    expect = [int(rules.round_price(float(o)) * 100) for o in next_open[a : b - 1]]
    assert tape.buy_cents[a : b - 1].tolist() == expect
    assert tape.sell_cents[a : b - 1].tolist() == expect
    assert tape.buy_cents[b - 1] == -1  # no next row: nothing fills
    assert tape.fill_day[a] == walk.days[rows[a + 1]].astype(dt.date).toordinal()


def test_sealed_limit_up_blocks_buys_and_limit_down_blocks_sells(walk: Dataset) -> None:
    rows = walk.rows()
    gap = walk.features.index("gap")
    x = walk.x.copy()
    x[rows[5], gap] = 0.10  # row 5 opens 10% above the previous close: limit-up
    x[rows[8], gap] = -0.10  # row 8 at limit-down
    tape = build_tape(replace(walk, x=x), rules_for("cn"))
    assert tape.buy_cents[4] == -1 and tape.sell_cents[4] > 0
    assert tape.sell_cents[7] == -1 and tape.buy_cents[7] > 0
    us = build_tape(replace(walk, x=x), rules_for("us"))  # no price limits in the US
    assert us.buy_cents[4] > 0 and us.sell_cents[7] > 0


def test_account_fees_are_the_cost_models_exactly() -> None:
    rules = rules_for("cn")
    acc = Account(rules, 100_000_00)
    day = dt.date(2023, 9, 4).toordinal()
    assert acc.buy(12_34, day)
    assert acc.qty % 100 == 0 and acc.qty > 0
    buy = rules.costs.fill_fees(Side.BUY, acc.qty, Decimal("12.34"), dt.date(2023, 9, 4))
    assert acc.cash == 100_000_00 - acc.qty * 12_34 - int(buy.total * 100)
    assert acc.cash >= 0 and acc.cash < 12_34 * 100 + int(buy.total * 100)  # all in
    qty, cash = acc.qty, acc.cash
    assert not acc.can_sell(day)  # T+1: not the day it was bought
    assert not acc.sell(12_50, day) and acc.qty == qty
    nxt = day + 1
    assert acc.sell(12_50, nxt)
    sell = rules.costs.fill_fees(Side.SELL, qty, Decimal("12.50"), dt.date.fromordinal(nxt))
    assert sell.stamp_duty > 0
    assert acc.cash == cash + qty * 12_50 - int(sell.total * 100)
    assert acc.fees == int(buy.total * 100) + int(sell.total * 100) and acc.trades == 2


def test_us_rules_allow_selling_the_same_day() -> None:
    acc = Account(rules_for("us"), 10_000_00)
    assert acc.buy(100_00, 5) and acc.qty == 99  # one-share lots, room for fees kept
    assert acc.sell(101_00, 5)


def test_tape_refuses_the_morning_data_set(small_morning: Dataset) -> None:
    with pytest.raises(ModelError, match="daily data set"):
        build_tape(small_morning, rules_for("cn"))
    assert np.isfinite(small_morning.x).all()
