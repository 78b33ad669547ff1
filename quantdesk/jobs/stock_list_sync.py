"""``stock_list_sync`` (every 3 days): listings, delistings and names from the universe.

The universe is ``QUANTDESK_UNIVERSE_FILE`` when set (a user's list, refreshed
from their provider), else the preset list. New stocks are written to
``stock_metadata`` and recorded listed in ``stock_listings``; stocks that left
the universe are recorded delisted (their metadata and bars stay: history is
never rewritten) and lose their trading permission; a changed name (e.g. an
``ST`` prefix added) updates the metadata. Running it twice changes nothing.
"""

from __future__ import annotations

from typing import ClassVar

from quantdesk.errors import JobSkipped
from quantdesk.jobs.base import Job, JobContext


class StockListSync(Job):
    name: ClassVar[str] = "stock_list_sync"
    title: ClassVar[str] = "listings, delistings and ST names from the universe"
    schedule: ClassVar[str] = "every:3d@08:30"
    order: ClassVar[int] = 5

    def run(self, ctx: JobContext) -> None:
        sync_listings(ctx)


def sync_listings(ctx: JobContext) -> None:
    from quantdesk.jobs.permission_refresh import is_st
    from quantdesk.storage.permissions import Listing, PermissionRepository
    from quantdesk.universe import universe_for

    settings = ctx.settings
    source = f"file {settings.universe_file}" if settings.universe_file else "preset"
    universe = universe_for(settings, ctx.market)
    if not universe:
        raise JobSkipped(f"the universe ({source}) has no {ctx.market} stocks")
    perms = PermissionRepository(ctx.env.engine)
    listings = {x.symbol: x for x in perms.listings(ctx.market)}
    stored = {m.symbol: m for m in ctx.store.list_metadata() if m.market == ctx.market}
    ctx.inputs.update(universe=source, stocks=len(universe), stored=len(stored))
    now = ctx.now_ms
    new_meta = []
    changes: list[Listing] = []
    listed, relisted, renamed = [], [], []
    for meta in universe:
        old = stored.get(meta.symbol)
        if old != meta:
            new_meta.append(meta)
            if old is not None and old.name != meta.name:
                renamed.append(meta.symbol)
        rec = listings.get(meta.symbol)
        if rec is None or rec.status != "listed" or rec.name != meta.name:
            if rec is None:
                listed.append(meta.symbol)
            elif rec.status != "listed":
                relisted.append(meta.symbol)
            changes.append(
                Listing(
                    meta.symbol,
                    ctx.market,
                    meta.name,
                    "listed",
                    rec.listed_ms if rec is not None and rec.status == "listed" else now,
                    None,
                    now,
                    "universe",
                )
            )
    names = {m.symbol for m in universe}
    delisted = []
    for sym in sorted(set(stored) | set(listings)):
        rec = listings.get(sym)
        if sym in names or (rec is not None and rec.status == "delisted"):
            continue
        delisted.append(sym)
        name = rec.name if rec is not None else stored[sym].name
        first = rec.listed_ms if rec is not None else now
        changes.append(Listing(sym, ctx.market, name, "delisted", first, now, now, "universe"))
    if new_meta:
        ctx.store.upsert_metadata(new_meta)
    perms.save_listings(changes)
    if delisted:
        from dataclasses import replace

        current = {p.symbol: p for p in perms.all(ctx.market)}
        perms.save(
            replace(current[s], listed=False, reason="delisted: left the universe", updated_ms=now)
            for s in delisted
            if s in current
        )
    ctx.outputs.update(
        listed=listed,
        relisted=relisted,
        delisted=delisted,
        renamed=renamed,
        st=sorted(m.symbol for m in universe if is_st(m.name)),
        metadata_written=len(new_meta),
    )
