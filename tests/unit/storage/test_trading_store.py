"""Orders, fills, alerts and backtest runs on SQLite and PostgreSQL (SQL written once)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quantdesk.domain.trading import (
    AlertKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RiskAlert,
    Side,
    TradingState,
)
from quantdesk.errors import NotFoundError
from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import BacktestStore, TradingStore


def test_trading_store_round_trips_exact_money(store_url: str) -> None:
    engine = engine_for(store_url)
    try:
        st = TradingStore(engine)
        assert st.initial_cash(D("1000000.01")) == D("1000000.01")
        assert st.initial_cash(D("5")) == D("1000000.01")  # stored once
        o = Order(
            "o1",
            "c1",
            "600000.SH",
            Side.BUY,
            OrderType.LIMIT,
            300,
            D("10.01"),
            created=5,
            updated=5,
        )
        st.save_order(o)
        f1 = Fill(
            "o1-1", "o1", 7, "600000.SH", Side.BUY, 100, D("10.01"), D("5.00"), D("0"), D("0.01")
        )
        f2 = Fill(
            "o1-2", "o1", 8, "600000.SH", Side.BUY, 200, D("9.9999"), D("0"), D("0"), D("0.02")
        )
        done = o.evolve(
            status=OrderStatus.FILLED,
            filled_quantity=300,
            filled_value=D("3000.9800"),
            commission=D("5.00"),
            updated=8,
        )
        st.save_execution([f1, f2], [done])
        st.save_execution([f1], [])  # a replayed fill: ignored
        assert st.load_fills() == [f1, f2]
        assert st.load_orders() == [done]
        assert st.load_orders(open_only=True) == []
        assert st.find_client_order("c1") == done and st.find_client_order("x") is None
        assert st.get_order("o1") == done
        with pytest.raises(NotFoundError):
            st.get_order("nope")
        assert st.query_fills(start=8) == [f2] and st.query_fills(limit=1) == [f2]
        st.save_order(
            Order(
                "o2",
                "c2",
                "X",
                Side.SELL,
                OrderType.MARKET,
                100,
                status=OrderStatus.DENIED,
                reason="cash: needs more",
            )
        )
        assert st.denial_counts() == {"cash": 1}
        alert = RiskAlert("a1", 9, AlertKind.STATE, "active -> halted", state=TradingState.HALTED)
        st.save_alert(alert)
        st.save_alert(alert)
        assert st.query_alerts() == [alert]
        other = TradingStore(engine, account="other")
        assert other.load_orders() == [] and other.load_fills() == []

        runs = BacktestStore(engine)
        runs.save_run(
            {
                "id": "r1",
                "created": 1,
                "strategy": "t1",
                "market": "cn",
                "interval": "5m",
                "start": None,
                "end": 10,
                "symbols": ["600000.SH"],
                "cash": D("1000000"),
                "settings": {"fill_volume_share": 0.25},
                "stats": {"total_return": 0.1},
                "equity": {"time": [1, 2], "equity": [1.0, 2.0]},
            },
            [f1, f2],
        )
        row = runs.get_run("r1")
        assert row.strategy == "t1" and row.stats == {"total_return": 0.1} and row.end == 10
        assert [r.id for r in runs.list_runs()] == ["r1"]
        assert [(f.quantity, f.price) for f in runs.run_fills("r1")] == [
            (100, D("10.01")),
            (200, D("9.9999")),
        ]
        with pytest.raises(NotFoundError):
            runs.get_run("nope")
    finally:
        engine.dispose()


def test_wal_checkpoints_leave_the_commit_path(tmp_path: object) -> None:
    import time
    from pathlib import Path

    path = Path(str(tmp_path)) / "paper.db"
    engine = engine_for(f"sqlite:///{path}")
    st = TradingStore(engine, checkpoint_seconds=0.05)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        for i in range(50):
            st.save_order(Order(f"o{i}", f"c{i}", "X", Side.BUY, OrderType.MARKET, 100))
        checkpointer = st._checkpointer
        assert checkpointer is not None
        deadline = time.time() + 5
        while checkpointer.runs < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert checkpointer.runs >= 2
        assert len(st.load_orders()) == 50
    finally:
        st.close()
        engine.dispose()
