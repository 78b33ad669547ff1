"""``sell`` (daily, 9:35, the morning session): the T+1 strategy's morning half.

Calls the strategy's ``sell_half`` (:class:`quantdesk.jobs.services.StrategyHalves`,
``QUANTDESK_STRATEGY``, default ``t1``): sell every position that became
sellable today. Not retried automatically after a crash (orders may have gone
out): an admin checks the orders and runs it again by hand.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.services import resolve, trading_day


class Sell(Job):
    name: ClassVar[str] = "sell"
    title: ClassVar[str] = "T+1 morning half: sell what became sellable"
    schedule: ClassVar[str] = "cron:35 9 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 20
    retry_interrupted: ClassVar[bool] = False

    def run(self, ctx: JobContext) -> None:
        strategy = resolve(ctx, "strategy")
        ctx.outputs.update(dict(strategy.sell_half(trading_day(ctx))))
