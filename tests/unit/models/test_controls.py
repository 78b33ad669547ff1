"""The two controls: a random walk no model may 'predict', a planted signal models must find.

Small data (seconds): simulated A-shares, two walk-forward folds. The planted
signal is the simulator's ``planted_beta`` (next morning's return = beta x
today's morning return + noise).
"""

from __future__ import annotations

import pytest

from quantdesk.models.base import BASELINES, trainable_names
from quantdesk.models.datasets.controls import control_dataset
from quantdesk.models.evaluation import EvalConfig, evaluate
from tests.unit.models.test_zoo import SMALL

CONFIG = EvalConfig(min_train_days=80, retrain_days=40, seed=0, params=SMALL)


@pytest.fixture(scope="module")
def random_report():  # type: ignore[no-untyped-def]
    data = control_dataset("random", "morning", n_stocks=12, n_days=160, seed=11)
    return evaluate(data, trainable_names(), CONFIG, control="random")


def test_random_walk_every_model_inside_its_interval(random_report) -> None:  # type: ignore[no-untyped-def]
    assert set(random_report.models) == set(trainable_names()) | set(BASELINES)
    for name, m in random_report.models.items():
        lo, hi = m["direction_accuracy_ci"]
        assert lo <= 0.5 <= hi, f"{name}: {m['direction_accuracy']:.3f} [{lo:.3f}, {hi:.3f}]"
        assert not m["outside_50"]
    assert random_report.leaks() == []
    assert random_report.to_json()["probable_leaks"] == []


def test_planted_signal_is_found() -> None:
    data = control_dataset("planted", "morning", n_stocks=20, n_days=200, seed=12, beta=0.6)
    config = EvalConfig(
        min_train_days=100,
        retrain_days=50,
        params={
            "lstm": {"epochs": 30, "hidden": 16, "seq_len": 5, "lr": 3e-3},
            "rf": {"n_estimators": 10},
        },
    )
    report = evaluate(data, ["lstm", "rf"], config, control="planted")
    for name in ("lstm", "rf"):
        m = report.models[name]
        lo, _ = m["direction_accuracy_ci"]
        assert lo > 0.5, f"{name}: {m['direction_accuracy']:.3f}, interval from {lo:.3f}"
        assert m["ic"] > 0.05 and m["rank_ic"] > 0.05
        # and better than the historical mean out of sample
        assert m["r2_oos_mean"] > 0
    for baseline in ("mean", "up"):
        lo, hi = report.models[baseline]["direction_accuracy_ci"]
        assert lo <= 0.5 <= hi


def test_a_leaking_model_is_caught() -> None:
    """A model that peeks at the target (a leak) lies far outside the random-walk interval."""
    import numpy as np

    from quantdesk.models.base import MODELS, Model
    from quantdesk.models.datasets.base import F64, I64, Dataset

    class Peeking(Model):
        name = "peeking"

        def _fit(self, data: Dataset, rows: I64, parent: Model | None, progress: object) -> None:
            return None

        def _predict(self, data: Dataset, rows: I64) -> F64:
            return np.nan_to_num(data.y[rows])  # the future, a leak

        def _state(self) -> dict[str, bytes]:
            return {}

        def _restore(self, state: dict[str, bytes]) -> None:
            return None

    MODELS.register("peeking", Peeking)
    try:
        data = control_dataset("random", "morning", n_stocks=6, n_days=120, seed=2)
        report = evaluate(data, ["peeking"], CONFIG, control="random")
    finally:
        MODELS.unregister("peeking")
    assert report.leaks() == ["peeking"]
    assert report.to_json()["probable_leaks"] == ["peeking"]
