"""The paper broker: books, bars, market rules, rejections, expiry, restart."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from quantdesk.domain.messages import Bar
from quantdesk.domain.trading import Fill, Order, OrderStatus, OrderType, Side, TimeInForce
from quantdesk.errors import NotFoundError, OrderRejected, TradingError
from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import TradingStore
from quantdesk.trading.brokers import BROKERS
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.orders import OrderRequest, counter_ids
from tests.unit.trading.helpers import at, book, cn, trading_days

SYM = "600000.SH"
DAYS = trading_days(4)


def make(journal: object | None = None, cash: str = "1000000", **kw: object) -> PaperBroker:
    rules = cn()
    b = PaperBroker(rules, journal or MemoryJournal(), cash=D(cash), ids=counter_ids(), **kw)  # type: ignore[arg-type]
    # yesterday closed at 10.00: today's limits are 9.00 .. 11.00
    b.market.seed_close(SYM, 10.0, rules.day_of(at(DAYS[0], 10, 0)) - 1)
    return b


def buy(q: int, limit: str | None = None, **kw: object) -> OrderRequest:
    t = OrderType.LIMIT if limit else OrderType.MARKET
    return OrderRequest(SYM, Side.BUY, q, t, D(limit) if limit else None, **kw)  # type: ignore[arg-type]


def sell(q: int, limit: str | None = None, **kw: object) -> OrderRequest:
    t = OrderType.LIMIT if limit else OrderType.MARKET
    return OrderRequest(SYM, Side.SELL, q, t, D(limit) if limit else None, **kw)  # type: ignore[arg-type]


def test_registry_default_is_paper() -> None:
    assert BROKERS.get("paper") is PaperBroker


def test_market_buy_walks_the_asks_with_partial_fills() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 500)], [(10.01, 300), (10.02, 200), (10.05, 1000)]))
    updates: list[object] = []
    b.add_listener(updates.append)
    o = b.submit(buy(1000), t + 1)
    fills = [u for u in updates if isinstance(u, Fill)]
    assert [(f.price, f.quantity) for f in fills] == [
        (D("10.01"), 300),
        (D("10.02"), 200),
        (D("10.05"), 500),
    ]
    assert o.status is OrderStatus.FILLED and o.filled_quantity == 1000
    # commission per order: max(5, 0.00025 x 10,038) = 5 once
    assert sum(f.commission for f in fills) == D("5.00")
    # a second order cannot take the liquidity the first one used from this snapshot
    o2 = b.submit(buy(1000, "10.02"), t + 2)
    assert o2.filled_quantity == 0 and o2.status is OrderStatus.ACCEPTED
    got = b.on_book(book(SYM, t + 3, [(10.0, 500)], [(10.02, 400)]))
    assert sum(f.quantity for f in got) == 400
    assert b.open_order(o2.id) is not None and b.open_order(o2.id).filled_quantity == 400  # type: ignore[union-attr]


def test_limit_up_without_sellers_fills_no_buy() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(11.0, 90000)], []))  # sealed at limit-up: no asks
    o = b.submit(buy(100), t + 1)
    assert o.status is OrderStatus.ACCEPTED and o.filled_quantity == 0


def test_a_book_of_an_earlier_day_is_not_traded_against() -> None:
    b = make()
    b.on_book(book(SYM, at(DAYS[0], 14, 59), [(10.0, 500)], [(10.01, 300)]))
    o = b.submit(buy(100), at(DAYS[1], 9, 31))
    assert o.status is OrderStatus.ACCEPTED and o.filled_quantity == 0


def test_rejections_with_reasons() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 500)], [(10.01, 300)]))
    cases = {
        "multiple of 100": buy(150),
        "outside the day's limits": buy(100, "11.01"),
        "not on the tick": buy(100, "10.005"),
        "exceeds the sellable": sell(100),
        "insufficient cash": buy(1_000_000, "10.00"),
    }
    for reason, req in cases.items():
        o = b.submit(req, t + 1)
        assert o.status is OrderStatus.REJECTED and reason in o.reason, (reason, o.reason)
    unknown = b.submit(OrderRequest("600999.SH", Side.BUY, 100), t + 1)
    assert unknown.status is OrderStatus.REJECTED and "unknown symbol" in unknown.reason
    with pytest.raises(OrderRejected, match="positive"):
        b.submit(buy(0), t + 1)
    stored = b.journal.load_orders()
    assert all(o.status is OrderStatus.REJECTED for o in stored)
    assert b.ledger.cash == D("1000000") and not b.ledger.frozen_cash


def test_t_plus_one_after_the_close_checks_the_next_day() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 5000)], [(10.01, 5000)]))
    b.submit(buy(1000), t + 1)
    assert b.submit(sell(1000), t + 2).status is OrderStatus.REJECTED  # bought today
    evening = at(DAYS[0], 20, 0)
    o = b.submit(sell(1000, "10.00"), evening)  # for tomorrow: sellable then
    assert o.status is OrderStatus.ACCEPTED
    fills = b.on_book(book(SYM, at(DAYS[1], 9, 30), [(10.10, 5000)], [(10.11, 5000)]))
    assert [f.quantity for f in fills] == [1000]
    assert fills[0].stamp_duty == D("5.05")  # 0.0005 x 10,100


def test_bar_fills_next_open_volume_share_and_slippage() -> None:
    b = make(fill_volume_share=0.25, slippage_ticks=2)
    t = at(DAYS[0], 10, 0)
    b.market.on_price(SYM, t, 10.0)
    o = b.submit(buy(1000), t)
    bar = Bar(SYM, "1m", t + 60_000, 10.10, 10.20, 10.00, 10.15, 2000.0, 10.1, 5)
    fills = b.on_bar(bar)
    # 25% of 2,000 = 500 shares at the open + 2 ticks
    assert [(f.quantity, f.price, f.time) for f in fills] == [(500, D("10.12"), t + 60_000)]
    bar2 = Bar(SYM, "1m", t + 120_000, 10.30, 10.31, 10.29, 10.30, 8000.0, 10.3, 5)
    fills2 = b.on_bar(bar2)
    assert [(f.quantity, f.price) for f in fills2] == [(500, D("10.31"))]  # capped at the high
    order = b.journal.load_orders()[0]
    assert order.id == o.id and order.status is OrderStatus.FILLED


def test_sealed_limit_up_bar_fills_no_buy() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.market.on_price(SYM, t, 10.9)
    b.submit(buy(100), t)
    assert b.on_bar(Bar(SYM, "1m", t + 60_000, 11.0, 11.0, 11.0, 11.0, 1e6, 11.0, 9)) == []
    assert b.on_bar(Bar(SYM, "1m", t + 120_000, 11.0, 11.0, 10.95, 11.0, 1e6, 11.0, 9))


def test_day_orders_expire_ioc_cancels_and_cancel() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 500)], [(10.50, 100)]))
    day = b.submit(buy(100, "10.10"), t + 1)
    ioc = b.submit(buy(200, "10.50", time_in_force=TimeInForce.IOC), t + 2)
    assert ioc.status is OrderStatus.CANCELLED and ioc.filled_quantity == 100
    gtc = b.submit(buy(100, "10.10", time_in_force=TimeInForce.GTC), t + 3)
    b.on_book(book(SYM, at(DAYS[1], 9, 31), [(10.0, 500)], [(10.50, 100)]))
    stored = {o.id: o for o in b.journal.load_orders()}
    assert stored[day.id].status is OrderStatus.CANCELLED and "expired" in stored[day.id].reason
    assert stored[gtc.id].status is OrderStatus.ACCEPTED
    done = b.cancel(gtc.id, at(DAYS[1], 9, 32))
    assert done.status is OrderStatus.CANCELLED and not b.ledger.frozen_cash
    with pytest.raises(TradingError, match="not open"):
        b.cancel(gtc.id, at(DAYS[1], 9, 33))
    with pytest.raises(NotFoundError):
        b.cancel("nope", at(DAYS[1], 9, 33))


def test_idempotent_client_order_id() -> None:
    b = make()
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 500)], [(10.01, 300)]))
    a = b.submit(buy(100, client_order_id="c-1"), t + 1)
    again = b.submit(buy(100, client_order_id="c-1"), t + 2)
    assert again.id == a.id and len(b.journal.load_fills()) == 1


def test_restart_rebuilds_from_the_store(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'paper.db'}")
    b = make(TradingStore(engine))
    t = at(DAYS[0], 10, 0)
    b.on_book(book(SYM, t, [(10.0, 5000)], [(10.01, 300)]))
    b.submit(buy(500), t + 1)  # 300 now, 200 open
    b.submit(buy(100, "9.50"), t + 2)
    before = (b.ledger.state(), b.orders(True), b.ledger.frozen_cash["o000002"])
    engine.dispose()
    engine = engine_for(f"sqlite:///{tmp_path / 'paper.db'}")
    again = make(TradingStore(engine), cash="5")  # the stored initial cash wins
    after = (again.ledger.state(), again.orders(True), again.ledger.frozen_cash["o000002"])
    assert after == before
    # a market buy's freeze is estimated again at the first price after the restart
    assert "o000001" not in again.ledger.frozen_cash
    again.on_book(book(SYM, t + 5, [(10.0, 5000)], []))  # no sellers: nothing fills
    assert again.ledger.frozen_cash["o000001"] > 0
    # the same book again (replayed after the crash) does not fill twice
    assert again.on_book(book(SYM, t, [(10.0, 5000)], [(10.01, 300)])) == []
    fills = again.on_book(book(SYM, t + 10, [(10.0, 5000)], [(10.01, 300)]))
    assert [f.id for f in fills] == [f"{again.orders()[0].id}-2"]


def test_new_orders_left_by_a_crash_are_acted_on_at_restart(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'paper.db'}")
    store = TradingStore(engine)
    store.initial_cash(D("100000"))
    t = at(DAYS[0], 10, 0)
    store.save_order(
        Order("x1", "x1", SYM, Side.BUY, OrderType.LIMIT, 100, D("10"), created=t, updated=t)
    )
    store.save_order(Order("x2", "x2", SYM, Side.SELL, OrderType.MARKET, 100, created=t, updated=t))
    b = make(store)
    status = {o.id: o.status for o in b.journal.load_orders()}
    assert status == {"x1": OrderStatus.ACCEPTED, "x2": OrderStatus.REJECTED}
