"""``order_sync`` (daily, 15:30; 16:30 on the US market, after the close): settle the day.

Calls the broker's ``settle_day`` (:class:`quantdesk.jobs.services.Settler`,
``QUANTDESK_BROKER``, default ``paper``): the day's orders and fills stored and
settled, the day's P&L stored. Settling is idempotent, so an interrupted run
is retried.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.services import resolve, trading_day


class OrderSync(Job):
    name: ClassVar[str] = "order_sync"
    title: ClassVar[str] = "the day's orders and fills settled, the day's P&L stored"
    schedule: ClassVar[str] = "cron:30 15 * * *"
    schedule_us: ClassVar[str | None] = "cron:30 16 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 60

    def run(self, ctx: JobContext) -> None:
        broker = resolve(ctx, "broker")
        ctx.outputs.update(dict(broker.settle_day(trading_day(ctx))))
