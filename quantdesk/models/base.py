"""The model interface (seed B's "model service"): fit, predict, save, load, declared inputs.

A model predicts every target of a :class:`~quantdesk.models.datasets.Dataset`
(``morning``: the next morning's open and close ratios; ``daily``: the next
day's return) from the features it declares, for every stock with one model.
Implementations are chosen by name from :data:`MODELS`; a user adds one by
subclassing :class:`Model` and registering it (``MODELS.register("mine",
"mypkg.model:MyModel")``, or the entry-point group ``quantdesk.models``).

=======================  ========  ===========================================================
method / attribute       required  what it does
=======================  ========  ===========================================================
``name``                 yes       registry name (class attribute)
``_fit(data, rows,       yes       train on ``data.x[rows]`` (columns ``self.feature_cols``)
parent, progress)``                and ``data.y[rows]``; ``parent`` is the previous version
                                   when training incrementally
``_predict(data,         yes       an array ``(len(rows), len(self.targets))``; ``data``
rows)``                            keeps the history before ``rows`` for sequence models
``_state()`` /           yes       the fitted state as named byte strings, and back
``_restore(state)``
``defaults()``           no        default hyper-parameters (``params`` overrides them;
                                   an unknown key is a one-line error)
``search_space(trial)``  no        Optuna search space (``quantdesk model train --tune``)
``incremental``          no        True when ``fit(..., parent=...)`` continues from the
                                   parent's state (default False: refused)
``default_features``     no        dataset name -> feature names the model uses there
                                   (default: all of the dataset's)
``kind``                 no        ``baseline``, ``tabular``, ``sequence``, ``ensemble`` or
                                   ``agent`` (a trading agent: :mod:`quantdesk.models.rl`)
``for_jobs(ctx)``        no        what the scheduled jobs call (predict, train, prune); the
                                   default serves every model (:mod:`quantdesk.models.jobs`)
=======================  ========  ===========================================================

The public methods wrap these: :meth:`Model.fit` checks the data (enough
labelled rows, the parent compatible), :meth:`Model.predict` the fitted state
and the features, :meth:`Model.save` writes one artifact file atomically and
:func:`load_model` reads it back, checking every member's SHA-256 (a damaged
file is one :class:`~quantdesk.errors.ModelError`).

Artifact format (``.qdm``): a ZIP archive with ``model.json`` (format, model
name, params, seed, dataset, features, targets, checksums of the members) and
the members ``_state()`` returned. Artifacts are trusted files written by this
platform (scikit-learn estimators inside are pickles): load only your own.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from quantdesk.errors import ConfigError, DependencyError, ModelError
from quantdesk.models.datasets.base import F64, I64, Dataset
from quantdesk.plugins import Registry

__all__ = ["MODELS", "Model", "Progress", "load_model", "model_class"]

#: ``progress(done, total)``: called as training advances (epochs, members, ...).
Progress = Callable[[int, int], None]
FORMAT = "quantdesk-model/1"
#: Fewer labelled rows than this and a model refuses to train.
MIN_ROWS = 30


class Model(ABC):
    """Base class of every model; see the module docstring for the table of methods."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "tabular"
    incremental: ClassVar[bool] = False
    default_features: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
        defaults = self.defaults()
        given = dict(params or {})
        unknown = sorted(set(given) - set(defaults) - {"features"})
        if unknown:
            known = ", ".join(sorted(defaults)) or "none"
            raise ConfigError(
                f"model {self.name}: unknown parameter(s) {', '.join(unknown)}; known: {known}"
            )
        self.params: dict[str, Any] = {**defaults, **given}
        self.seed = int(seed)
        self.dataset = ""
        self.features: tuple[str, ...] = tuple(given.get("features") or ())
        self.targets: tuple[str, ...] = ()
        self.fitted = False
        self.feature_cols: list[int] = []

    # -- optional hooks --------------------------------------------------------

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default hyper-parameters."""
        return {}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Hyper-parameters for one Optuna ``trial`` (empty: nothing to tune)."""
        return {}

    @classmethod
    def for_jobs(cls, ctx: Any) -> Any:
        """The scheduled jobs' predictor / trainer / version pruner for this model
        (:class:`quantdesk.models.jobs.ModelJobs`; ``ctx`` is a job's context)."""
        from quantdesk.models.jobs import ModelJobs

        return ModelJobs.from_context(cls.name, ctx)

    # -- the interface -----------------------------------------------------------

    def fit(
        self, data: Dataset, *, parent: Model | None = None, progress: Progress | None = None
    ) -> Model:
        """Train on the labelled selected rows of ``data`` (continuing from ``parent``)."""
        if parent is not None:
            if not self.incremental:
                raise ModelError(f"model {self.name} cannot train incrementally")
            if parent.name != self.name or not parent.fitted:
                raise ModelError(f"the parent of {self.name} must be a trained {self.name}")
            if parent.dataset != data.name:
                raise ModelError(
                    f"the parent of {self.name} was trained on {parent.dataset}, not {data.name}"
                )
            self.features = parent.features
        self._bind(data)
        rows = np.flatnonzero(data.labelled())
        need = 1 if parent is not None else MIN_ROWS
        if len(rows) < need:
            raise ModelError(
                f"model {self.name}: {len(rows)} labelled rows in {data.name}, need at least"
                f" {need} (a longer date range or more symbols)"
            )
        self._fit(data, rows, parent, progress)
        self.fitted = True
        return self

    def predict(self, data: Dataset) -> F64:
        """Predictions ``(len(data), len(targets))`` for the selected rows of ``data``."""
        if not self.fitted:
            raise ModelError(f"model {self.name} is not trained")
        if data.name != self.dataset:
            raise ModelError(f"model {self.name} was trained on {self.dataset}, not {data.name}")
        self.feature_cols = data.feature_index(self.features)
        rows = data.rows()
        if not len(rows):
            return np.empty((0, len(self.targets)))
        out = np.asarray(self._predict(data, rows), dtype=np.float64)
        return out.reshape(len(rows), len(self.targets))

    def _bind(self, data: Dataset) -> None:
        if data.name not in ("morning", "daily") and not data.name:
            raise ModelError("a dataset needs a name")
        self.dataset = data.name
        if not self.features:
            self.features = tuple(self.default_features.get(data.name, data.features))
        self.feature_cols = data.feature_index(self.features)
        self.targets = data.targets

    def xs(self, data: Dataset, rows: I64) -> F64:
        """The model's feature columns of ``rows``."""
        return data.x[np.ix_(rows, np.asarray(self.feature_cols, dtype=np.int64))]

    @abstractmethod
    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None: ...

    @abstractmethod
    def _predict(self, data: Dataset, rows: I64) -> F64: ...

    @abstractmethod
    def _state(self) -> dict[str, bytes]: ...

    @abstractmethod
    def _restore(self, state: dict[str, bytes]) -> None: ...

    # -- artifacts -------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.name,
            "params": self.params,
            "seed": self.seed,
            "dataset": self.dataset,
            "features": list(self.features),
            "targets": list(self.targets),
        }

    def to_bytes(self) -> bytes:
        """The artifact as bytes (what :meth:`save` writes)."""
        if not self.fitted:
            raise ModelError(f"model {self.name} is not trained: nothing to save")
        state = self._state()
        header = self.header()
        header["members"] = {k: hashlib.sha256(v).hexdigest() for k, v in state.items()}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model.json", json.dumps(header, sort_keys=True, default=_json))
            for key, value in state.items():
                zf.writestr(key, value)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the artifact to ``path`` atomically (a crash leaves the old file or none)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self.to_bytes()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".qdm")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read an artifact written by :meth:`save` (any model; see :func:`load_model`)."""
        return load_model(path)


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _corrupt(where: str, why: str) -> ModelError:
    return ModelError(
        f"model artifact {where} is corrupt ({why}): retrain it or promote another version"
    )


def model_from_bytes(blob: bytes, where: str = "<bytes>") -> Model:
    """A model from artifact bytes (checksums verified)."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            header = json.loads(zf.read("model.json"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise _corrupt(where, "not a quantdesk model file")
            state: dict[str, bytes] = {}
            for key, digest in dict(header.get("members", {})).items():
                data = zf.read(key)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise _corrupt(where, f"checksum mismatch in {key}")
                state[key] = data
    except ModelError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as exc:
        raise _corrupt(where, str(exc) or type(exc).__name__) from None
    cls = model_class(str(header.get("model", "")))
    model = cls(header.get("params") or {}, seed=int(header.get("seed", 0)))
    model.dataset = str(header.get("dataset", ""))
    model.features = tuple(header.get("features", ()))
    model.targets = tuple(header.get("targets", ()))
    try:
        model._restore(state)
    except (ModelError, DependencyError):  # a missing extra is not a corrupt file
        raise
    except Exception as exc:  # a payload that does not parse
        raise _corrupt(where, f"{type(exc).__name__}: {exc}") from None
    model.fitted = True
    return model


