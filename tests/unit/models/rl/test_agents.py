"""PPO and DQN: reproducible, registry versions, the rl strategy, the missing-extra line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantdesk.errors import DependencyError, ModelError
from quantdesk.models.base import MODELS, model_class, trainable_names
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.rl.evaluation import POLICIES, evaluate_agents
from tests.unit.models.rl.conftest import TINY


@pytest.mark.parametrize("name", ["ppo", "dqn"])
def test_same_seed_same_policy_same_out_of_sample_return(walk: Dataset, name: str) -> None:
    runs = [
        evaluate_agents(walk, [name], params=TINY, seed=seed, test_fraction=0.4) for seed in (7, 7)
    ]
    assert runs[0].rows == runs[1].rows
    assert set(runs[0].rows) == {name, *POLICIES}
    same = [model_class(name)(TINY[name], seed=7).fit(walk) for _ in range(2)]
    obs = np.random.default_rng(0).normal(size=(50, len(walk.features) + 5)).astype(np.float32)
    assert np.array_equal(same[0].act(obs), same[1].act(obs))  # type: ignore[attr-defined]


def test_comparison_policies_trade_as_described(walk: Dataset) -> None:
    report = evaluate_agents(walk, [], seed=1, test_fraction=0.4)
    rows = report.rows
    assert rows["buy_and_hold"]["trades"] == len(report.symbols)  # one buy each, held
    assert rows["random"]["trades"] > rows["buy_and_hold"]["trades"]
    assert rows["random"]["fees"] > rows["buy_and_hold"]["fees"] > 0
    assert report.test_days[0] > report.train_days[1]


def test_artifact_round_trip_and_registry_version(walk: Dataset, tmp_path: Path) -> None:
    from quantdesk.models.base import load_model
    from quantdesk.models.registry import ModelRegistry
    from quantdesk.storage.sql import engine_for

    agent: Any = model_class("ppo")(TINY["ppo"], seed=2).fit(walk)
    back: Any = load_model(agent.save(tmp_path / "ppo.qdm"))
    obs = np.random.default_rng(1).normal(size=(40, len(walk.features) + 5)).astype(np.float32)
    assert np.array_equal(agent.act(obs), back.act(obs))
    assert np.array_equal(agent.predict(walk), back.predict(walk))
    engine = engine_for(f"sqlite:///{tmp_path / 'q.db'}")
    registry = ModelRegistry(engine, tmp_path / "models")
    row = registry.register(agent, walk)
    loaded, got = registry.load("ppo", row.version)
    assert got.version == 1 and got.dataset == "daily"
    assert np.array_equal(loaded.act(obs), agent.act(obs))  # type: ignore[attr-defined]
    engine.dispose()


def test_agents_are_not_forecasters(walk: Dataset, small_morning: Dataset) -> None:
    assert {"ppo", "dqn"} <= set(MODELS.names())
    assert "ppo" not in trainable_names() and "dqn" not in trainable_names()
    with pytest.raises(ModelError, match="--dataset daily"):
        model_class("dqn")(TINY["dqn"]).fit(small_morning)


def test_without_the_ml_extra_one_line_names_the_install(
    walk: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantdesk.models.base import model_from_bytes

    trained = model_class("ppo")(TINY["ppo"]).fit(walk).to_bytes()
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # as if not installed
    with pytest.raises(DependencyError) as err:
        model_class("ppo")(TINY["ppo"]).fit(walk)
    line = "reinforcement-learning agents need stable_baselines3: pip install 'quantdesk[ml]'"
    assert str(err.value) == line
    with pytest.raises(DependencyError, match=r"pip install 'quantdesk\[ml\]'"):
        model_from_bytes(trained)  # loading a stored agent (the rl strategy) says the same


def test_rl_strategy_trades_the_agents_decisions_through_the_paper_broker(
    walk: Dataset,
) -> None:
    """The backtester (paper broker, risk engine) runs the ``rl`` strategy; every buy it
    made was the agent's action on the same day's features for a flat position."""
    from quantdesk.backtest import run_backtest
    from quantdesk.backtest.data import history_from_frame
    from quantdesk.bars import rollup_bars
    from quantdesk.models.datasets.controls import control_bars
    from quantdesk.trading.strategies import make_strategy

    bars, cal = control_bars("random", n_stocks=4, n_days=120, seed=5)
    daily = rollup_bars(bars, ["1d"], calendar=cal)
    agent: Any = model_class("dqn")({**TINY["dqn"], "timesteps": 800}, seed=0).fit(walk)
    result = run_backtest(history_from_frame(daily), make_strategy("rl", agent=agent))
    buys = result.fills[result.fills["side"] == "buy"]
    assert len(buys) > 0
    wants = agent.predict(walk)[:, 0]  # 1: a flat agent buys at that row's close
    rows = walk.rows().tolist()
    local = buys["time"].dt.tz_convert(str(cal.tz)).dt.strftime("%Y-%m-%d")
    for sym, day in zip(buys["symbol"].tolist(), local.tolist(), strict=True):
        before = [r for r in rows if walk.symbols[r] == sym and walk.days[r] < np.datetime64(day)]
        assert wants[rows.index(before[-1])] == 1.0, (sym, day)
