"""``quantdesk run`` with ``QUANTDESK_BROKER=alpaca``: the run's desk trades through the
local server that speaks Alpaca's protocol; without key and secret, one clear line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantdesk.config import load_settings
from quantdesk.domain.trading import Fill, OrderStatus, Side
from quantdesk.errors import ConfigError
from quantdesk.runtime import runner
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store
from quantdesk.trading.brokers.alpaca import AlpacaBroker
from quantdesk.trading.brokers.routed import RoutedAccount
from quantdesk.trading.orders import OrderRequest
from tests.unit.trading.fake_alpaca import FakeAlpaca

T0 = 1_767_600_017_000


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpaca]:
    monkeypatch.setattr(runner, "now_ms", lambda: T0)
    server = FakeAlpaca()
    monkeypatch.setenv("QUANTDESK_BROKER", "alpaca")
    monkeypatch.setenv("QUANTDESK_ALPACA_KEY_ID", server.key)
    monkeypatch.setenv("QUANTDESK_ALPACA_SECRET_KEY", server.secret)
    monkeypatch.setenv("QUANTDESK_ALPACA_URL", server.base_url)
    monkeypatch.setenv("QUANTDESK_ALPACA_DATA_URL", server.base_url)
    monkeypatch.setenv("QUANTDESK_ALPACA_STREAM_URL", server.stream_url)
    yield server
    server.close()


def make(tmp: Path, said: list[str]) -> Runner:
    s = load_settings(data_dir=tmp, backfill_days=0, seed=11, market="us", tweets="mock")
    rt = Runner(
        s,
        open_store(s.resolved_database_url),
        symbols=["AAPL", "MSFT"],
        test_mode=True,
        echo=said.append,
    )
    return rt


def test_the_run_trades_through_alpaca(fake: FakeAlpaca, tmp_path: Path) -> None:
    said: list[str] = []
    rt = make(tmp_path, said)
    try:
        rt.prepare()
        desk = rt.trading
        assert desk is not None
        assert isinstance(desk.broker, RoutedAccount)
        assert isinstance(desk.broker.remote, AlpacaBroker)
        assert any("on the alpaca account" in m for m in said), said
        got: list[object] = []
        desk.add_listener(got.append)
        desk.broker.market.on_price("AAPL", T0, 190.0)  # a price to check the order against
        order = desk.place(OrderRequest("AAPL", Side.BUY, 150), "admin")
        assert order.status is OrderStatus.ACCEPTED
        deadline = time.time() + 10
        while sum(u.quantity for u in got if isinstance(u, Fill)) < 150:
            assert time.time() < deadline, got
            time.sleep(0.02)
        assert [o["client_order_id"] for o in fake.orders.values()] == [order.id]
        assert sum(f.quantity for f in desk.store.load_fills()) == 150
        assert {p.symbol: p.quantity for p in desk.positions()} == {"AAPL": 150}
    finally:
        asyncio.run(rt.shutdown())
        rt.store.close()


def test_missing_credentials_stop_the_run_with_one_line(
    fake: FakeAlpaca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_ALPACA_KEY_ID", "")
    rt = make(tmp_path, [])
    try:
        with pytest.raises(ConfigError) as err:
            rt.prepare()
        assert "QUANTDESK_ALPACA_KEY_ID" in str(err.value) and "\n" not in str(err.value)
    finally:
        rt.store.close()
