"""Ensembles over other models (seed C): ``voting``, ``stacking`` and ``bma``.

``members`` names the models (default ``linear``, ``rf``, ``gb``: scikit-learn
only, so an ensemble predicts with the main dependencies), ``member_params``
gives each its parameters (``{"rf": {"n_estimators": 50}}``).

==========  ===========================================================================
``voting``  the mean of the members' predictions (``weights`` optional)
``stacking`` a ridge meta-learner over the members' *out-of-fold* predictions: the
            training days are cut into ``folds`` consecutive blocks; each block is
            predicted by members trained only on the blocks before it (minus a
            ``purge`` of days whose targets reach into it), then the members are
            refitted on everything
``bma``     Bayesian model averaging: the same out-of-fold predictions give each
            member's Gaussian log-likelihood of the return target (variance by
            maximum likelihood); weights are the posterior probabilities under a
            uniform prior, ``w_m = exp(l_m - max l) / sum(...)``. With much data they
            concentrate on the best member, as the posterior does.
==========  ===========================================================================

The members are stored inside the ensemble's artifact (each one an artifact).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from quantdesk.errors import ModelError
from quantdesk.models.base import Model, Progress, model_class, model_from_bytes
from quantdesk.models.datasets.base import F64, I64, Dataset


class Ensemble(Model):
    kind = "ensemble"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(self.params["members"])
        if not names:
            raise ModelError(f"model {self.name}: members must name at least one model")
        bad = [n for n in names if model_class(n).kind == "ensemble"]
        if bad:
            raise ModelError(f"model {self.name}: an ensemble cannot contain {', '.join(bad)}")
        self.members: list[Model] = []

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"members": ["linear", "rf", "gb"], "member_params": {}}

    def _new_members(self) -> list[Model]:
        extra = dict(self.params.get("member_params") or {})
        return [
            model_class(n)({**extra.get(n, {})}, seed=self.seed + i)
            for i, n in enumerate(self.params["members"])
        ]

    def _fit_members(self, data: Dataset, progress: Progress | None) -> list[Model]:
        members = self._new_members()
        for i, m in enumerate(members):
            m.fit(data)
            if progress is not None:
                progress(i + 1, len(members))
        return members

    def _member_preds(self, members: list[Model], data: Dataset) -> F64:
        """``(members, rows, targets)``."""
        return np.stack([m.predict(data) for m in members])

    def _oof(self, data: Dataset, rows: I64) -> tuple[F64, I64]:
        """Out-of-fold member predictions ``(members, n, targets)`` and their rows."""
        folds = int(self.params.get("folds", 4))
        purge = int(self.params.get("purge", 1))
        days = np.unique(data.days[rows])
        if len(days) < 2 * folds:
            raise ModelError(
                f"model {self.name}: {len(days)} training days, need at least {2 * folds}"
            )
        edges = np.linspace(0, len(days), folds + 1).astype(int)
        preds, where = [], []
        for k in range(1, folds):
            test_days = days[edges[k] : edges[k + 1]]
            train_end = days[max(edges[k] - purge, 1) - 1]
            train = np.zeros(data.n_rows, dtype=bool)
            train[rows] = data.days[rows] <= train_end
            test = np.zeros(data.n_rows, dtype=bool)
            test[rows] = np.isin(data.days[rows], test_days)
            members = self._new_members()
            for m in members:
                m.fit(data.select(train))
            preds.append(self._member_preds(members, data.select(test)))
            where.append(np.flatnonzero(test))
        return np.concatenate(preds, axis=1), np.concatenate(where)

    def _predict(self, data: Dataset, rows: I64) -> F64:
        return self._combine(self._member_preds(self.members, data))

    def _combine(self, preds: F64) -> F64:
        raise NotImplementedError

    def _state(self) -> dict[str, bytes]:
        state = {f"member{i}.qdm": m.to_bytes() for i, m in enumerate(self.members)}
        state["combiner.json"] = json.dumps(self._combiner()).encode()
        return state

    def _combiner(self) -> dict[str, Any]:
        return {}

    def _restore(self, state: dict[str, bytes]) -> None:
        keys = sorted(
            (k for k in state if k.startswith("member")),
            key=lambda k: int(k.removeprefix("member").removesuffix(".qdm")),
        )
        self.members = [model_from_bytes(state[k], f"member {k}") for k in keys]
        self._load_combiner(json.loads(state["combiner.json"]))

    def _load_combiner(self, doc: dict[str, Any]) -> None:
        return None


class Voting(Ensemble):
    name = "voting"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), "weights": []}

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        self.members = self._fit_members(data, progress)

    def _combine(self, preds: F64) -> F64:
        w = np.asarray(self.params.get("weights") or [1.0] * len(preds), dtype=np.float64)
        if len(w) != len(preds):
            raise ModelError(f"model voting: {len(w)} weights for {len(preds)} members")
        return np.tensordot(w / w.sum(), preds, axes=1)


class Stacking(Ensemble):
    name = "stacking"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coef = np.zeros(0)
        self.intercept = np.zeros(0)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), "folds": 4, "purge": 1, "alpha": 1e-6}

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        oof, where = self._oof(data, rows)
        y = data.y[where]
        n_members, _, n_targets = oof.shape
        alpha = float(self.params["alpha"])
        self.coef = np.zeros((n_targets, n_members))
        self.intercept = np.zeros(n_targets)
        for j in range(n_targets):
            x = oof[:, :, j].T
            xm, ym = x.mean(axis=0), y[:, j].mean()
            xc = x - xm
            scale = np.mean(xc * xc) or 1.0
            a = xc.T @ xc + alpha * scale * len(xc) * np.eye(n_members)
            beta = np.linalg.solve(a, xc.T @ (y[:, j] - ym))
            self.coef[j] = beta
            self.intercept[j] = ym - xm @ beta
        self.members = self._fit_members(data, progress)

    def _combine(self, preds: F64) -> F64:
        return np.einsum("mnt,tm->nt", preds, self.coef) + self.intercept

    def _combiner(self) -> dict[str, Any]:
        return {"coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    def _load_combiner(self, doc: dict[str, Any]) -> None:
        self.coef = np.asarray(doc["coef"], dtype=np.float64)
        self.intercept = np.asarray(doc["intercept"], dtype=np.float64)


class BMA(Ensemble):
    name = "bma"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.weights = np.zeros(0)
        self.loglik = np.zeros(0)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), "folds": 4, "purge": 1}

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        oof, where = self._oof(data, rows)
        j = data.return_index
        resid = oof[:, :, j] - data.y[where, j][None, :]
        n = resid.shape[1]
        var = np.maximum((resid**2).mean(axis=1), 1e-18)
        self.loglik = -0.5 * n * (np.log(2 * np.pi * var) + 1.0)
        w = np.exp(self.loglik - self.loglik.max())
        self.weights = w / w.sum()
        self.members = self._fit_members(data, progress)

    def _combine(self, preds: F64) -> F64:
        return np.tensordot(self.weights, preds, axes=1)

    def _combiner(self) -> dict[str, Any]:
        return {"weights": self.weights.tolist(), "loglik": self.loglik.tolist()}

    def _load_combiner(self, doc: dict[str, Any]) -> None:
        self.weights = np.asarray(doc["weights"], dtype=np.float64)
        self.loglik = np.asarray(doc["loglik"], dtype=np.float64)
