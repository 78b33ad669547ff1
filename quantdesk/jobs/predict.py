"""``predict`` (daily, 12:05): tomorrow's predictions for every stock.

Calls the predictor (:class:`quantdesk.jobs.services.Predictor`, the model
named by ``QUANTDESK_MODEL``) after ``history_sync`` completed the morning
bars. The reference it returns (``id``: which stored predictions) is the run's
output, which ``buy`` reads.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import DataError
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.services import resolve, trading_day


class Predict(Job):
    name: ClassVar[str] = "predict"
    title: ClassVar[str] = "tomorrow's predictions for every stock"
    schedule: ClassVar[str] = "cron:5 12 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 40

    def run(self, ctx: JobContext) -> None:
        history = ctx.runs.runs(
            "history_sync", limit=1, fire_from=ctx.fire_ms - 86_400_000, fire_before=ctx.fire_ms + 1
        )
        if history:
            ctx.inputs["history_sync"] = {"run": history[0].id, "status": history[0].status}
        predictor = resolve(ctx, "predictor")
        ref = dict(predictor.predict_day(trading_day(ctx)))
        if not ref.get("id"):
            raise DataError("the predictor returned no 'id' for the predictions it stored")
        ctx.outputs["prediction"] = ref
