"""XGBoost and LightGBM (seed C), in the ``ml`` extra: ``pip install 'quantdesk[ml]'``.

Both continue boosting from their parent version when trained incrementally
(``--incremental``: ``incremental_rounds`` more trees on the new rows). Stored
in each library's own text format (no pickle), so an artifact loads in a
later version of the library.

============  ===============================================================
``xgboost``   ``n_estimators``, ``max_depth``, ``learning_rate``, ``subsample``;
              one multi-output booster (``multi_strategy`` one tree per target)
``lightgbm``  ``n_estimators``, ``num_leaves``, ``learning_rate``,
              ``min_child_samples``; one booster per target
============  ===============================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantdesk.errors import DependencyError
from quantdesk.models.base import Model, Progress
from quantdesk.models.datasets.base import F64, I64, Dataset


def _need(module: str, dist: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DependencyError(f"model {module} needs {dist}: pip install 'quantdesk[ml]'") from None


class XGBoost(Model):
    name = "xgboost"
    kind = "tabular"
    incremental = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.booster: Any = None

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "max_depth": 4,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "incremental_rounds": 20,
            "n_jobs": 1,
        }

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 500, step=50),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        }

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        xgb = _need("xgboost", "xgboost-cpu")
        p = self.params
        dtrain = xgb.DMatrix(self.xs(data, rows), label=data.y[rows])
        params = {
            "max_depth": int(p["max_depth"]),
            "eta": float(p["learning_rate"]),
            "subsample": float(p["subsample"]),
            "objective": "reg:squarederror",
            "tree_method": "hist",
            "seed": self.seed,
            "nthread": int(p["n_jobs"]),
        }
        if data.y.shape[1] > 1:
            params["multi_strategy"] = "one_output_per_tree"
        base = parent.booster if isinstance(parent, XGBoost) else None
        rounds = int(p["incremental_rounds"] if base is not None else p["n_estimators"])
        self.booster = xgb.train(params, dtrain, num_boost_round=rounds, xgb_model=base)

    def _predict(self, data: Dataset, rows: I64) -> F64:
        xgb = _need("xgboost", "xgboost-cpu")
        out = self.booster.predict(xgb.DMatrix(self.xs(data, rows)))
        return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)

    def _state(self) -> dict[str, bytes]:
        return {"booster.json": bytes(self.booster.save_raw("json"))}

    def _restore(self, state: dict[str, bytes]) -> None:
        xgb = _need("xgboost", "xgboost-cpu")
        booster = xgb.Booster()
        booster.load_model(bytearray(state["booster.json"]))
        self.booster = booster


class LightGBM(Model):
    name = "lightgbm"
    kind = "tabular"
    incremental = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boosters: list[Any] = []

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "n_estimators": 200,
            "num_leaves": 15,
            "learning_rate": 0.05,
            "min_child_samples": 50,
            "incremental_rounds": 20,
            "n_jobs": 1,
        }

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 500, step=50),
            "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        }

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        lgb = _need("lightgbm", "lightgbm")
        p = self.params
        params = {
            "objective": "regression",
            "num_leaves": int(p["num_leaves"]),
            "learning_rate": float(p["learning_rate"]),
            "min_child_samples": int(p["min_child_samples"]),
            "seed": self.seed,
            "deterministic": True,
            "num_threads": int(p["n_jobs"]),
            "verbose": -1,
        }
        x = self.xs(data, rows)
        bases = parent.boosters if isinstance(parent, LightGBM) else [None] * data.y.shape[1]
        rounds = int(p["incremental_rounds"] if parent is not None else p["n_estimators"])
        self.boosters = [
            lgb.train(
                params,
                lgb.Dataset(x, label=data.y[rows, j], free_raw_data=True),
                num_boost_round=rounds,
                init_model=base,
                keep_training_booster=False,
            )
            for j, base in enumerate(bases)
        ]

    def _predict(self, data: Dataset, rows: I64) -> F64:
        x = self.xs(data, rows)
        return np.column_stack([b.predict(x) for b in self.boosters])

    def _state(self) -> dict[str, bytes]:
        return {
            f"booster{j}.txt": b.model_to_string().encode() for j, b in enumerate(self.boosters)
        }

    def _restore(self, state: dict[str, bytes]) -> None:
        lgb = _need("lightgbm", "lightgbm")
        keys = sorted(state, key=lambda k: int(k.removeprefix("booster").removesuffix(".txt")))
        self.boosters = [lgb.Booster(model_str=state[k].decode()) for k in keys]
