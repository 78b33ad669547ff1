"""quantdesk.backtest on stored bars: the result's shape, the stored run, the CLI."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

import quantdesk
from quantdesk.backtest import FILL_COLUMNS, run_backtest
from quantdesk.backtest.data import history_from_frame, load_history
from quantdesk.backtest.stats import benchmark_curve, curve_stats
from quantdesk.cli import app
from quantdesk.domain import BAR_COLUMNS
from quantdesk.domain.trading import money
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage import open_store
from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import BacktestStore
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import rules_for
from tests.unit.trading.helpers import daily_panel

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    frame = daily_panel(n_sym=6, n_days=80, seed=4)
    frame["interval"] = "1d"
    frame["vwap"] = frame["close"]
    frame["trades"] = 10
    frame["source"] = "test"
    with open_store(url) as store:
        store.upsert_bars(frame.loc[:, list(BAR_COLUMNS)])
    monkeypatch.setenv("QUANTDESK_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    return url


def test_backtest_api_result_and_stored_run(db: str) -> None:
    syms = [f"{600000 + k:06d}.SH" for k in range(6)]
    r = quantdesk.backtest(
        strategy="ma_cross", symbols=syms, market="cn", cash=500_000, fast=5, slow=15
    )
    assert tuple(r.fills.columns) == FILL_COLUMNS
    assert str(r.fills["time"].dt.tz) == "UTC"
    assert set(r.fills["side"]) <= {"buy", "sell"} and len(r.fills) > 0
    assert isinstance(r.equity, pd.Series) and len(r.equity) == 80
    for key in (
        "total_return",
        "annual_return",
        "sharpe",
        "max_drawdown",
        "turnover",
        "fees",
        "trades",
        "win_rate",
    ):
        assert key in r.stats and key in r.stats["buy_and_hold"]
    assert r.stats["trades"] == len(r.fills)
    # the last equity is the ledger's cash plus the shares at the last closes
    led = Ledger.rebuild(rules_for("cn"), D(500_000), r.fill_records)
    with open_store(db) as store:
        last = load_history(store, syms, "1d").latest("close")
    held = sum(h.quantity * last[syms.index(s)] for s, h in led.holdings.items())
    assert r.equity.iloc[-1] == pytest.approx(float(led.cash) + held)
    assert r.stats["fees"] == pytest.approx(float(sum(f.fees for f in r.fill_records)))
    engine = engine_for(db)
    try:
        run = BacktestStore(engine).get_run(r.run_id)
        assert run.strategy == "ma_cross" and run.symbols == syms and run.cash == money(500_000)
        assert run.settings["strategy_params"] == {"fast": 5, "slow": 15, "warmup": 16}
        assert run.settings["commission_rate"] == 0.00025
        assert run.stats["trades"] == len(r.fills)
        assert len(run.equity["equity"]) == 80
        assert len(BacktestStore(engine).run_fills(r.run_id)) == len(r.fills)
    finally:
        engine.dispose()


def test_bad_input(db: str) -> None:
    with pytest.raises(NotFoundError, match="no 1d bars"):
        quantdesk.backtest(strategy="ma_cross", symbols=["688999.SH"], save=False)
    with pytest.raises(DataError, match="start must be before end"):
        quantdesk.backtest(strategy="ma_cross", start="2024-03-01", end="2024-02-01", save=False)
    with pytest.raises(Exception, match="unknown strategy"):
        quantdesk.backtest(strategy="nope", save=False)


def test_cli(db: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "backtest",
            "--strategy",
            "momentum",
            "--symbols",
            "600000.SH,600001.SH,600002.SH",
            "--cash",
            "300000",
            "--json",
            str(out),
            "--start",
            "2024-01-01",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "buy-and-hold" in res.output and "run " in res.output
    doc = orjson.loads(out.read_bytes())
    assert doc["strategy"] == "momentum" and set(doc["fills"][0]) == set(FILL_COLUMNS)
    bad = runner.invoke(app, ["backtest", "--strategy", "nope"])
    assert bad.exit_code == 2 and "unknown strategy 'nope'" in bad.output
    bad = runner.invoke(app, ["backtest", "--strategy", "ma_cross", "--start", "yesterday"])
    assert bad.exit_code == 2 and "--start" in bad.output
    bad = runner.invoke(app, ["backtest", "--strategy", "ma_cross", "--cash", "0"])
    assert bad.exit_code == 2 and "--cash" in bad.output


def test_load_history_aligns_times(db: str) -> None:
    with open_store(db) as store:
        h = load_history(store, ["600000.SH", "600001.SH"], "1d", None, None)
    assert h.field("close").shape == (80, 2) and not np.isnan(h.field("close")).any()


def test_stats() -> None:
    eq = np.array([100.0, 110.0, 99.0, 121.0])
    days = np.array([0, 1, 2, 3])
    s = curve_stats(eq, days, 100.0)
    assert s["total_return"] == pytest.approx(0.21)
    assert s["max_drawdown"] == pytest.approx(0.1)
    close = np.array([[1.0, np.nan], [2.0, 4.0], [np.nan, 2.0]])
    assert benchmark_curve(close, 100.0).tolist() == [100.0, 150.0, 125.0]


def test_fees_in_the_result_equal_the_formulas() -> None:
    h = history_from_frame(daily_panel(n_sym=3, n_days=40, start=dt.date(2023, 7, 3)))
    r = run_backtest(h, "ma_cross", market="cn", fast=3, slow=8)
    sells = r.fills[r.fills.side == "sell"]
    assert len(sells) > 0
    for row in sells.itertuples():
        rate = (
            0.001 if row.time.tz_convert("Asia/Shanghai").date() < dt.date(2023, 8, 28) else 0.0005
        )
        value = D(str(row.price)) * row.quantity
        assert D(str(row.stamp_duty)) == money(D(str(rate)) * value)
