"""``quantdesk model ...`` as a user runs it: train, list, promote, predict, evaluate, samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        "train",
        "evaluate",
        "evaluate-agents",
        "list",
        "promote",
        "rollback",
        "predict",
        "import-sample",
    ],
)
def test_every_model_command_has_help(command: str) -> None:
    result = runner.invoke(app, ["model", command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_train_list_promote_predict(env: Path) -> None:
    assert runner.invoke(app, ["backfill", "--days", "40"]).exit_code == 0
    trained = runner.invoke(app, ["model", "train", "--model", "linear"])
    assert trained.exit_code == 0, trained.output
    assert "linear v1: morning" in trained.output and "holdout naive" in trained.output
    assert (env / "data" / "models" / "linear" / "1.qdm").is_file()
    listed = runner.invoke(app, ["model", "list"])
    assert "linear v1 [challenger]" in listed.output
    promoted = runner.invoke(app, ["model", "promote", "linear", "1"])
    assert promoted.exit_code == 0 and "linear champion -> v1" in promoted.output
    predicted = runner.invoke(app, ["model", "predict", "--model", "linear"])
    assert predicted.exit_code == 0, predicted.output
    assert len(predicted.output.strip().splitlines()) == 10
    assert "(linear v1 champion)" in predicted.output
    # a second version is the challenger: both predict (A/B), the champion's last
    assert runner.invoke(app, ["model", "train", "--model", "linear"]).exit_code == 0
    both = runner.invoke(app, ["model", "predict", "--model", "linear"])
    assert both.exit_code == 0, both.output
    lines = both.output.strip().splitlines()
    assert len(lines) == 20 and lines[0].endswith("(linear v2 challenger)")
    assert lines[-1].endswith("(linear v1 champion)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "nope"], "unknown model 'nope'"),
        (["train", "--model", "lstm", "--incremental"], "no version to continue from"),
        (["train", "--model", "linear", "--start", "2024-13-01"], "--start: not a date"),
        (["train", "--model", "linear", "--symbols", "NOPE"], "NOPE has no 1m or 120m bars"),
        (["train", "--model", "linear", "--param", "alpha"], "--param: use KEY=VALUE"),
        (["promote", "linear", "3"], "no version 3"),
        (["predict", "--model", "linear"], "linear has no version"),
        (["evaluate", "--model", "nope", "--control", "random"], "unknown model 'nope'"),
        (["evaluate", "--control", "weird"], "unknown control 'weird'"),
        (["import-sample", "nope"], "unknown sample 'nope'"),
    ],
)
def test_bad_input_is_one_line(env: Path, args: list[str], message: str) -> None:
    assert runner.invoke(app, ["backfill", "--days", "3", "--symbol", "600036.SH"]).exit_code == 0
    result = runner.invoke(app, ["model", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_evaluate_control_writes_the_json(env: Path) -> None:
    out = env / "eval.json"
    result = runner.invoke(
        app,
        [
            "model",
            "evaluate",
            "--model",
            "linear,rf",
            "--control",
            "random",
            "--stocks",
            "6",
            "--days",
            "110",
            "--min-train",
            "60",
            "--retrain-days",
            "25",
            "--param",
            "rf.n_estimators=10",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["control"] == "random" and doc["probable_leaks"] == []
    assert set(doc["models"]) == {"linear", "rf", "naive", "mean", "up"}
    for m in doc["models"].values():
        assert {
            "direction_accuracy",
            "direction_accuracy_ci",
            "mae",
            "r2_oos",
            "ic",
            "rank_ic",
        } <= set(m)
        assert len(m["direction_accuracy_ci"]) == 2
    assert "naive (baseline)" in result.output


def test_real_samples_import_and_evaluate(env: Path) -> None:
    imported = runner.invoke(app, ["model", "import-sample", "all"])
    assert imported.exit_code == 0, imported.output
    assert "AAPL, GOOG, IBM, MSFT" in imported.output and "IXIC, SPX" in imported.output
    out = env / "real.json"
    result = runner.invoke(
        app,
        [
            "model",
            "evaluate",
            "--model",
            "linear",
            "--dataset",
            "daily",
            "--symbols",
            "AAPL,MSFT,IBM,GOOG",
            "--start",
            "2011-01-01",
            "--min-train",
            "250",
            "--retrain-days",
            "120",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["symbols"] == 4 and doc["models"]["linear"]["rows"] > 500
