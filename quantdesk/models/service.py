"""Training and predicting as the CLI (and later the scheduled jobs) run them.

``train``: build the data set from stored bars, optionally tune (Optuna), fit
on all but the last ``holdout_days`` days and score that holdout beside the
baselines (the version's stored metrics), refit on every day, store the new
version and point ``challenger`` at it. With ``promote`` the new version also
becomes ``champion`` when it beats every baseline on the holdout (direction
accuracy and MAE); otherwise the champion stays and the reason is returned.
Incremental training (``incremental=True``) continues from the newest version
of the model on the days after that version's data only (seed B's weekly job).

``predict``: the champion (else the newest version) predicts each stock's
newest row; the predictions are stored for the T+1 strategy.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from quantdesk.calendars.sessions import get_calendar
from quantdesk.errors import ModelError
from quantdesk.models.base import BASELINES, Model, model_class
from quantdesk.models.datasets import load_dataset
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.evaluation import metrics
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage.models import PredictionRepository, PredictionRow, VersionRow

if TYPE_CHECKING:
    from quantdesk.storage.base import Store

Progress = Callable[[str, int, int], None]
HOLDOUT_DAYS = 20


@dataclass
class TrainResult:
    row: VersionRow
    promoted: bool
    note: str
    seconds: float
    tuned: dict[str, Any] = field(default_factory=dict)


def holdout_metrics(
    name: str,
    params: dict[str, Any],
    data: Dataset,
    holdout_days: int,
    seed: int,
    parent: Model | None = None,
) -> dict[str, Any]:
    """Fit on all but the last ``holdout_days`` days, score them beside the baselines."""
    days = data.unique_days()
    labelled_days = np.unique(data.days[data.labelled()])
    if holdout_days <= 0 or len(labelled_days) <= holdout_days + 2:
        return {}
    cut = labelled_days[-holdout_days]
    train = data.select(data.selected & (data.days < cut))
    test = data.select(data.labelled() & (data.days >= cut))
    j = data.return_index
    rows = test.rows()
    real = data.y[rows, j]
    naive = data.x[rows, data.feature_index([data.naive[data.return_target]])[0]]
    mean = np.full(len(rows), data.y[train.labelled(), j].mean())
    day = data.days[rows]
    out: dict[str, Any] = {"holdout_days": holdout_days, "holdout_start": str(cut)}
    for n in (name, *BASELINES):
        m = model_class(n)(params if n == name else {}, seed=seed)
        m.fit(train, parent=parent if n == name else None)
        out[n] = metrics(m.predict(test)[:, j], real, naive, mean, day, 3)
    del days
    return out


def beats_baselines(doc: dict[str, Any], name: str) -> tuple[bool, str]:
    """Whether ``name`` beats every baseline on the holdout (direction accuracy and MAE)."""
    if name not in doc:
        return False, "no holdout metrics (too few days)"
    mine = doc[name]
    for b in BASELINES:
        theirs = doc.get(b, {})
        if (mine["direction_accuracy"] or 0) <= (theirs.get("direction_accuracy") or 0):
            return False, f"direction accuracy not above {b}'s on the holdout"
        if b != "naive" and (mine["mae"] or np.inf) > (theirs.get("mae") or np.inf):
            return False, f"MAE above {b}'s on the holdout"
    return True, "beats every baseline on the holdout"


def train(
    store: Store,
    registry: ModelRegistry,
    name: str,
    *,
    dataset: str = "morning",
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    incremental: bool = False,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    market: str = "cn",
    holdout_days: int = HOLDOUT_DAYS,
    promote: bool = False,
    tune_trials: int = 0,
    progress: Progress | None = None,
) -> TrainResult:
    """Train model ``name`` and store it as a new version (see the module docstring)."""
    t0 = time.perf_counter()
    cls = model_class(name)
    if cls.kind == "baseline":
        raise ModelError(f"{name} is a baseline: it is evaluated, not trained")
    parent: Model | None = None
    parent_row: VersionRow | None = None
    if incremental:
        if not cls.incremental:
            raise ModelError(f"model {name} cannot train incrementally (it retrains in full)")
        parent_row = registry.versions.latest(name)
        if parent_row is None:
            raise ModelError(f"model {name} has no version to continue from: train it in full")
        parent, parent_row = registry.load(name, parent_row.version)
        dataset = parent_row.dataset
    data = load_dataset(store, dataset, symbols=symbols, start=start, end=end, market=market)
    if parent_row is not None and parent_row.data_end is not None:
        data = data.select(data.selected & (data.days > np.datetime64(parent_row.data_end, "D")))
        if not data.labelled().any():
            raise ModelError(
                f"model {name}: no new labelled days after version {parent_row.version}'s data"
                f" (ends {parent_row.data_end})"
            )
    params = {**(parent_row.params if parent_row else {}), **(params or {})}
    tuned: dict[str, Any] = {}
    if tune_trials > 0 and parent is None:
        from quantdesk.models.tuning import tune

        result = tune(
            name,
            data.select(data.labelled()),
            trials=tune_trials,
            seed=seed,
            base_params=params,
            progress=(lambda d, t: progress("tune", d, t)) if progress else None,
        )
        params = tuned = result.params
    agent = cls.kind == "agent"
    if agent:  # a trading agent: scored by trading its holdout beside the comparison policies
        from quantdesk.models.rl.evaluation import agent_holdout

        params = {"market": market, **params}
        doc = agent_holdout(name, params, data, holdout_days, seed)
    else:
        doc = holdout_metrics(name, params, data, holdout_days, seed, parent)
    model = cls(params, seed=seed)
    model.fit(
        data,
        parent=parent,
        progress=(lambda d, t: progress("train", d, t)) if progress else None,
    )
    row = registry.register(
        model,
        data,
        metrics=doc,
        parent_version=parent_row.version if parent_row else None,
    )
    registry.versions.set_alias(name, "challenger", row.version)
    promoted, note = False, "challenger"
    if promote:
        if agent:
            from quantdesk.models.rl.evaluation import beats_policies

            ok, why = beats_policies(doc, name)
        else:
            ok, why = beats_baselines(doc, name)
        if ok:
            registry.versions.set_alias(name, "champion", row.version)
            promoted, note = True, f"champion ({why})"
        else:
            note = f"not promoted: {why}"
    return TrainResult(row, promoted, note, time.perf_counter() - t0, tuned)


def next_trading_day(day: dt.date, calendar_name: str) -> dt.date:
    """The trading day after ``day`` (weekdays past the calendar's known range)."""
    cal = get_calendar(calendar_name)
    import bisect

    i = bisect.bisect_right(cal.days, day)
    if cal.days and cal.days[0] <= day and i < len(cal.days):
        return cal.days[i]
    return np.busday_offset(np.datetime64(day, "D"), 1, roll="forward").astype(dt.date)


def predict(
    store: Store,
    registry: ModelRegistry,
    name: str,
    *,
    symbols: Sequence[str] | None = None,
    ref: int | str | None = None,
    market: str = "cn",
    save: bool = True,
    as_of_ms: int | None = None,
    served: tuple[Model, VersionRow] | None = None,
    made_at: int | None = None,
) -> list[PredictionRow]:
    """Predict each stock's next day with the champion (else the newest version); store it.

    With ``as_of_ms`` (a job's decision time) only rows decided by then are used.
    ``served`` is an already loaded (model, version row) (a serving
    :class:`~quantdesk.models.registry.Predictor`'s) used instead of loading ``ref``;
    ``made_at`` (epoch ms) the time stamped on the rows (default: ``as_of_ms`` when
    given, else now).
    """
    model, row = served if served is not None else registry.load(name, ref)
    if as_of_ms is not None:
        last: int | None = as_of_ms
    else:
        last = store.last_bar_time("1d" if row.dataset == "daily" else "1m")
        if last is None and row.dataset == "morning":
            last = store.last_bar_time("120m")
    if last is None:
        raise ModelError("the store has no bars to predict from: run `quantdesk backfill`")
    end = dt.datetime.fromtimestamp(last / 1000, tz=dt.UTC).date() + dt.timedelta(days=1)
    seq = int(model.params.get("seq_len", 1))
    start = end - dt.timedelta(days=max(60, 3 * seq))
    data = load_dataset(store, row.dataset, symbols=symbols, start=start, end=end, market=market)
    if as_of_ms is not None:
        data = data.select(data.selected & (data.decision_time <= as_of_ms))
        if not len(data):
            raise ModelError(f"no {row.dataset} rows decided by {as_of_ms} ms to predict from")
    data = data.latest()
    out = model.predict(data)
    metas = {m.symbol: m for m in store.list_metadata()}
    # a job's prediction is made at its decision time, on the exchange clock it runs on
    # (virtual or wall), so a strategy on that clock sees it from then on
    if made_at is None:
        made_at = as_of_ms if as_of_ms is not None else int(time.time() * 1000)
    rows = data.rows()
    result = []
    for k, i in enumerate(rows):
        sym = str(data.symbols[i])
        ref_price = float(data.reference[i])
        day = data.days[i].astype(dt.date)
        pred = dict(zip(model.targets, out[k].tolist(), strict=True))
        cal = metas[sym].calendar if sym in metas else market
        ret = pred.get(data.return_target, 0.0)
        result.append(
            PredictionRow(
                symbol=sym,
                target_day=next_trading_day(day, cal),
                model=name,
                version=row.version,
                made_at=made_at,
                predicted_open=ref_price * (1 + pred["next_open"]) if "next_open" in pred else None,
                predicted_close=ref_price * (1 + ret),
                predicted_return=ret,
                reference=ref_price,
            )
        )
    if save:
        PredictionRepository(registry.engine).upsert(result)
    return result
