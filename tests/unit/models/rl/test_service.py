"""Agents through the training service and the CLI: registry versions, the rl strategy
loading the champion, ``quantdesk model evaluate-agents``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.bars import rollup_bars
from quantdesk.cli import app
from quantdesk.config import load_settings
from quantdesk.models import service
from quantdesk.models.datasets.controls import control_bars, control_universe
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage import open_store
from quantdesk.storage.sql import engine_for
from quantdesk.trading.strategies import make_strategy
from tests.unit.models.rl.conftest import TINY

runner = CliRunner()


def test_train_stores_a_version_scored_beside_the_policies_and_rl_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path))
    settings = load_settings()
    bars, cal = control_bars("random", n_stocks=4, n_days=120, seed=5)
    store = open_store(settings.resolved_database_url)
    engine = engine_for(settings.resolved_database_url)
    try:
        store.upsert_metadata(control_universe(4))
        store.upsert_bars(rollup_bars(bars, ["1d"], calendar=cal))
        registry = ModelRegistry(engine, settings.resolved_model_dir)
        result = service.train(
            store,
            registry,
            "ppo",
            dataset="daily",
            params=TINY["ppo"],
            holdout_days=20,
            promote=True,
        )
        row = result.row
        assert (row.name, row.version, row.dataset) == ("ppo", 1, "daily")
        hold = row.metrics
        assert {"ppo", "buy_and_hold", "random", "t1"} <= set(hold)
        assert hold["holdout_days"] == 20 and "total_return" in hold["ppo"]
        beats = all(
            hold["ppo"]["total_return"] > hold[p]["total_return"]
            for p in ("buy_and_hold", "random", "t1")
        )
        assert result.promoted == beats
        if not beats:
            assert result.note.startswith("not promoted: holdout return not above")
            registry.promote("ppo", 1)
        strategy = make_strategy("rl", model="ppo")  # the champion, from the registry
        assert strategy.agent().seed == 0  # type: ignore[attr-defined]
    finally:
        store.close()
        engine.dispose()


def test_evaluate_agents_command_on_the_random_walk(tmp_path: Path) -> None:
    out = tmp_path / "agents.json"
    args = ["model", "evaluate-agents", "--control", "random", "--stocks", "3", "--days", "90"]
    args += ["--model", "dqn", "--json", str(out)]
    for key, value in TINY["dqn"].items():
        args += ["--param", f"dqn.{key}={value}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "control random" in result.output and "buy_and_hold" in result.output
    doc = json.loads(out.read_text())
    assert set(doc["policies"]) == {"dqn", "buy_and_hold", "random", "t1"}
    assert doc["control"] == "random" and len(doc["symbols"]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "linear"], "linear is not a trading agent"),
        (["--model", "nope"], "unknown model 'nope'"),
        (["--test-fraction", "1.5"], "test fraction must be between 0 and 1"),
    ],
)
def test_evaluate_agents_bad_input_is_one_line(args: list[str], message: str) -> None:
    base = ["model", "evaluate-agents", "--control", "random", "--stocks", "2", "--days", "60"]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
