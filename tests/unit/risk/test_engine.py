"""The risk engine denies with reasons, switches states, raises and stores alerts."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quantdesk.domain.trading import AlertKind, OrderStatus, OrderType, Side, TradingState
from quantdesk.errors import ConfigError
from quantdesk.risk import RiskEngine, RiskLimits
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.orders import OrderRequest, counter_ids
from tests.unit.trading.helpers import at, book, cn, trading_days

SYM, OTHER = "600000.SH", "600036.SH"
DAYS = trading_days(3)
T = at(DAYS[0], 10, 0)


def setup(**limits: object) -> tuple[RiskEngine, PaperBroker, MemoryJournal]:
    rules = cn()
    journal = MemoryJournal()
    ids = counter_ids()
    broker = PaperBroker(rules, journal, cash=D("100000"), ids=ids)
    for sym in (SYM, OTHER):
        broker.market.seed_close(sym, 10.0, rules.day_of(T) - 1)
        broker.on_book(book(sym, T, [(9.99, 1e6)], [(10.0, 1e6)]))
    risk = RiskEngine(rules, broker, journal, RiskLimits(**limits), ids=ids)  # type: ignore[arg-type]
    return risk, broker, journal


def req(side: Side, q: int, sym: str = SYM, limit: str | None = None) -> OrderRequest:
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    return OrderRequest(sym, side, q, kind, D(limit) if limit else None)


@pytest.mark.parametrize(
    ("limits", "request_", "reason"),
    [
        ({"max_order_value": D("5000")}, req(Side.BUY, 600), "order value"),
        ({"max_position_weight": 0.1}, req(Side.BUY, 1100), "position weight"),
        ({}, req(Side.BUY, 100, limit="11.01"), "price outside the day's limits"),
        ({}, req(Side.SELL, 100), "sellable quantity"),
        ({}, req(Side.BUY, 150), "bad quantity"),
        ({}, req(Side.BUY, 100, sym="601999.SH"), "unknown symbol"),
    ],
)
def test_denials_are_stored_counted_and_alerted(
    limits: dict[str, object], request_: OrderRequest, reason: str
) -> None:
    risk, broker, journal = setup(**limits)
    order = risk.submit(request_, T + 1)
    assert order.status is OrderStatus.DENIED and order.reason.startswith(reason), order.reason
    assert journal.load_orders()[-1] == order
    assert risk.denials[reason] == 1
    assert risk.alerts[-1].kind is AlertKind.DENIED and risk.alerts[-1].order_id == order.id
    assert journal.alerts == risk.alerts
    assert not broker.journal.load_fills()


def test_cash_not_frozen_by_open_orders() -> None:
    risk, _broker, _ = setup(max_gross_exposure=2.0)
    assert risk.submit(req(Side.BUY, 5000, limit="9.50"), T + 1).status is OrderStatus.ACCEPTED
    denied = risk.submit(req(Side.BUY, 5500, sym=OTHER), T + 2)
    assert denied.status is OrderStatus.DENIED and denied.reason.startswith("cash"), denied.reason


def test_gross_exposure_counts_orders_of_the_same_batch() -> None:
    risk, _broker, _ = setup(max_gross_exposure=0.5)
    orders = risk.submit_many([req(Side.BUY, 3000), req(Side.BUY, 3000, sym=OTHER)], T + 1)
    assert orders[0].status is OrderStatus.FILLED
    assert orders[1].status is OrderStatus.DENIED and "gross exposure" in orders[1].reason


def test_gross_exposure_counts_resting_orders() -> None:
    risk, _broker, _ = setup(max_gross_exposure=0.5)
    resting = risk.submit(req(Side.BUY, 3000, limit="9.90"), T + 1)
    assert resting.status is OrderStatus.ACCEPTED
    later = risk.submit(req(Side.BUY, 3000, sym=OTHER), T + 2)
    assert later.status is OrderStatus.DENIED and "gross exposure" in later.reason


def test_orders_per_minute() -> None:
    risk, _, _ = setup(max_orders_per_minute=2)
    got = [risk.submit(req(Side.BUY, 100), T + i).status for i in range(3)]
    assert got[:2] == [OrderStatus.FILLED] * 2 and got[2] is OrderStatus.DENIED
    assert risk.submit(req(Side.BUY, 100), T + 61_000).status is OrderStatus.FILLED


def test_daily_loss_switches_to_reducing_until_the_next_day() -> None:
    risk, broker, _ = setup(daily_loss_limit=0.05, drawdown_alert=0.08)
    risk.submit(req(Side.BUY, 5000), T + 1)  # 50,000 of 100,000 in stock
    risk.on_equity(T + 2, 100_000.0)
    risk.on_equity(T + 3, 94_000.0)  # -6%
    assert risk.state is TradingState.REDUCING
    kinds = [a.kind for a in risk.alerts]
    assert AlertKind.BREACH in kinds and AlertKind.STATE in kinds
    denied = risk.submit(req(Side.BUY, 100), T + 4)
    assert denied.status is OrderStatus.DENIED and "reducing" in denied.reason
    # reducing still lets the account sell (tomorrow, T+1)
    tomorrow = at(DAYS[1], 10, 0)
    broker.on_book(book(SYM, tomorrow, [(9.5, 1e6)], [(9.51, 1e6)]))
    risk.on_equity(tomorrow, 91_000.0)  # a new day: back to ACTIVE; drawdown 9% alerts
    assert risk.state is TradingState.ACTIVE
    assert any(a.kind is AlertKind.DRAWDOWN for a in risk.alerts)
    assert risk.submit(req(Side.SELL, 5000), tomorrow + 1).status is OrderStatus.FILLED


def test_halted_by_an_admin_allows_cancels_only() -> None:
    risk, _broker, _ = setup()
    resting = risk.submit(req(Side.BUY, 100, limit="9.50"), T + 1)
    assert resting.status is OrderStatus.ACCEPTED
    risk.set_state(TradingState.HALTED, T + 2)
    assert risk.submit(req(Side.BUY, 100), T + 3).reason.startswith("trading halted")
    assert risk.cancel(resting.id, T + 4).status is OrderStatus.CANCELLED
    risk.on_equity(at(DAYS[1], 10, 0), 100_000.0)  # a new day does not undo an admin's halt
    assert risk.state is TradingState.HALTED
    risk.set_state(TradingState.ACTIVE, T + 5)
    assert [a.state for a in risk.alerts if a.kind is AlertKind.STATE] == [
        TradingState.HALTED,
        TradingState.ACTIVE,
    ]


def test_limits_change_at_run_time() -> None:
    risk, _, _ = setup()
    assert risk.submit(req(Side.BUY, 600), T + 1).status is OrderStatus.FILLED
    risk.set_limits(max_order_value=5000)
    assert risk.limits.max_order_value == D("5000")
    assert risk.submit(req(Side.BUY, 600), T + 2).status is OrderStatus.DENIED
    with pytest.raises(ConfigError, match="unknown risk limit"):
        risk.set_limits(nope=1)
    with pytest.raises(ConfigError, match="max_position_weight"):
        risk.set_limits(max_position_weight=2)
    assert risk.limits.max_order_value == D("5000")
