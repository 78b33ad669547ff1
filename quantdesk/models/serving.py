"""Serving predictions in the running platform: hot reload, A/B, the bus, realised outcomes.

A :class:`ModelServer` lives as long as the process that serves (the API, the
scheduled ``predict`` job's runner). For every model it keeps one
:class:`~quantdesk.models.registry.Predictor` per alias, and before each
prediction asks it to :meth:`~quantdesk.models.registry.Predictor.refresh`: one
indexed read of the alias row, and a load only when the alias moved. The read is
skipped when the alias was read less than :data:`RELOAD_INTERVAL_S` (0.1 s) ago,
so the hot path costs no database round trip (PostgreSQL's would take most of a
1 ms prediction budget). So a version promoted by the CLI or another process is
served within about 0.1 s, one promoted through this process's API from the next
prediction on, with no restart (tests promote under live requests;
``benchmarks/bench_serving.py`` measures it).

**A/B.** :meth:`ModelServer.predict` makes the challenger's predictions (when a
challenger exists and is not the champion) and then the champion's, stamped one
millisecond later: readers that take the newest row per symbol and day (the T+1
strategy, ``GET /api/v2/ai/predictions``) use the champion's, while both are
stored, published and scored. :meth:`ModelServer.track_outcomes` scores every
stored prediction whose target day's bars have arrived against what happened
(the data set's own target, so exactly what the model was trained to predict)
and stores each outcome once; :meth:`ModelServer.status` shows each version's
realised direction accuracy (with its 95 % interval) and mean absolute error.

**Publishing.** Every prediction made here is stored, then sent on the bus as a
``prediction`` message (topic ``predictions``, see :mod:`quantdesk.bus.codec`),
which the API's hub forwards to ``/ws/ai-predictions`` (and ``/ws/enhanced``).
A failed send is logged and counted; the stored predictions stand.

**The default model** ``ensemble`` (what ``GET /api/v2/ai/predictions`` serves
without ``model=``) is a model literally named ``ensemble`` when one has
versions, otherwise the configured model (``QUANTDESK_MODEL``, default
``lstm``): the platform's served model, whatever family it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from quantdesk.domain import Prediction
from quantdesk.errors import DataError, ModelError, NotFoundError, QuantdeskError
from quantdesk.models import service
from quantdesk.models.registry import ModelRegistry, Predictor
from quantdesk.storage.models import (
    OutcomeRepository,
    OutcomeRow,
    OutcomeSummary,
    PredictionRepository,
    PredictionRow,
)

if TYPE_CHECKING:
    from quantdesk.bus import Bus
    from quantdesk.models.base import Model
    from quantdesk.storage.base import Store
    from quantdesk.storage.models import VersionRow

log = logging.getLogger("quantdesk.models.serving")

DEFAULT_MODEL: Final = "ensemble"
#: How long a served version is used before the alias row is read again: a promotion by
#: another process is served within this (plus the load); one by this process at once.
RELOAD_INTERVAL_S: Final = 0.1
Z95: Final = 1.959963984540054


def configured_model(settings: Any) -> str:
    """The platform's served model: ``QUANTDESK_MODEL`` where the setting exists, else lstm."""
    return str(getattr(settings, "model", None) or "lstm")


def resolve_model_name(registry: ModelRegistry, name: str, settings: Any) -> str:
    """``ensemble`` -> a model named ``ensemble`` if it has versions, else the configured one."""
    if name != DEFAULT_MODEL or registry.versions.next_version(DEFAULT_MODEL) > 1:
        return name
    return configured_model(settings)


def to_message(row: PredictionRow, alias: str) -> Prediction:
    """A stored prediction as its bus message."""
    return Prediction(
        symbol=row.symbol,
        target_day=row.target_day.isoformat(),
        model=row.model,
        version=row.version,
        alias=alias,
        made_at=row.made_at,
        predicted_open=row.predicted_open,
        predicted_close=row.predicted_close,
        predicted_return=row.predicted_return,
        reference=row.reference,
    )


def wilson(hits: int, n: int) -> tuple[float | None, float | None]:
    """The 95 % Wilson interval of a hit rate (None, None without data)."""
    if n <= 0:
        return None, None
    p = hits / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def outcome_json(s: OutcomeSummary | None) -> dict[str, Any]:
    if s is None:
        return {"scored": 0, "directional": 0, "hits": 0, "direction_accuracy": None,
                "direction_accuracy_ci": [None, None], "mae": None, "first_day": None,
                "last_day": None}  # fmt: skip
    lo, hi = wilson(s.hits, s.count)
    return {
        "scored": s.rows,
        "directional": s.count,
        "hits": s.hits,
        "direction_accuracy": s.accuracy,
        "direction_accuracy_ci": [lo, hi],
        "mae": s.mae,
        "first_day": None if s.first_day is None else s.first_day.isoformat(),
        "last_day": None if s.last_day is None else s.last_day.isoformat(),
    }


