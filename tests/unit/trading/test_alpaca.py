"""The alpaca broker against a local server that speaks Alpaca's protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D

import pytest

from quantdesk.config import load_settings
from quantdesk.domain.trading import Fill, Order, OrderStatus, OrderType, Side
from quantdesk.errors import ConfigError, NotFoundError, OrderRejected, TradingError
from quantdesk.trading.brokers import BROKERS
from quantdesk.trading.brokers.alpaca import AlpacaBroker
from quantdesk.trading.orders import OrderRequest
from tests.unit.trading.fake_alpaca import FakeAlpaca


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    server = FakeAlpaca()
    yield server
    server.close()


def broker_for(fake: FakeAlpaca, key: str = "key-1", secret: str = "secret-1") -> AlpacaBroker:
    return AlpacaBroker(
        key, secret, base_url=fake.base_url, data_url=fake.base_url, stream_url=fake.stream_url
    )


class Updates:
    def __init__(self) -> None:
        self.items: list[Order | Fill] = []
        self.cond = threading.Condition()

    def __call__(self, u: Order | Fill) -> None:
        with self.cond:
            self.items.append(u)
            self.cond.notify_all()

    def wait(self, pred: Callable[[list[Order | Fill]], bool], timeout: float = 10) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.items), timeout), self.items

    def fills(self) -> list[Fill]:
        return [u for u in self.items if isinstance(u, Fill)]


def test_registered_and_built_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BROKERS.get("alpaca") is AlpacaBroker
    monkeypatch.setenv("QUANTDESK_ALPACA_KEY_ID", "")
    with pytest.raises(ConfigError, match="QUANTDESK_ALPACA_KEY_ID"):
        AlpacaBroker.from_settings(load_settings())


def test_market_order_fills_pushed_and_booked(fake: FakeAlpaca) -> None:
    b = broker_for(fake)
    try:
        ups = Updates()
        b.add_listener(ups)
        assert b.account().cash == D("100000.00") and b.positions() == []
        q = b.quote("AAPL")
        assert q is not None and q.bid == 190.0 and q.ask == 190.01
        o = b.submit(OrderRequest("AAPL", Side.BUY, 150), 0)
        assert o.status in (OrderStatus.ACCEPTED, OrderStatus.FILLED)
        ups.wait(lambda items: sum(f.quantity for f in ups.fills()) == 150)
        fills = ups.fills()
        assert [f.quantity for f in fills] == [100, 50] and all(
            f.price == D("190.00") for f in fills
        )
        final = [u for u in ups.items if isinstance(u, Order)][-1]
        assert final.status is OrderStatus.FILLED and final.filled_quantity == 150
        assert [p.quantity for p in b.positions()] == [150]
        assert b.account().cash == D("71500.00")
        # the REST fills carry the same ids as the stream's: nothing twice after a catch-up
        assert [f.id for f in b.fills()] == [f.id for f in fills]
        n = len(ups.items)
        b.poll(0)
        assert len(ups.items) == n
    finally:
        b.close()


def test_limit_orders_rest_and_cancel(fake: FakeAlpaca) -> None:
    b = broker_for(fake)
    try:
        o = b.submit(OrderRequest("MSFT", Side.BUY, 10, OrderType.LIMIT, D("400.00")), 0)
        assert o.status is OrderStatus.ACCEPTED and o.limit_price == D("400.00")
        assert [x.id for x in b.orders(open_only=True)] == [o.id]
        assert b.account().frozen_cash == D("4000.00")
        done = b.cancel(o.id, 0)
        assert done.status is OrderStatus.CANCELLED and done.reason == "canceled"
        with pytest.raises(TradingError, match="not open"):
            b.cancel(o.id, 0)
        with pytest.raises(NotFoundError):
            b.cancel("nope", 0)
    finally:
        b.close()


def test_idempotent_client_ids_and_refusals(fake: FakeAlpaca) -> None:
    b = broker_for(fake)
    try:
        first = b.submit(OrderRequest("AAPL", Side.BUY, 10, client_order_id="c-1"), 0)
        again = b.submit(OrderRequest("AAPL", Side.BUY, 10, client_order_id="c-1"), 0)
        assert again.id == first.id and len(fake.orders) == 1
        poor = b.submit(OrderRequest("AAPL", Side.BUY, 10_000), 0)
        assert poor.status is OrderStatus.REJECTED and "insufficient buying power" in poor.reason
        assert len(fake.orders) == 1
        with pytest.raises(OrderRejected, match="positive"):
            b.submit(OrderRequest("AAPL", Side.BUY, 0), 0)
    finally:
        b.close()


def test_refused_keys_are_one_line(fake: FakeAlpaca) -> None:
    b = broker_for(fake, secret="wrong")
    try:
        with pytest.raises(ConfigError, match="refused"):
            b.account()
        with pytest.raises(ConfigError, match="refused"):
            b.add_listener(lambda u: None)
    finally:
        b.close()


def test_reconnect_catches_up_once(fake: FakeAlpaca) -> None:
    b = broker_for(fake)
    try:
        ups = Updates()
        b.add_listener(ups)
        fake.drop_streams(refuse=True)
        time.sleep(0.2)
        o = b.submit(OrderRequest("AAPL", Side.BUY, 50), 0)  # fills while the stream is down
        fake.refuse_streams = False
        ups.wait(lambda items: any(isinstance(u, Fill) for u in items), timeout=15)
        time.sleep(0.3)
        fills = ups.fills()
        assert len(fills) == 1 and fills[0].order_id == o.id and fills[0].quantity == 50
    finally:
        b.close()
