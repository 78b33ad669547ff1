"""The live desk with ``QUANTDESK_BROKER=alpaca``: the strategy's orders go to a local
server that speaks Alpaca's protocol, its fills come back, are stored once and survive
a restart; missing credentials are one clear error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from quantdesk.config import load_settings
from quantdesk.domain.messages import Bar
from quantdesk.domain.trading import Fill, OrderStatus, Side
from quantdesk.errors import ConfigError
from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import TradingStore
from quantdesk.trading.brokers.routed import RoutedAccount
from quantdesk.trading.desk import TradingDesk
from quantdesk.trading.orders import OrderRequest
from tests.unit.trading.fake_alpaca import FakeAlpaca
from tests.unit.trading.helpers import at, trading_days

SYMS = ["AAPL", "MSFT"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpaca]:
    server = FakeAlpaca()
    monkeypatch.setenv("QUANTDESK_BROKER", "alpaca")
    monkeypatch.setenv("QUANTDESK_ALPACA_KEY_ID", server.key)
    monkeypatch.setenv("QUANTDESK_ALPACA_SECRET_KEY", server.secret)
    monkeypatch.setenv("QUANTDESK_ALPACA_URL", server.base_url)
    monkeypatch.setenv("QUANTDESK_ALPACA_DATA_URL", server.base_url)
    monkeypatch.setenv("QUANTDESK_ALPACA_STREAM_URL", server.stream_url)
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    e = engine_for(f"sqlite:///{tmp_path / 'desk.db'}")
    yield e
    e.dispose()


class Seen:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, u: Any) -> None:
        with self.cond:
            self.items.append(u)
            self.cond.notify_all()

    def wait(self, pred: Callable[[list[Any]], bool], timeout: float = 10) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.items), timeout), self.items


def open_desk(engine: sa.Engine) -> TradingDesk:
    return TradingDesk.open(
        load_settings(), engine, SYMS, market="us", strategy="buy_and_hold", interval="5m"
    )


def close_desk(desk: TradingDesk) -> None:
    desk.broker.close()
    desk.store.close()


def bars_at(t: int) -> list[Bar]:
    return [
        Bar("AAPL", "5m", t, 190.0, 190.5, 189.5, 190.0, 1e5, 0.0, 1),
        Bar("MSFT", "5m", t, 420.0, 420.5, 419.5, 420.0, 1e5, 0.0, 1),
    ]


def filled_qty(seen: Seen) -> dict[str, int]:
    out: dict[str, int] = {}
    for u in seen.items:
        if isinstance(u, Fill):
            out[u.symbol] = out.get(u.symbol, 0) + u.quantity
    return out


def test_the_desk_trades_through_alpaca_and_restarts_without_double_fills(
    fake: FakeAlpaca, engine: sa.Engine
) -> None:
    desk = open_desk(engine)
    assert isinstance(desk.broker, RoutedAccount)
    assert desk.broker.ledger.cash == D("100000.00")  # the broker account's cash at first start
    seen = Seen()
    desk.add_listener(seen)
    day = trading_days(1, market="us")[0]
    t = at(day, 10, 0, "us")
    desk.on_output(bars_at(t))
    placed = desk.advance(t + 5 * 60_000)
    # buy_and_hold: half the equity in each symbol, whole shares, sent to the broker
    assert {o.symbol: o.quantity for o in placed} == {"AAPL": 262, "MSFT": 118}
    assert all(o.status is not OrderStatus.REJECTED for o in placed)
    seen.wait(lambda _: filled_qty(seen) == {"AAPL": 262, "MSFT": 118})
    # the server placed them under our ids (the client order id) and filled them itself
    assert sorted(o["client_order_id"] for o in fake.orders.values()) == sorted(
        o.id for o in placed
    )
    fills = desk.store.load_fills()
    assert len(fills) == 4  # each order in two executions (100, then the rest)
    assert {f.order_id for f in fills} == {o.id for o in placed}  # booked under local ids
    seen.wait(lambda _: not desk.open_orders())
    stored = {o.id: o for o in desk.store.load_orders()}
    assert {stored[o.id].status for o in placed} == {OrderStatus.FILLED}
    assert desk.broker.ledger.quantity("AAPL") == 262
    assert desk.account().cash == D("100000") - 262 * D("190") - 118 * D("420")
    assert {p.symbol: p.quantity for p in desk.positions()} == {"AAPL": 262, "MSFT": 118}
    # a manual sell through the risk engine, checked against the ledger's sellable shares
    sell = desk.place(OrderRequest("AAPL", Side.SELL, 63), "admin")
    assert sell.status is not OrderStatus.REJECTED
    seen.wait(lambda _: filled_qty(seen).get("AAPL") == 262 + 63)
    close_desk(desk)

    # restart: the ledger is rebuilt from the stored fills; the catch-up from the broker
    # hands every fill again, and none is booked or stored twice
    desk = open_desk(engine)
    try:
        again = Seen()
        desk.add_listener(again)
        desk.broker.poll(0)
        time.sleep(0.2)
        assert not [u for u in again.items if isinstance(u, Fill)]
        assert len(desk.store.load_fills()) == 5
        assert desk.broker.ledger.quantity("AAPL") == 199
        assert desk.broker.ledger.quantity("MSFT") == 118
        assert len(fake.orders) == 3
    finally:
        close_desk(desk)


def test_an_order_stored_but_never_sent_is_sent_once_after_a_restart(
    fake: FakeAlpaca, engine: sa.Engine
) -> None:
    # the process died between storing the order and sending it
    store = TradingStore(engine)
    store.initial_cash(D("100000"))
    order = OrderRequest("MSFT", Side.BUY, 10).to_order("o-crash-1", 1_700_000_000_000)
    store.save_order(order)
    for _ in range(2):  # two restarts: sent at the first, never again
        desk = open_desk(engine)
        try:
            deadline = time.time() + 10
            while desk.broker.ledger.quantity("MSFT") < 10 and time.time() < deadline:
                time.sleep(0.02)
                desk.broker.poll(0)
            assert desk.broker.ledger.quantity("MSFT") == 10
        finally:
            close_desk(desk)
    assert [o["client_order_id"] for o in fake.orders.values()] == ["o-crash-1"]
    assert len(store.load_fills()) == 1
    assert store.get_order("o-crash-1").status is OrderStatus.FILLED


def test_missing_credentials_are_one_clear_error(
    fake: FakeAlpaca, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_ALPACA_SECRET_KEY", "")
    with pytest.raises(ConfigError) as err:
        open_desk(engine)
    msg = str(err.value)
    assert "QUANTDESK_ALPACA_KEY_ID" in msg and "QUANTDESK_ALPACA_SECRET_KEY" in msg
    assert "\n" not in msg
    assert not fake.orders
