"""``init`` (once): on first start, or when the store has lost its history.

Backfills ``QUANTDESK_BACKFILL_DAYS`` trading days when the store has no bars
(the simulator, or ``QUANTDESK_JOBS_SYNC_SOURCE``'s providers), then records
the universe (``stock_list_sync``) and the trading permissions
(``permission_refresh``), so the daily jobs find what they need.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from quantdesk.jobs.base import Job, JobContext, JobEnvironment
from quantdesk.storage.jobs import JobRepository


class Init(Job):
    name: ClassVar[str] = "init"
    title: ClassVar[str] = "first start: history, universe and permissions"
    schedule: ClassVar[str] = "once"
    order: ClassVar[int] = 0

    def needed_at_start(self, env: JobEnvironment, runs: JobRepository) -> str | None:
        if env.store.last_bar_time("1m") is None:
            return "the store has no bars"
        if not runs.runs(self.name, statuses=["ok"], limit=1):
            return "first start"
        return None

    def run(self, ctx: JobContext) -> None:
        from quantdesk.jobs.permission_refresh import refresh_permissions
        from quantdesk.jobs.stock_list_sync import sync_listings

        store = ctx.store
        ctx.inputs["bars_before"] = store.last_bar_time("1m") is not None
        if not ctx.inputs["bars_before"] and ctx.settings.backfill_days > 0:
            from quantdesk.backfill.run import run_backfill

            source = ctx.settings.jobs_sync_source.strip() or "simulator"
            report = run_backfill(
                store,
                ctx.settings,
                days=ctx.settings.backfill_days,
                market=ctx.market,
                now=dt.datetime.fromtimestamp(ctx.now_ms / 1000, dt.UTC),
                source=source,
            )
            ctx.outputs["backfill"] = {
                "source": report.source,
                "days": report.days,
                "first_day": str(report.first_day),
                "last_day": str(report.last_day),
                "bars": report.bars_total,
                "failures": list(report.failures),
            }
        sync_listings(ctx)
        listing = {k: ctx.outputs.pop(k) for k in list(ctx.outputs) if k != "backfill"}
        refresh_permissions(ctx)
        ctx.outputs["listings"] = listing
