"""The model package's side of the scheduled jobs (seed B's noon prediction, weekly
training, monthly cleanup).

:mod:`quantdesk.jobs.services` finds the model named by ``QUANTDESK_MODEL`` in
:data:`~quantdesk.models.base.MODELS` and calls its ``for_jobs(ctx)``, which
returns a :class:`ModelJobs`: the ``predictor``, ``trainer`` and
``model_versions`` protocols of the jobs over the store and the model registry.

=======================  ===============================================================
method                   what it does
=======================  ===============================================================
``predict_day(day)``     the champion (else newest version) predicts each stock's next
                         trading day from rows decided by ``day.decision_ms``; stored
                         in ``predictions``; returns ``id``, ``model``, ``version``,
                         ``target_day``, ``count`` (skipped while no version exists)
``train_incremental(     continues from the newest version on the days up to ``end_ms``
start_ms, end_ms)``      (the new week); with no version yet, trains in full. A failed
                         run stores nothing, so the champion stays
``prune_unaliased(       deletes versions without an alias, older than ``older_than_ms``,
keep, older_than_ms)``   except each model's newest ``keep``
=======================  ===============================================================
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from quantdesk.models import service
from quantdesk.models.registry import ModelRegistry

if TYPE_CHECKING:
    from quantdesk.storage.base import Store


class ModelJobs:
    """Predict, train incrementally and prune versions of model ``name`` for the jobs."""

    def __init__(self, name: str, store: Store, registry: ModelRegistry, market: str) -> None:
        self.name = name
        self.store = store
        self.registry = registry
        self.market = market

    @classmethod
    def from_context(cls, name: str, ctx: Any) -> ModelJobs:
        settings = ctx.settings
        registry = ModelRegistry(ctx.env.engine, settings.resolved_model_dir)
        return cls(name, ctx.store, registry, ctx.market)

    def predict_day(self, day: Any) -> dict[str, Any]:
        if self.registry.versions.latest(self.name) is None:
            from quantdesk.errors import JobSkipped

            raise JobSkipped(f"model {self.name} has no version yet: train it first")
        rows = service.predict(
            self.store, self.registry, self.name, market=self.market, as_of_ms=day.decision_ms
        )
        first = rows[0]
        return {
            "id": f"{self.name}:v{first.version}:{first.made_at}",
            "model": self.name,
            "version": first.version,
            "target_day": max(r.target_day for r in rows).isoformat(),
            "count": len(rows),
        }

    def train_incremental(self, start_ms: int, end_ms: int) -> dict[str, Any]:
        end = dt.datetime.fromtimestamp((end_ms - 1) / 1000, tz=dt.UTC).date()
        has_parent = self.registry.versions.latest(self.name) is not None
        result = service.train(
            self.store,
            self.registry,
            self.name,
            end=end,
            incremental=has_parent,
            market=self.market,
        )
        row = result.row
        return {
            "version": row.version,
            "parent": row.parent_version,
            "data_start": str(row.data_start),
            "data_end": str(row.data_end),
            "seconds": round(result.seconds, 3),
        }

    def prune_unaliased(self, keep_newest: int, older_than_ms: int) -> int:
        return self.registry.prune_unaliased(keep_newest, older_than_ms)