class ModelServer:
    """Predicts with each model's champion and challenger, hot-reloading promotions."""

    ALIASES: Final = ("challenger", "champion")  # challenger first: the champion's rows win

    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        *,
        bus: Bus | None = None,
        market: str = "cn",
        reload_interval_s: float = RELOAD_INTERVAL_S,
    ) -> None:
        self.store = store
        self.registry = registry
        self.bus = bus
        self.market = market
        self.reload_interval_s = reload_interval_s
        self._checked: dict[tuple[str, str], float] = {}
        self.published = 0
        self.publish_errors = 0
        #: why the challenger did not predict in the last :meth:`predict` (None: it did)
        self.challenger_error: str | None = None
        self._predictors: dict[tuple[str, str], Predictor] = {}
        self._lock = threading.Lock()

    # -- hot reload ------------------------------------------------------------------

    def predictor(self, name: str, alias: str) -> Predictor:
        key = (name, alias)
        with self._lock:
            p = self._predictors.get(key)
            if p is None:
                p = self._predictors[key] = Predictor(self.registry, name, alias)
        return p

    def served(self, name: str, alias: str = "champion") -> tuple[Model, VersionRow] | None:
        """The (model, version row) ``alias`` of ``name`` serves now, reloaded if the alias
        moved since the last call; None when the alias points nowhere (no challenger)."""
        p = self.predictor(name, alias)
        key = (name, alias)
        now = time.monotonic()
        pair = p._current
        if pair is not None and now - self._checked.get(key, -1e9) < self.reload_interval_s:
            return pair  # checked a moment ago: no database read on the hot path
        try:
            p.refresh()
        except NotFoundError:
            if alias == "champion":
                raise
            return None
        self._checked[key] = now
        return p.current()

    def forget(self, name: str) -> None:
        """Check ``name``'s aliases on the next call (this process just moved one)."""
        for key in [k for k in self._checked if k[0] == name]:
            self._checked.pop(key, None)

    # -- predicting ------------------------------------------------------------------

    def predict(
        self,
        name: str,
        *,
        symbols: Sequence[str] | None = None,
        as_of_ms: int | None = None,
        ab: bool = True,
    ) -> dict[str, list[PredictionRow]]:
        """Predict the next trading day of every stock (or ``symbols``) with the champion
        and, with ``ab``, the challenger; store and publish both. -> rows by alias."""
        champion = self.served(name, "champion")
        assert champion is not None
        pairs: list[tuple[str, tuple[Model, VersionRow]]] = []
        self.challenger_error = None
        if ab:
            try:
                challenger = self.served(name, "challenger")
            except ModelError as exc:  # a broken challenger never stops the champion
                self.challenger_error = str(exc)
                log.warning("model %s: the challenger does not predict: %s", name, exc)
                challenger = None
            if challenger is not None and challenger[1].version != champion[1].version:
                pairs.append(("challenger", challenger))
        pairs.append(("champion", champion))
        # a job's prediction is stamped at its decision time (the clock it runs on)
        made_at = as_of_ms if as_of_ms is not None else int(time.time() * 1000)
        out: dict[str, list[PredictionRow]] = {}
        for k, (alias, pair) in enumerate(pairs):
            rows = service.predict(
                self.store,
                self.registry,
                name,
                symbols=symbols,
                market=self.market,
                as_of_ms=as_of_ms,
                served=pair,
                made_at=made_at + k,  # the champion's rows are the newest
            )
            self.publish(rows, alias)
            out[alias] = rows
        return out

    def publish(self, rows: Sequence[PredictionRow], alias: str) -> int:
        """Send ``rows`` on the bus (topic ``predictions``); how many were sent."""
        if self.bus is None:
            return 0
        sent = 0
        for row in rows:
            try:
                self.bus.send(to_message(row, alias))
                sent += 1
            except Exception as exc:  # the stored predictions stand; the live feed misses it
                self.publish_errors += 1
                log.warning("prediction %s %s not published: %s", row.model, row.symbol, exc)
        self.published += sent
        return sent

    # -- A/B: realised outcomes --------------------------------------------------------

    def track_outcomes(self, name: str) -> int:
        """Score every stored prediction of ``name`` whose target day's bars are stored;
        each outcome is stored once. Returns how many were added."""
        last = None
        for interval in ("1m", "120m", "1d"):
            t = self.store.last_bar_time(interval)
            if t is not None:
                last = t if last is None else max(last, t)
        if last is None:
            return 0
        until = dt.datetime.fromtimestamp(last / 1000, tz=dt.UTC).date()
        preds = PredictionRepository(self.registry.engine)
        pending = preds.unscored(name, until)
        if not pending:
            return 0
        by_dataset: dict[str, list[PredictionRow]] = defaultdict(list)
        for p in pending:
            by_dataset[self._dataset_of(name, p.version)].append(p)
        outcomes: list[OutcomeRow] = []
        now = int(time.time() * 1000)
        for dataset, rows in by_dataset.items():
            realised = self._realised(dataset, rows)
            for p in rows:
                got = realised.get((p.symbol, p.target_day))
                if got is None:
                    continue
                actual, reference = got
                outcomes.append(
                    OutcomeRow(
                        symbol=p.symbol,
                        target_day=p.target_day,
                        model=p.model,
                        version=p.version,
                        predicted_return=p.predicted_return,
                        actual_return=actual,
                        actual_close=reference * (1 + actual),
                        hit=(p.predicted_return > 0) == (actual > 0),
                        abs_error=abs(p.predicted_return - actual),
                        recorded_at=now,
                    )
                )
        return OutcomeRepository(self.registry.engine).add(outcomes)

    def _dataset_of(self, name: str, version: int) -> str:
        try:
            return self.registry.versions.get(name, version).dataset
        except NotFoundError:  # pruned: its predictions were made on the model's data set
            newest = self.registry.versions.latest(name)
            return newest.dataset if newest is not None else "morning"

    def _realised(
        self, dataset: str, rows: Sequence[PredictionRow]
    ) -> dict[tuple[str, dt.date], tuple[float, float]]:
        """(symbol, target day) -> (realised return target, its reference price)."""
        from quantdesk.models.datasets import load_dataset

        symbols = sorted({r.symbol for r in rows})
        start = min(r.target_day for r in rows) - dt.timedelta(days=10)
        end = max(r.target_day for r in rows)
        metas = {m.symbol: m for m in self.store.list_metadata()}
        out: dict[tuple[str, dt.date], tuple[float, float]] = {}
        for sym in symbols:  # one by one: a symbol without bars must not hide the others
            try:
                data = load_dataset(
                    self.store, dataset, symbols=[sym], start=start, end=end, market=self.market
                )
            except QuantdeskError:
                continue
            j = data.return_index
            cal = metas[sym].calendar if sym in metas else self.market
            for i in np.flatnonzero(data.labelled()):
                day = data.days[i].astype(dt.date)
                target = service.next_trading_day(day, cal)
                out[(sym, target)] = (float(data.y[i, j]), float(data.reference[i]))
        return out

    # -- status ----------------------------------------------------------------------

    def status(self, name: str) -> dict[str, Any]:
        """Versions, aliases, holdout metrics beside the baselines and the A/B figures."""
        versions = self.registry.versions.list_versions(name)
        if not versions:
            raise NotFoundError(
                f"model {name} has no version: quantdesk model train --model {name}"
            )
        aliases = {a: self.registry.versions.alias(name, a) for a in ("champion", "challenger")}
        realised = OutcomeRepository(self.registry.engine).summary(name)
        serving = aliases["champion"] or versions[-1].version
        ab = {}
        for alias, v in (("champion", serving), ("challenger", aliases["challenger"])):
            ab[alias] = None if v is None else {"version": v, **outcome_json(realised.get(v))}
        return {
            "name": name,
            "version": serving,
            "champion": aliases["champion"],
            "challenger": aliases["challenger"],
            "versions": [version_json(r, realised.get(r.version)) for r in versions],
            "ab": ab,
        }


def version_json(r: VersionRow, realised: OutcomeSummary | None = None) -> dict[str, Any]:
    """A version as the API shows it (holdout metrics beside the baselines, realised)."""
    return {
        "name": r.name,
        "version": r.version,
        "aliases": list(r.aliases),
        "dataset": r.dataset,
        "trained_range": [
            None if r.data_start is None else r.data_start.isoformat(),
            None if r.data_end is None else r.data_end.isoformat(),
        ],
        "symbols": len(r.symbols),
        "features": list(r.features),
        "targets": list(r.targets),
        "params": r.params,
        "metrics": r.metrics,
        "created_at": r.created_at,
        "parent_version": r.parent_version,
        "size_bytes": r.size_bytes,
        "realised": outcome_json(realised),
    }


def checked_alias(alias: str) -> str:
    from quantdesk.models.registry import ALIASES

    if alias not in ALIASES:
        raise DataError(f"alias: use one of {', '.join(ALIASES)} (got {alias[:32]!r})")
    return alias
