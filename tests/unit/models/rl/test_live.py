"""The ``rl`` strategy drives the live paper account of ``quantdesk run`` (the desk), and
trades exactly what the backtester trades on the same daily bars."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.data import history_from_frame
from quantdesk.bars import rollup_bars
from quantdesk.config import load_settings
from quantdesk.domain.messages import Bar
from quantdesk.models.base import model_class
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.datasets.controls import control_bars
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage.sql import engine_for
from quantdesk.trading.desk import TradingDesk
from quantdesk.trading.strategies import make_strategy
from tests.unit.models.rl.conftest import TINY


def test_the_champion_agent_trades_the_live_desk_as_in_the_backtest(
    walk: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANTDESK_STRATEGY", "rl")
    monkeypatch.setenv("QUANTDESK_RL_AGENT", "dqn")
    settings = load_settings()
    engine = engine_for(settings.resolved_database_url)
    registry = ModelRegistry(engine, settings.resolved_model_dir)
    agent: Any = model_class("dqn")({**TINY["dqn"], "timesteps": 800}, seed=0).fit(walk)
    registry.promote("dqn", registry.register(agent, walk).version)

    bars, cal = control_bars("random", n_stocks=4, n_days=120, seed=5)
    daily = rollup_bars(bars, ["1d"], calendar=cal)
    symbols = sorted(daily["symbol"].unique())
    # QUANTDESK_STRATEGY=rl, QUANTDESK_RL_AGENT=dqn: the registry's champion, as in `run`
    desk = TradingDesk.open(settings, engine, symbols, market="cn")
    assert desk.strategy_name == "rl" and desk.interval == "1d"
    times = sorted(int(t) for t in daily["time"].unique())
    for k, t in enumerate(times):
        day = daily[daily["time"] == t]
        desk.on_output(
            Bar(r.symbol, "1d", t, r.open, r.high, r.low, r.close, r.volume, r.vwap, 1)
            for r in day.itertuples(index=False)
        )
        desk.advance(times[k + 1] if k + 1 < len(times) else t + 86_400_000)
    live = [(f.symbol, f.side.value, f.quantity, f.price) for f in desk.store.load_fills()]

    test = run_backtest(history_from_frame(daily), make_strategy("rl", agent=agent))
    expected = [
        (r.symbol, r.side, int(r.quantity), Decimal(str(r.price)))
        for r in test.fills.itertuples(index=False)
    ]
    assert len(live) > 0
    assert sorted(live) == sorted(expected)
    engine.dispose()
