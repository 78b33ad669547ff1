"""The model package's side of the scheduled jobs (seed B's noon prediction, weekly
training, monthly cleanup).

:mod:`quantdesk.jobs.services` finds the model named by ``QUANTDESK_MODEL`` in
:data:`~quantdesk.models.base.MODELS` and calls its ``for_jobs(ctx)``, which
returns a :class:`ModelJobs`: the ``predictor``, ``trainer`` and
``model_versions`` protocols of the jobs over the store and the model registry.

=======================  ===============================================================
method                   what it does
=======================  ===============================================================
``predict_day(day)``     first scores the stored predictions whose target day's bars
                         arrived (A/B outcomes); then the challenger (if any) and the
                         champion (else newest version) predict each stock's next
                         trading day from rows decided by ``day.decision_ms``; stored
                         in ``predictions`` and published on the bus (topic
                         ``predictions``) when the runner hands one over as
                         ``services["bus"]``; returns ``id``, ``model``, ``version``,
                         ``target_day``, ``count``, ``challenger``, ``outcomes``
                         (skipped while no version exists)
``train_incremental(     continues from the newest version on the days up to ``end_ms``
start_ms, end_ms)``      (the new week); with no version yet, trains in full. A failed
                         run stores nothing, so the champion stays
``prune_unaliased(       deletes versions without an alias, older than ``older_than_ms``,
keep, older_than_ms)``   except each model's newest ``keep``
=======================  ===============================================================
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from quantdesk.errors import ModelError, QuantdeskError
from quantdesk.models import service
from quantdesk.models.registry import ModelRegistry
from quantdesk.models.serving import ModelServer

if TYPE_CHECKING:
    from quantdesk.bus import Bus
    from quantdesk.storage.base import Store

log = logging.getLogger("quantdesk.models.jobs")


class ModelJobs:
    """Predict, train incrementally and prune versions of model ``name`` for the jobs."""

    def __init__(
        self,
        name: str,
        store: Store,
        registry: ModelRegistry,
        market: str,
        bus: Bus | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.registry = registry
        self.market = market
        self.server = ModelServer(store, registry, bus=bus, market=market)

    @classmethod
    def from_context(cls, name: str, ctx: Any) -> ModelJobs:
        settings = ctx.settings
        registry = ModelRegistry(ctx.env.engine, settings.resolved_model_dir)
        bus = (getattr(ctx.env, "services", None) or {}).get("bus")
        return cls(name, ctx.store, registry, ctx.market, bus)

    def predict_day(self, day: Any) -> dict[str, Any]:
        if self.registry.versions.latest(self.name) is None:
            from quantdesk.errors import JobSkipped

            raise JobSkipped(f"model {self.name} has no version yet: train it first")
        try:
            scored = self.server.track_outcomes(self.name)
        except QuantdeskError as exc:  # scoring yesterday's never stops today's prediction
            log.warning("model %s: outcomes not scored: %s", self.name, exc)
            scored = 0
        made = self.server.predict(self.name, as_of_ms=day.decision_ms)
        rows = made["champion"]
        if not rows:
            raise ModelError(f"model {self.name}: no stock had a row to predict from")
        first = rows[0]
        challenger = made.get("challenger")
        return {
            "id": f"{self.name}:v{first.version}:{first.made_at}",
            "model": self.name,
            "version": first.version,
            "target_day": max(r.target_day for r in rows).isoformat(),
            "count": len(rows),
            "challenger": challenger[0].version if challenger else None,
            "outcomes": scored,
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