def load_model(path: str | Path) -> Model:
    """Read the artifact at ``path``; one :class:`ModelError` if it is missing or damaged."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model artifact {p} does not exist") from None
    return model_from_bytes(blob, str(p))


#: Every model by name. Heavy implementations are imported on first use.
MODELS: Registry[type[Model]] = Registry("model", "--model")
for _name, _where in {
    "naive": "quantdesk.models.zoo.baselines:Naive",
    "mean": "quantdesk.models.zoo.baselines:Mean",
    "up": "quantdesk.models.zoo.baselines:Up",
    "linear": "quantdesk.models.zoo.tabular:Linear",
    "rf": "quantdesk.models.zoo.tabular:RandomForest",
    "gb": "quantdesk.models.zoo.tabular:GradientBoosting",
    "svm": "quantdesk.models.zoo.tabular:SVM",
    "xgboost": "quantdesk.models.zoo.boosting:XGBoost",
    "lightgbm": "quantdesk.models.zoo.boosting:LightGBM",
    "lstm": "quantdesk.models.zoo.nets:LSTM",
    "transformer": "quantdesk.models.zoo.nets:Transformer",
    "cnn_lstm": "quantdesk.models.zoo.nets:CNNLSTM",
    "voting": "quantdesk.models.zoo.ensembles:Voting",
    "stacking": "quantdesk.models.zoo.ensembles:Stacking",
    "bma": "quantdesk.models.zoo.ensembles:BMA",
    "ppo": "quantdesk.models.rl.agents:PPOAgent",
    "dqn": "quantdesk.models.rl.agents:DQNAgent",
}.items():
    MODELS.register(_name, _where)

#: The naive baselines every evaluation runs beside the models.
BASELINES = ("naive", "mean", "up")


def model_class(name: str) -> type[Model]:
    """The class registered under ``name`` (one-line error for an unknown name)."""
    try:
        return MODELS.get(name)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None


def trainable_names() -> list[str]:
    """Every registered forecasting model (not the baselines, not the trading agents of
    kind ``agent``, which :mod:`quantdesk.models.rl.evaluation` scores), in registry order."""
    return [n for n in MODELS.names() if n not in BASELINES and model_class(n).kind != "agent"]
