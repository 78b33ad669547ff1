"""``history_sync`` (daily, 12:00): the morning session's bars complete in the store.

The window is the trading day's first open up to the fire time (A-shares:
9:30-11:30, the whole morning session; US: 9:30-12:00). Every listed,
not-suspended stock must have one 1m bar per session minute in it. With
``QUANTDESK_JOBS_SYNC_SOURCE`` set, the incomplete ones are fetched from that
provider (and their complete intraday roll-ups stored); stocks still
incomplete afterwards fail the run, naming them, so ``predict`` knows what it
works with.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import DataError, JobSkipped
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.sessions import count_bars, fetch_into_store, iso


class HistorySync(Job):
    name: ClassVar[str] = "history_sync"
    title: ClassVar[str] = "the morning session's bars complete in the store"
    schedule: ClassVar[str] = "cron:0 12 * * *"
    trading_days: ClassVar[bool] = True
    order: ClassVar[int] = 30

    def run(self, ctx: JobContext) -> None:
        segments = ctx.calendar.day_segments(ctx.day)
        if not segments:
            raise JobSkipped(f"{ctx.day} is not a trading day")
        start = segments[0][0]
        end = min(ctx.fire_ms - ctx.fire_ms % 60_000, segments[-1][1])
        expected = sum(max(0, min(c, end) - o) // 60_000 for o, c in segments if o < end)
        if expected == 0:
            raise JobSkipped(f"the session of {ctx.day} had not opened at {iso(ctx.fire_ms)}")
        symbols = self._symbols(ctx)
        ctx.inputs.update(window=[iso(start), iso(end)], expected=expected, symbols=len(symbols))
        counts = count_bars(ctx.store, symbols, "1m", start, end)
        short = [s for s, n in counts.items() if n < expected]
        if short and ctx.settings.jobs_sync_source.strip():
            ctx.outputs["fetched"] = fetch_into_store(ctx, short, start, end)
            counts.update(count_bars(ctx.store, short, "1m", start, end))
            short = [s for s in short if counts[s] < expected]
        ctx.outputs.update(complete=len(symbols) - len(short), bars_1m=sum(counts.values()))
        if short:
            ctx.outputs["incomplete"] = {s: counts[s] for s in short}
            hint = (
                ""
                if ctx.settings.jobs_sync_source.strip()
                else "; set QUANTDESK_JOBS_SYNC_SOURCE to fetch them"
            )
            detail = ", ".join(f"{s} {counts[s]}/{expected}" for s in short[:5])
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            raise DataError(
                f"morning bars incomplete for {len(short)} stocks: {detail}{more}{hint}"
            )

    @staticmethod
    def _symbols(ctx: JobContext) -> list[str]:
        from quantdesk.storage.permissions import PermissionRepository

        symbols = [m.symbol for m in ctx.env.universe()]
        repo = PermissionRepository(ctx.env.engine)
        perms = {p.symbol: p for p in repo.all(ctx.market)}
        delisted = {x.symbol for x in repo.listings(ctx.market) if x.status == "delisted"}
        out = [s for s in symbols if s not in delisted and (s not in perms or perms[s].tradable)]
        skipped = sorted(set(symbols) - set(out))
        if skipped:
            ctx.inputs["not_tradable"] = skipped
        return out
