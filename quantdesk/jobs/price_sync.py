"""``price_sync`` (daily, 9:00, before the open): the latest prices into the real-time price table.

For every stock of the market, the close of its newest stored 1m bar before the
fire time becomes its row in ``realtime_prices`` (time = the bar's end), unless
the table already holds a newer price (the live stream wrote it). With
``QUANTDESK_JOBS_SYNC_SOURCE`` set, the previous trading day's 1m bars are
fetched from that provider first. It also refreshes the ``suspended`` flag of
the stored trading permissions: a stock with no bar on the last completed
trading day while others traded is suspended.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import JobSkipped
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.sessions import (
    day_window,
    fetch_into_store,
    iso,
    last_completed_day,
    suspended_on,
)
from quantdesk.storage.base import PriceRow


class PriceSync(Job):
    name: ClassVar[str] = "price_sync"
    title: ClassVar[str] = "latest prices into the real-time price table, before the open"
    schedule: ClassVar[str] = "cron:0 9 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 10

    def run(self, ctx: JobContext) -> None:
        symbols = [m.symbol for m in ctx.env.universe()]
        if not symbols:
            raise JobSkipped("no stocks in the universe")
        store = ctx.store
        prev_day = last_completed_day(ctx.calendar, ctx.fire_ms)
        ctx.inputs.update(
            symbols=len(symbols), bars_before=iso(ctx.fire_ms), last_day=str(prev_day)
        )
        if ctx.settings.jobs_sync_source.strip() and prev_day is not None:
            window = day_window(ctx.calendar, prev_day)
            assert window is not None
            ctx.outputs["fetched"] = fetch_into_store(ctx, symbols, window[0], window[1])
        existing = {p.symbol: p for p in store.get_prices(symbols)}
        rows: list[PriceRow] = []
        kept: list[str] = []
        missing: list[str] = []
        for sym in symbols:
            bars = store.query_bars(sym, "1m", None, ctx.fire_ms, 1)
            if not bars:
                missing.append(sym)
                continue
            bar = bars[0]
            t = int(bar[2]) + 60_000
            current = existing.get(sym)
            if current is not None and current.time >= t:
                kept.append(sym)
                continue
            rows.append(PriceRow(sym, t, float(bar[6]), float(bar[7]), str(bar[10])))
        if len(missing) == len(symbols):
            raise JobSkipped(f"no stored 1m bars before {iso(ctx.fire_ms)}: nothing to sync")
        store.upsert_prices(rows)
        ctx.outputs.update(
            prices_written=len(rows),
            newer_kept=kept,
            no_bars=missing,
            newest=iso(max((r.time for r in rows), default=None)),
        )
        if prev_day is not None:
            flags = suspended_on(store, symbols, ctx.calendar, prev_day)
            if flags is not None:
                from quantdesk.storage.permissions import PermissionRepository

                reason = f"no trade on {prev_day} while the market traded"
                changed = PermissionRepository(ctx.env.engine).set_suspended(
                    {s: (v, reason if v else f"traded on {prev_day}") for s, v in flags.items()},
                    ctx.now_ms,
                )
                ctx.outputs["suspended"] = sorted(s for s, v in flags.items() if v)
                ctx.outputs["permissions_changed"] = changed
