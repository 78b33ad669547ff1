"""scikit-learn models on each row's features (seed C's RandomForest, GradientBoosting,
SVM and linear regression). scikit-learn is a main dependency: these predict anywhere.

=========  ===========================================================================
``linear`` standardised features -> ridge regression (``alpha``; 0 = least squares)
``rf``     random forest (``n_estimators``, ``max_depth``, ``min_samples_leaf``)
``gb``     histogram gradient boosting, one per target (``max_iter``,
           ``learning_rate``, ``max_leaf_nodes``), scikit-learn's fast GBM; ``threads``
           OpenMP threads (1: its spinning threads crawl on a busy shared machine)
``svm``    standardised features -> RBF support-vector regression, one per target
           (``C``, ``epsilon``); its O(n^2) fit takes the newest ``max_samples`` rows
=========  ===========================================================================

The fitted estimator is stored with joblib (a pickle: artifacts are trusted).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from quantdesk.models.base import Model, Progress
from quantdesk.models.datasets.base import F64, I64, Dataset


class SklearnModel(Model):
    """A model around one scikit-learn estimator (``_estimator`` builds it)."""

    kind = "tabular"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.estimator: Any = None

    def _estimator(self, n_targets: int) -> Any:
        raise NotImplementedError

    def _train_rows(self, rows: I64) -> I64:
        return rows

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        rows = self._train_rows(rows)
        x, y = self.xs(data, rows), data.y[rows]
        self.estimator = self._estimator(y.shape[1])
        self.estimator.fit(x, y if y.shape[1] > 1 else y[:, 0])

    def _predict(self, data: Dataset, rows: I64) -> F64:
        out = self.estimator.predict(self.xs(data, rows))
        return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)

    def _state(self) -> dict[str, bytes]:
        import joblib

        buf = io.BytesIO()
        joblib.dump(self.estimator, buf)
        return {"estimator.joblib": buf.getvalue()}

    def _restore(self, state: dict[str, bytes]) -> None:
        import joblib

        self.estimator = joblib.load(io.BytesIO(state["estimator.joblib"]))


def _per_target(estimator: Any, n_targets: int) -> Any:
    if n_targets == 1:
        return estimator
    from sklearn.multioutput import MultiOutputRegressor

    return MultiOutputRegressor(estimator)


class Linear(SklearnModel):
    name = "linear"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"alpha": 1.0}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}

    def _estimator(self, n_targets: int) -> Any:
        from sklearn.linear_model import LinearRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        alpha = float(self.params["alpha"])
        reg = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
        return make_pipeline(StandardScaler(), reg)


class RandomForest(SklearnModel):
    name = "rf"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"n_estimators": 100, "max_depth": 6, "min_samples_leaf": 50, "n_jobs": 1}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
            "max_depth": trial.suggest_int("max_depth", 2, 12),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 200, log=True),
        }

    def _estimator(self, n_targets: int) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        p = self.params
        return RandomForestRegressor(
            n_estimators=int(p["n_estimators"]),
            max_depth=int(p["max_depth"]) or None,
            min_samples_leaf=int(p["min_samples_leaf"]),
            n_jobs=int(p["n_jobs"]),
            random_state=self.seed,
        )


class GradientBoosting(SklearnModel):
    name = "gb"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"max_iter": 100, "learning_rate": 0.05, "max_leaf_nodes": 15, "threads": 1}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "max_iter": trial.suggest_int("max_iter", 50, 400, step=50),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 63, log=True),
        }

    def _estimator(self, n_targets: int) -> Any:
        from sklearn.ensemble import HistGradientBoostingRegressor

        p = self.params
        est = HistGradientBoostingRegressor(
            max_iter=int(p["max_iter"]),
            learning_rate=float(p["learning_rate"]),
            max_leaf_nodes=int(p["max_leaf_nodes"]),
            early_stopping=False,
            random_state=self.seed,
        )
        return _per_target(est, n_targets)


class SVM(SklearnModel):
    name = "svm"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"C": 1.0, "epsilon": 0.1, "max_samples": 5000}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
            "epsilon": trial.suggest_float("epsilon", 1e-3, 1.0, log=True),
        }

    def _train_rows(self, rows: I64) -> I64:
        return rows[-int(self.params["max_samples"]) :]

    def _estimator(self, n_targets: int) -> Any:
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVR

        svr = make_pipeline(
            StandardScaler(), SVR(C=float(self.params["C"]), epsilon=float(self.params["epsilon"]))
        )
        # targets are ratios of ~1e-2: scale them so epsilon means the same on every data set
        est = TransformedTargetRegressor(regressor=svr, transformer=StandardScaler())
        return _per_target(est, n_targets)
