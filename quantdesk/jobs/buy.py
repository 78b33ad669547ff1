"""``buy`` (daily, 13:30, the afternoon session): the T+1 strategy's afternoon half.

It buys on today's prediction when today's ``predict`` succeeded, else on the
latest stored one (seed B: a failed prediction never stops the buy), and
records which it used (``inputs.prediction``: the ``predict`` run, its day, and
why). With no stored prediction at all it is ``skipped``. Not retried
automatically after a crash (orders may have gone out).
"""

from __future__ import annotations

from typing import Any, ClassVar

from quantdesk.errors import JobSkipped
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.services import resolve, trading_day


class Buy(Job):
    name: ClassVar[str] = "buy"
    title: ClassVar[str] = "T+1 afternoon half: buy the top predicted gains"
    schedule: ClassVar[str] = "cron:30 13 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 50
    retry_interrupted: ClassVar[bool] = False

    def run(self, ctx: JobContext) -> None:
        prediction = choose_prediction(ctx)
        ctx.inputs["prediction"] = prediction
        strategy = resolve(ctx, "strategy")
        ctx.outputs.update(dict(strategy.buy_half(trading_day(ctx), prediction["ref"])))


def choose_prediction(ctx: JobContext) -> dict[str, Any]:
    """Today's ``predict`` output, else the newest stored one; raises JobSkipped if none."""
    window = ctx.calendar.day_segments(ctx.day)
    day_start = window[0][0] - 4 * 3_600_000 if window else ctx.fire_ms - 86_400_000
    runs = ctx.runs.runs("predict", fire_before=ctx.now_ms + 1, limit=200)
    ok = [r for r in runs if r.status == "ok" and r.outputs.get("prediction")]
    today = [r for r in runs if r.fire_ms >= day_start]
    if ok and ok[0].fire_ms >= day_start:
        run = ok[0]
        return {
            "source": "today",
            "run": run.id,
            "fire": run.fire_ms,
            "ref": run.outputs["prediction"],
        }
    if not ok:
        raise JobSkipped("no stored prediction: predict has not succeeded yet")
    run = ok[0]
    why = (
        f"today's predict {today[0].status}" + (f" ({today[0].error})" if today[0].error else "")
        if today
        else "predict did not run today"
    )
    return {
        "source": "latest stored",
        "reason": why,
        "run": run.id,
        "fire": run.fire_ms,
        "day": str(ctx.calendar.date_of(run.fire_ms)),
        "ref": run.outputs["prediction"],
    }
