"""``train`` (weekly, Saturday 10:00): incremental training on the week's data.

The data range starts where the previous successful ``train`` ended (or a week
before the fire time) and ends at the last close before the fire time; the
trainer (:class:`quantdesk.jobs.services.Trainer`) continues from the newest
version and returns the new one with its parent, both recorded.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import DataError, JobSkipped
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.services import resolve
from quantdesk.jobs.sessions import day_window, iso, last_completed_day

WEEK_MS = 7 * 86_400_000


class Train(Job):
    name: ClassVar[str] = "train"
    title: ClassVar[str] = "weekly incremental training on the week's data"
    schedule: ClassVar[str] = "cron:0 10 * * sat"
    order: ClassVar[int] = 80

    def run(self, ctx: JobContext) -> None:
        day = last_completed_day(ctx.calendar, ctx.fire_ms)
        window = day_window(ctx.calendar, day) if day is not None else None
        if window is None:
            raise JobSkipped("no completed trading day before the fire time")
        end = window[1]
        previous = [
            r
            for r in ctx.runs.runs(self.name, statuses=["ok"], fire_before=ctx.fire_ms, limit=20)
            if "data_end_ms" in r.outputs
        ]
        start = int(previous[0].outputs["data_end_ms"]) if previous else end - WEEK_MS
        if start >= end:
            raise JobSkipped(f"no new data since the last training (up to {iso(start)})")
        ctx.inputs.update(data_start=iso(start), data_end=iso(end))
        if previous:
            ctx.inputs["previous_run"] = previous[0].id
            ctx.inputs["previous_version"] = previous[0].outputs.get("version")
        trainer = resolve(ctx, "trainer")
        result = dict(trainer.train_incremental(start, end))
        if not result.get("version"):
            raise DataError("the trainer returned no 'version' for the model it stored")
        ctx.outputs.update(result)
        ctx.outputs.update(data_start_ms=start, data_end_ms=end)
