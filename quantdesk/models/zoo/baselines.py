"""The naive baselines every model is shown beside (same folds, same metrics).

========  ==================================================================
``naive`` tomorrow's value = today's (each target's ``Dataset.naive`` feature)
``mean``  the training rows' mean of each target (the historical mean return)
``up``    always up: the training rows' mean absolute value of each target
========  ==================================================================
"""

from __future__ import annotations

import io

import numpy as np

from quantdesk.models.base import Model, Progress
from quantdesk.models.datasets.base import F64, I64, Dataset


class _Constant(Model):
    kind = "baseline"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.value = np.zeros(0)

    def _predict(self, data: Dataset, rows: I64) -> F64:
        return np.tile(self.value, (len(rows), 1))

    def _state(self) -> dict[str, bytes]:
        buf = io.BytesIO()
        np.save(buf, self.value)
        return {"value.npy": buf.getvalue()}

    def _restore(self, state: dict[str, bytes]) -> None:
        self.value = np.load(io.BytesIO(state["value.npy"]))


class Mean(_Constant):
    name = "mean"

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        self.value = data.y[rows].mean(axis=0)


class Up(_Constant):
    name = "up"

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        self.value = np.abs(data.y[rows]).mean(axis=0)


class Naive(Model):
    name = "naive"
    kind = "baseline"

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        self.features = tuple(data.naive[t] for t in data.targets)
        self.feature_cols = data.feature_index(self.features)

    def _predict(self, data: Dataset, rows: I64) -> F64:
        return self.xs(data, rows)

    def _state(self) -> dict[str, bytes]:
        return {}

    def _restore(self, state: dict[str, bytes]) -> None:
        return None
