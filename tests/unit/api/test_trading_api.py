"""/api/v2/trading, /api/v2/risk and /api/v2/backtests over a live desk and over a store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.config import load_settings
from quantdesk.domain.trading import Fill, Side, TradingState
from quantdesk.storage import open_store
from quantdesk.storage.base import Store
from quantdesk.storage.trading import BacktestStore
from quantdesk.trading.desk import TradingDesk
from tests.unit.api._app import LiveTrading, bearer, token
from tests.unit.trading.helpers import at, trading_days
from tests.unit.trading.test_desk import bars_of, feed
from tests.unit.trading.test_strategies import SYMS, intraday_panel


@pytest.fixture
def live(tmp_path: Path) -> Iterator[SimpleNamespace]:
    settings = load_settings(data_dir=tmp_path)
    store = open_store(settings.resolved_database_url)
    store.migrate()
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    desk = TradingDesk.open(
        settings, store.engine, SYMS, market="cn", strategy="buy_and_hold", interval="5m"
    )
    times = sorted(bars)
    feed(desk, {t: bars[t] for t in times if t < at(days[1], 10, 0)})
    app = create_app(ApiContext(store, settings, None, LiveTrading(desk)), echo=lambda _: None)
    client = TestClient(app)
    admin = bearer(token(client, "admin"))
    guest = bearer(token(client, "guest"))
    yield SimpleNamespace(client=client, admin=admin, guest=guest, desk=desk, store=store)
    desk.store.close()
    store.close()


def test_reads(live: SimpleNamespace) -> None:
    c, h = live.client, live.guest
    acct = c.get("/api/v2/trading/account", headers=h).json()
    assert acct["source"] == "live" and acct["initial_cash"] == 1_000_000
    assert acct["equity"] == pytest.approx(acct["cash"] + acct["market_value"])
    pos = c.get("/api/v2/trading/positions", headers=h).json()
    assert {p["symbol"] for p in pos} == set(SYMS)
    assert all(p["sellable_quantity"] == p["quantity"] for p in pos)  # bought on day 1
    orders = c.get("/api/v2/trading/orders", headers=h).json()
    assert len(orders) == len(SYMS) and orders[0]["status"] == "filled"
    assert c.get("/api/v2/trading/orders?status=open", headers=h).json() == []
    one = c.get(f"/api/v2/trading/orders/{orders[0]['id']}", headers=h).json()
    assert one == orders[0]
    assert c.get("/api/v2/trading/orders/nope", headers=h).status_code == 404
    fills = c.get("/api/v2/trading/fills?limit=2", headers=h).json()
    assert len(fills) == 2 and set(fills[0]) >= {"price", "commission", "stamp_duty"}
    curve = c.get("/api/v2/trading/equity", headers=h).json()
    assert curve and curve[-1]["equity"] == pytest.approx(acct["equity"], rel=0.01)
    assert c.get("/api/v2/trading/account").status_code == 401


def test_orders_good_and_bad(live: SimpleNamespace) -> None:
    c, a = live.client, live.admin
    url = "/api/v2/trading/orders"
    n = len(live.desk.store.load_orders())
    bad: list[tuple[Any, str]] = [
        ({"symbol": SYMS[0], "side": "buy", "quantity": 0}, "quantity"),
        ({"symbol": SYMS[0], "side": "buy", "quantity": -100}, "quantity"),
        ({"symbol": SYMS[0], "side": "buy", "quantity": 150}, "multiple of 100"),
        ({"symbol": SYMS[0], "side": "buy", "quantity": 1.5}, "quantity"),
        ({"symbol": "999999.SH", "side": "buy", "quantity": 100}, "unknown symbol"),
        ({"symbol": SYMS[0], "side": "hold", "quantity": 100}, "side"),
        ({"symbol": SYMS[0], "side": "buy", "quantity": 100, "type": "limit"}, "limit_price"),
        (
            {"symbol": SYMS[0], "side": "buy", "quantity": 100, "limit_price": 10},
            "market order takes none",
        ),
        (
            {"symbol": SYMS[0], "side": "buy", "quantity": 100, "type": "limit", "limit_price": 99},
            "outside the day's limits",
        ),
        ({"symbol": SYMS[0], "side": "sell", "quantity": 10**8}, "sellable"),
        ({"symbol": SYMS[0], "side": "buy", "quantity": 100, "extra": 1}, "extra"),
        ([1, 2], "request"),
        ("not json", "JSON"),
    ]
    for body, why in bad:
        r = (
            c.post(url, content=body, headers={**a, "Content-Type": "application/json"})
            if isinstance(body, str)
            else c.post(url, json=body, headers=a)
        )
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and why in detail, (body, detail)
    assert len(live.desk.store.load_orders()) == n  # nothing written
    assert c.post(url, json=bad[0][0], headers=live.guest).status_code == 403
    assert c.post(url, json=bad[0][0]).status_code == 401

    r = c.post(url, json={"symbol": SYMS[0], "side": "buy", "quantity": 100}, headers=a)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["id"] and order["status"] == "accepted" and order["type"] == "market"
    r = c.delete(f"{url}/{order['id']}", headers=live.guest)
    assert r.status_code == 403
    r = c.delete(f"{url}/{order['id']}", headers=a)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert c.delete(f"{url}/{order['id']}", headers=a).status_code == 409
    assert c.delete(f"{url}/unknown", headers=a).status_code == 404

    # denied by the risk engine: stored with its reason, 409
    r = c.put("/api/v2/risk/limits", json={"max_order_value": 100}, headers=a)
    assert r.status_code == 200 and r.json()["limits"]["max_order_value"] == 100
    r = c.post(url, json={"symbol": SYMS[0], "side": "buy", "quantity": 100}, headers=a)
    assert r.status_code == 409 and "order value" in r.json()["detail"]
    denied = [o for o in live.desk.store.load_orders() if o.status.value == "denied"]
    assert len(denied) == 1
    alerts = c.get("/api/v2/risk/alerts", headers=live.guest).json()
    assert alerts[-1]["kind"] == "denied" and "order value" in alerts[-1]["message"]


def test_risk_limits_and_state(live: SimpleNamespace) -> None:
    c, a = live.client, live.admin
    got = c.get("/api/v2/risk/limits", headers=live.guest).json()
    assert got["state"] == "active" and got["live"] is True
    assert set(got["limits"]) >= {"max_position_weight", "daily_loss_limit"}
    for body in (
        {"max_position_weight": 2},
        {"max_position_weight": 0},
        {"nope": 1},
        {},
        {"max_orders_per_minute": -1},
        {"max_order_value": "abc"},
    ):
        r = c.put("/api/v2/risk/limits", json=body, headers=a)
        assert r.status_code == 422, (body, r.text)
    assert c.put("/api/v2/risk/limits", json={"daily_loss_limit": 0.02}).status_code == 401
    assert (
        c.put("/api/v2/risk/limits", json={"daily_loss_limit": 0.02}, headers=live.guest)
    ).status_code == 403
    r = c.put("/api/v2/risk/limits", json={"daily_loss_limit": 0.02}, headers=a)
    assert r.json()["limits"]["daily_loss_limit"] == 0.02
    assert live.desk.risk.limits.daily_loss_limit == 0.02
    r = c.put("/api/v2/risk/state", json={"state": "halted", "reason": "test"}, headers=a)
    assert r.status_code == 200 and r.json()["state"] == "halted" and r.json()["set_by_admin"]
    r = c.post(
        "/api/v2/trading/orders",
        json={"symbol": SYMS[1], "side": "buy", "quantity": 100},
        headers=a,
    )
    assert r.status_code == 409 and "halted" in r.json()["detail"]
    assert c.put("/api/v2/risk/state", json={"state": "off"}, headers=a).status_code == 422
    kinds = [x["kind"] for x in c.get("/api/v2/risk/alerts", headers=a).json()]
    assert "state" in kinds


def test_without_a_desk_reads_come_from_the_store(live: SimpleNamespace, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    store: Store = live.store
    app = create_app(ApiContext(store, settings), echo=lambda _: None)
    c = TestClient(app)
    a = bearer(token(c, "admin"))
    from quantdesk.storage.base import PriceRow

    store.upsert_prices([PriceRow(s, at(trading_days(2)[1], 10, 0), 11.0, 1.0, "t") for s in SYMS])
    acct = c.get("/api/v2/trading/account", headers=a).json()
    assert acct["source"] == "store"
    assert acct["cash"] == pytest.approx(float(live.desk.account().cash))
    pos = c.get("/api/v2/trading/positions", headers=a).json()
    assert {p["symbol"] for p in pos} == set(SYMS) and pos[0]["last_price"] == 11.0
    assert len(c.get("/api/v2/trading/orders", headers=a).json()) == len(SYMS)
    r = c.post(
        "/api/v2/trading/orders",
        json={"symbol": SYMS[0], "side": "buy", "quantity": 100},
        headers=a,
    )
    assert r.status_code == 503 and "quantdesk run" in r.json()["detail"]
    assert c.put("/api/v2/risk/limits", json={"drawdown_alert": 0.2}, headers=a).status_code == 503
    assert c.get("/api/v2/risk/limits", headers=a).json()["live"] is False


def test_backtests(live: SimpleNamespace) -> None:
    c, h = live.client, live.guest
    assert c.get("/api/v2/backtests", headers=h).json() == []
    fills = [
        Fill(f"o{i}-1", f"o{i}", 1_700_000_000_000 + i, SYMS[0], Side.BUY, 100, D("10.00"))
        for i in range(3)
    ]
    BacktestStore(live.store.engine).save_run(
        {
            "id": "run1",
            "created": int(time.time() * 1000),
            "strategy": "ma_cross",
            "market": "cn",
            "interval": "1d",
            "start": None,
            "end": None,
            "symbols": SYMS,
            "cash": D("1000000"),
            "settings": {"fill_volume_share": 0.25},
            "stats": {"total_return": 0.1, "sharpe": 1.2, "buy_and_hold": {"total_return": 0.05}},
            "equity": {
                "time": [1, 2, 3],
                "equity": [100.0, 120.0, 90.0],
                "buy_and_hold": [100.0, 101.0, 102.0],
            },
        },
        fills,
    )
    runs = c.get("/api/v2/backtests", headers=h).json()
    assert [r["id"] for r in runs] == ["run1"] and runs[0]["stats"]["total_return"] == 0.1
    one = c.get("/api/v2/backtests/run1?fills_limit=2", headers=h).json()
    assert one["curve"]["drawdown"] == pytest.approx([0.0, 0.0, -0.25])
    assert one["curve"]["buy_and_hold_drawdown"] == [0.0, 0.0, 0.0]
    assert one["fills_total"] == 3 and len(one["fills"]) == 2
    assert c.get("/api/v2/backtests/nope", headers=h).status_code == 404
    assert c.get("/api/v2/backtests/bad%20id", headers=h).status_code == 422


def test_apart_from_the_account_changes_travel_on_the_bus(
    live: SimpleNamespace, tmp_path: Path
) -> None:
    """An API without the desk (serve) sends orders, cancels, limits and states as control
    messages; the process that trades applies them and the API answers from the store."""
    import threading

    from quantdesk.bus.memory import MemoryBus
    from quantdesk.runtime.control import ControlListener
    from quantdesk.stream.signals import SignalEngine
    from quantdesk.trading.remote import desk_handlers

    bus = MemoryBus()
    listener = ControlListener(bus, SignalEngine([]))
    listener.handlers.update(desk_handlers(live.desk))
    stop = threading.Event()

    def trade() -> None:  # the process that trades: its control poll
        while not stop.is_set():
            listener.poll(0.02)

    worker = threading.Thread(target=trade, daemon=True)
    worker.start()
    try:
        settings = load_settings(data_dir=tmp_path)
        app = create_app(ApiContext(live.store, settings, bus), echo=lambda _: None)
        c = TestClient(app)
        a = bearer(token(c, "admin"))
        url = "/api/v2/trading/orders"
        r = c.post(url, json={"symbol": SYMS[2], "side": "buy", "quantity": 100}, headers=a)
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["status"] == "accepted" and order["client_order_id"].startswith("api-")
        assert live.desk.broker.open_order(order["id"]) is not None
        # bad input found by the account: stored rejected, answered 422
        r = c.post(url, json={"symbol": SYMS[2], "side": "buy", "quantity": 150}, headers=a)
        assert r.status_code == 422 and "multiple of 100" in r.json()["detail"]
        r = c.delete(f"{url}/{order['id']}", headers=a)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        r = c.put("/api/v2/risk/limits", json={"max_position_weight": 0.3}, headers=a)
        assert r.status_code == 200 and r.json()["limits"]["max_position_weight"] == 0.3
        assert c.put("/api/v2/risk/limits", json={"bad": 1}, headers=a).status_code == 422
        r = c.put("/api/v2/risk/state", json={"state": "reducing"}, headers=a)
        assert r.status_code == 200 and r.json()["state"] == "reducing"
        for _ in range(100):
            if live.desk.risk.state is TradingState.REDUCING:
                break
            time.sleep(0.02)
        assert live.desk.risk.limits.max_position_weight == 0.3
        assert live.desk.risk.state is TradingState.REDUCING
    finally:
        stop.set()
        worker.join(2)
    # nothing trades any more: the API says so, and the late order is never placed
    app.state.trading.ANSWER_SECONDS = 0.3
    n = len(live.desk.store.load_orders())
    r = c.post(url, json={"symbol": SYMS[3], "side": "buy", "quantity": 100}, headers=a)
    assert r.status_code == 503 and "no answer" in r.json()["detail"]
    time.sleep(0.35)
    assert listener.poll(0.05) == 0  # after its deadline: dropped
    assert len(live.desk.store.load_orders()) == n


def test_orders_fills_and_alerts_reach_their_websocket_channels(
    live: SimpleNamespace, tmp_path: Path
) -> None:
    """The account publishes on the bus (as in quantdesk run); the hub forwards."""
    from quantdesk.bus.memory import MemoryBus

    bus = MemoryBus()
    bus.start()
    live.desk.add_listener(bus.send)
    settings = load_settings(data_dir=tmp_path)
    ctx = ApiContext(live.store, settings, bus, LiveTrading(live.desk))
    with TestClient(create_app(ctx, echo=lambda _: None)) as c:
        tok = token(c, "admin")
        auth = {"Authorization": f"Bearer {tok}"}
        with (
            c.websocket_connect("/ws/orders", headers=auth) as orders,
            c.websocket_connect("/ws/risk-alerts", headers=auth) as alerts,
            c.websocket_connect("/ws/enhanced", headers=auth) as enhanced,
        ):
            for ws in (orders, alerts, enhanced):
                assert ws.receive_json()["type"] == "welcome"
            body = {"symbol": SYMS[3], "side": "buy", "quantity": 100}
            r = c.post("/api/v2/trading/orders", json=body, headers=auth)
            assert r.status_code == 201
            msg = orders.receive_json()
            assert msg["type"] == "order" and msg["data"]["id"] == r.json()["id"]
            assert msg["data"]["status"] in ("new", "accepted")
            # the next bar fills it: a fill message follows on the same channel
            days = trading_days(2)
            bars = bars_of(intraday_panel(days))
            nxt = [t for t in sorted(bars) if t >= at(days[1], 10, 0)][:2]
            feed(live.desk, {t: bars[t] for t in nxt})
            kinds = set()
            while "fill" not in kinds:
                kinds.add(orders.receive_json()["type"])
            c.put("/api/v2/risk/state", json={"state": "halted"}, headers=auth)
            alert = alerts.receive_json()
            assert alert["type"] == "risk_alert" and alert["data"]["kind"] == "state"
            seen = {enhanced.receive_json()["type"] for _ in range(4)}
            assert "order" in seen
    bus.close()
