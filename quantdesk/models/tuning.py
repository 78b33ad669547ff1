"""Hyper-parameter search with Optuna over purged walk-forward folds (``ml`` extra).

The training days are cut into ``folds + 1`` consecutive blocks; trial ``t``
fits on blocks ``0..k-1`` (minus ``purge_days`` whose targets reach into block
``k``) and scores block ``k``, for ``k = 1..folds``; the objective is the mean
squared error of the return target averaged over the folds (lower is better).
The search space is each model's :meth:`~quantdesk.models.base.Model.search_space`;
the budget is a number of trials (``QUANTDESK_MODEL_TUNE_TRIALS``) and
optionally seconds. The sampler is seeded (TPE), so a search is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantdesk.errors import DependencyError, ModelError
from quantdesk.models.base import Model, model_class
from quantdesk.models.datasets.base import Dataset


@dataclass(frozen=True)
class TuneResult:
    params: dict[str, Any]
    score: float
    trials: int


def purged_folds(data: Dataset, folds: int, purge_days: int) -> list[tuple[Dataset, Dataset]]:
    """``(train, test)`` views of ``data`` for the expanding, purged folds."""
    days = data.unique_days()
    if len(days) < 2 * (folds + 1):
        raise ModelError(f"tuning: {len(days)} days, need at least {2 * (folds + 1)}")
    edges = np.linspace(0, len(days), folds + 2).astype(int)
    out = []
    for k in range(1, folds + 1):
        last_train = days[max(edges[k] - purge_days, 1) - 1]
        test_days = days[edges[k] : edges[k + 1]]
        train = data.select(data.selected & (data.days <= last_train))
        test = data.select(data.selected & np.isin(data.days, test_days))
        out.append((train, test))
    return out


def tune(
    name: str,
    data: Dataset,
    *,
    trials: int = 20,
    timeout_s: float | None = None,
    folds: int = 3,
    purge_days: int = 1,
    seed: int = 0,
    base_params: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TuneResult:
    """The best parameters of model ``name`` found in ``trials`` Optuna trials."""
    try:
        import optuna
    except ImportError:
        raise DependencyError("tuning needs optuna: pip install 'quantdesk[ml]'") from None
    cls = model_class(name)
    if cls.search_space.__qualname__ == Model.search_space.__qualname__:
        raise ModelError(f"model {name} has no hyper-parameters to tune")
    splits = purged_folds(data, folds, purge_days)
    j = data.return_index
    done = [0]

    def objective(trial: Any) -> float:
        params = {**(base_params or {}), **cls.search_space(trial)}
        errors = []
        for train, test in splits:
            model = cls(params, seed=seed).fit(train)
            labelled = test.select(test.labelled())
            pred = model.predict(labelled)[:, j]
            real = labelled.y[labelled.rows(), j]
            errors.append(float(np.mean((pred - real) ** 2)))
        done[0] += 1
        if progress is not None:
            progress(done[0], trials)
        return float(np.mean(errors))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, timeout=timeout_s)
    best = {**(base_params or {}), **study.best_params}
    return TuneResult(best, float(study.best_value), len(study.trials))
