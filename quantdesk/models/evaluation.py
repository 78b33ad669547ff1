"""Honest evaluation: expanding-window walk-forward, every model beside the naive baselines.

The selected days of a data set are cut into folds: the first ``min_train_days``
days train only; then every ``retrain_days`` days each model is retrained on
every day before the fold (minus ``purge_days`` whose targets reach into it)
and predicts the fold's days. Every model and the baselines ``naive``,
``mean`` and ``up`` run on exactly the same folds, and are scored on the same
rows with the same metrics (Qlib's benchmark tables do the same):

=========================  ===================================================================
metric                     definition (on the data set's return target, pooled over folds)
=========================  ===================================================================
``direction_accuracy``     share of rows whose predicted sign (> 0 is up) matches the
                           realised one; rows with a realised return of exactly 0 are left out
``direction_accuracy_ci``  its 95 % interval, clustered by day: stocks move together, so a
                           day's rows are not independent; the standard error comes from the
                           per-day hit counts (cluster-robust), not from a binomial
``mae``                    mean absolute error
``r2_oos``                 out-of-sample R^2 against the naive forecast (tomorrow = today):
                           ``1 - SSE(model) / SSE(naive)`` (seed C calls > 0.02 useful)
``r2_oos_mean``            the same against the historical mean (Campbell-Thompson): the
                           stricter test, since "tomorrow = today" is a poor forecast of returns
``ic`` / ``icir``          per day, Pearson correlation of predictions and realised returns
                           across stocks; mean over days and mean / standard deviation
``rank_ic`` / ``rank_icir``  the same with ranks (Spearman)
``topk_return``            mean daily realised return of the ``top_k`` stocks with the highest
                           prediction (equal weights, no costs); ``universe_return`` is the
                           equal-weighted mean of every stock on the same days
``topk_cum_return``        compounded over the test days
``outside_50``             True when 50 % lies outside ``direction_accuracy_ci``: on the
                           random-walk control that is a probable leak
=========================  ===================================================================

ICs need at least 3 stocks a day with varying predictions (else ``None``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantdesk.errors import ModelError
from quantdesk.models.base import BASELINES, model_class
from quantdesk.models.datasets.base import F64, Dataset

Z95 = 1.959963984540054


@dataclass(frozen=True)
class EvalConfig:
    """How the walk-forward runs (the CLI fills it from settings and options)."""

    min_train_days: int = 60
    retrain_days: int = 20
    purge_days: int = 1
    top_k: int = 3
    seed: int = 0
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Fold:
    train_end: np.datetime64
    test_start: np.datetime64
    test_end: np.datetime64


def walk_forward(days: Sequence[np.datetime64] | np.ndarray, config: EvalConfig) -> list[Fold]:
    """Expanding-window folds over sorted unique ``days``."""
    days = np.asarray(days)
    if config.min_train_days < 2 or config.retrain_days < 1 or config.purge_days < 0:
        raise ModelError("walk-forward: need min_train_days >= 2, retrain_days >= 1, purge >= 0")
    if len(days) <= config.min_train_days + config.purge_days:
        raise ModelError(
            f"walk-forward: {len(days)} days, need more than {config.min_train_days} training"
            f" days + {config.purge_days} purge (a longer range, or --min-train less)"
        )
    folds = []
    for i in range(config.min_train_days, len(days), config.retrain_days):
        j = min(i + config.retrain_days, len(days)) - 1
        folds.append(Fold(days[i - 1 - config.purge_days], days[i], days[j]))
    return folds


# -- metrics -------------------------------------------------------------------


def _none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def direction(pred: F64, real: F64, day: np.ndarray) -> tuple[float, float, float, int]:
    """Accuracy, its day-clustered 95 % interval and the number of rows scored."""
    keep = real != 0
    pred, real, day = pred[keep], real[keep], day[keep]
    n = len(real)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    hit = ((pred > 0) == (real > 0)).astype(np.float64)
    acc = float(hit.mean())
    _, inv = np.unique(day, return_inverse=True)
    hits_d = np.bincount(inv, weights=hit)
    n_d = np.bincount(inv).astype(np.float64)
    g = len(n_d)
    if g >= 2:
        resid = hits_d - acc * n_d
        var = g / (g - 1) * float((resid**2).sum()) / n**2
    else:
        var = acc * (1 - acc) / n
    half = Z95 * math.sqrt(max(var, 0.0))
    return acc, max(0.0, acc - half), min(1.0, acc + half), n


def _ranks(a: F64) -> F64:
    order = a.argsort(kind="stable")
    r = np.empty(len(a))
    r[order] = np.arange(len(a))
    # average ties
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        sums = np.bincount(inv, weights=r)
        r = sums[inv] / counts[inv]
    return r


def daily_ic(pred: F64, real: F64, day: np.ndarray, rank: bool) -> tuple[float, float, int]:
    """Mean daily cross-sectional correlation, its ICIR and the number of days used."""
    values = []
    order = np.argsort(day, kind="stable")
    pred, real, day = pred[order], real[order], day[order]
    bounds = np.flatnonzero(np.r_[True, day[1:] != day[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        p, r = pred[lo:hi], real[lo:hi]
        if hi - lo < 3 or np.ptp(p) == 0 or np.ptp(r) == 0:
            continue
        if rank:
            p, r = _ranks(p), _ranks(r)
        values.append(float(np.corrcoef(p, r)[0, 1]))
    if not values:
        return math.nan, math.nan, 0
    v = np.asarray(values)
    sd = v.std(ddof=1) if len(v) > 1 else math.nan
    return float(v.mean()), float(v.mean() / sd) if sd and sd > 0 else math.nan, len(v)


def top_k(pred: F64, real: F64, day: np.ndarray, k: int) -> tuple[float, float, float]:
    """Mean daily return of the top-k, compounded, and the universe's mean daily return."""
    tops, alls = [], []
    order = np.lexsort((-pred, day))
    pred, real, day = pred[order], real[order], day[order]
    bounds = np.flatnonzero(np.r_[True, day[1:] != day[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        tops.append(float(real[lo : min(hi, lo + k)].mean()))
        alls.append(float(real[lo:hi].mean()))
    if not tops:
        return math.nan, math.nan, math.nan
    t = np.asarray(tops)
    return float(t.mean()), float(np.prod(1 + t) - 1), float(np.mean(alls))


def metrics(pred: F64, real: F64, naive: F64, mean: F64, day: np.ndarray, k: int) -> dict[str, Any]:
    """Every metric of one model's pooled out-of-sample predictions (return target)."""
    acc, lo, hi, n = direction(pred, real, day)
    sse = float(((pred - real) ** 2).sum())
    sse_naive = float(((naive - real) ** 2).sum())
    sse_mean = float(((mean - real) ** 2).sum())
    ic, icir, ic_days = daily_ic(pred, real, day, rank=False)
    ric, ricir, _ = daily_ic(pred, real, day, rank=True)
    topk, topk_cum, universe = top_k(pred, real, day, k)
    return {
        "direction_accuracy": _none(acc),
        "direction_accuracy_ci": [_none(lo), _none(hi)],
        "outside_50": bool(n and not (lo <= 0.5 <= hi)),
        "mae": _none(float(np.abs(pred - real).mean()) if len(real) else math.nan),
        "r2_oos": _none(1 - sse / sse_naive if sse_naive > 0 else math.nan),
        "r2_oos_mean": _none(1 - sse / sse_mean if sse_mean > 0 else math.nan),
        "ic": _none(ic),
        "icir": _none(icir),
        "rank_ic": _none(ric),
        "rank_icir": _none(ricir),
        "ic_days": ic_days,
        "topk_return": _none(topk),
        "topk_cum_return": _none(topk_cum),
        "universe_return": _none(universe),
        "rows": n,
    }


# -- the walk-forward ------------------------------------------------------------


@dataclass
class EvalReport:
    dataset: str
    symbols: int
    rows: int
    days: int
    folds: list[Fold]
    models: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    control: str | None = None
    config: EvalConfig = field(default_factory=EvalConfig)

    def leaks(self) -> list[str]:
        """Models (not baselines) outside 50 % +/- their interval."""
        return [n for n, m in self.models.items() if m.get("outside_50") and n not in BASELINES]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "dataset": self.dataset,
            "control": self.control,
            "symbols": self.symbols,
            "rows": self.rows,
            "days": self.days,
            "folds": len(self.folds),
            "first_test_day": str(self.folds[0].test_start) if self.folds else None,
            "last_test_day": str(self.folds[-1].test_end) if self.folds else None,
            "config": {
                "min_train_days": self.config.min_train_days,
                "retrain_days": self.config.retrain_days,
                "purge_days": self.config.purge_days,
                "top_k": self.config.top_k,
                "seed": self.config.seed,
            },
            "models": self.models,
            "train_seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
        if self.control == "random":
            doc["probable_leaks"] = self.leaks()
        return doc


Progress = Callable[[str, int, int], None]


def evaluate(
    data: Dataset,
    names: Sequence[str],
    config: EvalConfig | None = None,
    *,
    progress: Progress | None = None,
    control: str | None = None,
) -> EvalReport:
    """Walk ``names`` (and the baselines) forward over ``data``; see the module docstring."""
    config = config or EvalConfig()
    days = data.unique_days()
    folds = walk_forward(days, config)
    wanted = list(dict.fromkeys([*names, *BASELINES]))
    for n in wanted:
        model_class(n)  # unknown names fail before any training
    j = data.return_index
    naive_col = data.feature_index([data.naive[data.return_target]])[0]
    preds: dict[str, list[F64]] = {n: [] for n in wanted}
    real, naive, mean, day = [], [], [], []
    seconds = dict.fromkeys(wanted, 0.0)
    total = len(folds) * len(wanted)
    done = 0
    for fold in folds:
        train = data.select(data.selected & (data.days <= fold.train_end))
        test = data.select(
            data.selected
            & (data.days >= fold.test_start)
            & (data.days <= fold.test_end)
            & np.isfinite(data.y[:, j])
        )
        rows = test.rows()
        if not len(rows):
            continue
        real.append(data.y[rows, j])
        naive.append(data.x[rows, naive_col])
        mean.append(np.full(len(rows), data.y[train.labelled(), j].mean()))
        day.append(data.days[rows])
        for n in wanted:
            cls = model_class(n)
            model = cls(dict(config.params.get(n, {})), seed=config.seed)
            t0 = time.perf_counter()
            model.fit(train)
            preds[n].append(model.predict(test)[:, j])
            seconds[n] += time.perf_counter() - t0
            done += 1
            if progress is not None:
                progress(n, done, total)
    if not real:
        raise ModelError(f"walk-forward over {data.name}: no labelled test rows")
    r, nv, mn, d = (np.concatenate(a) for a in (real, naive, mean, day))
    table = {n: metrics(np.concatenate(preds[n]), r, nv, mn, d, config.top_k) for n in wanted}
    return EvalReport(
        dataset=data.name,
        symbols=len(np.unique(data.symbols[data.selected])),
        rows=len(data),
        days=len(days),
        folds=folds,
        models=table,
        seconds=seconds,
        control=control,
        config=config,
    )


def _fmt(x: float | None, spec: str, scale: float = 1.0) -> str:
    if x is None or not math.isfinite(x):
        return format("n/a", ">" + spec.split(".")[0])
    return format(scale * x, spec)


def format_table(report: EvalReport) -> str:
    """The report as a plain-text table (the CLI's output, the README's tables)."""
    head = (
        f"{report.dataset}{' / control ' + report.control if report.control else ''}:"
        f" {report.symbols} stocks, {report.days} days, {len(report.folds)} folds"
        f" (retrain every {report.config.retrain_days} days)"
    )
    cols = (
        f"{'model':<18} {'direction':>9} {'95% interval':>13} {'MAE':>9} {'R2 naive':>8}"
        f" {'R2 mean':>8} {'IC':>7} {'rank IC':>7} {'ICIR':>6} {'top-k/day':>9}"
    )
    lines = [head, cols, "-" * len(cols)]
    for name, m in report.models.items():
        lo, hi = m["direction_accuracy_ci"]
        label = f"{name} (baseline)" if name in BASELINES else name
        if m["outside_50"] and report.control == "random" and name not in BASELINES:
            label += " LEAK?"
        lines.append(
            f"{label:<18} {_fmt(m['direction_accuracy'], '8.1f', 100)}%"
            f" {_fmt(lo, '5.1f', 100):>6}-{_fmt(hi, '5.1f', 100):>5}%"
            f" {_fmt(m['mae'], '9.5f')} {_fmt(m['r2_oos'], '8.3f')}"
            f" {_fmt(m['r2_oos_mean'], '8.4f')}"
            f" {_fmt(m['ic'], '7.3f')} {_fmt(m['rank_ic'], '7.3f')} {_fmt(m['icir'], '6.2f')}"
            f" {_fmt(m['topk_return'], '8.3f', 100)}%"
        )
    return "\n".join(lines)
