"""``permission_refresh`` (every 6 months): per-stock trading permissions for the risk checks.

For every stock of the market (the universe, plus stocks recorded delisted):

* ``board`` from the A-share code (``688``/``689`` STAR, ``300``/``301``
  ChiNext, ``4``/``8``/``920`` Beijing, other codes main board; US stocks
  ``us``), which sets the daily limit band the risk checks apply;
* ``st`` from the name (``ST``, ``*ST``, ``S*ST``, ``SST`` prefixes: special
  treatment, ±5% on the main boards);
* ``suspended`` when it did not trade on the last completed trading day while
  the market did (``price_sync`` refreshes this flag every morning);
* ``listed`` from ``stock_listings`` (``stock_list_sync``).

Stored in ``stock_permissions`` (:class:`quantdesk.storage.permissions.PermissionRepository`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

from quantdesk.errors import JobSkipped
from quantdesk.jobs.base import Job, JobContext
from quantdesk.jobs.sessions import last_completed_day, suspended_on

# ST, *ST, S*ST, SST: a prefix not followed by a latin letter ("Star Co" is no ST stock)
_ST = re.compile(r"^(?:S\*ST|SST|\*ST|ST)(?![A-Z])")


def board_of(symbol: str, market: str) -> str:
    """The listing board of a stock code (``main``, ``star``, ``chinext``, ``bse``, ``us``)."""
    if market != "cn":
        return "us"
    code = symbol.split(".")[0]
    if code.startswith(("688", "689")):
        return "star"
    if code.startswith(("300", "301")):
        return "chinext"
    if code.startswith(("920", "4", "8")) or symbol.upper().endswith(".BJ"):
        return "bse"
    return "main"


def is_st(name: str) -> bool:
    """Whether an A-share name carries a special-treatment prefix."""
    return _ST.match(name.strip().upper()) is not None


class PermissionRefresh(Job):
    name: ClassVar[str] = "permission_refresh"
    title: ClassVar[str] = "per-stock trading permissions (board, ST, suspended) for risk checks"
    schedule: ClassVar[str] = "cron:0 8 1 1,7 *"
    order: ClassVar[int] = 6

    def run(self, ctx: JobContext) -> None:
        refresh_permissions(ctx)


def refresh_permissions(ctx: JobContext) -> None:
    from quantdesk.storage.permissions import Permission, PermissionRepository

    repo = PermissionRepository(ctx.env.engine)
    metas = {m.symbol: m for m in ctx.env.universe()}
    listings = {x.symbol: x for x in repo.listings(ctx.market)}
    symbols = sorted(set(metas) | set(listings))
    if not symbols:
        raise JobSkipped(f"no {ctx.market} stocks stored or in the universe")
    day = last_completed_day(ctx.calendar, ctx.now_ms)
    flags = suspended_on(ctx.store, symbols, ctx.calendar, day) if day is not None else None
    ctx.inputs.update(
        stocks=len(symbols),
        listings=len(listings),
        trading_day=str(day) if day else None,
        suspension_known=flags is not None,
    )
    perms = []
    for sym in symbols:
        name = metas[sym].name if sym in metas else listings[sym].name
        listed = listings[sym].status == "listed" if sym in listings else True
        suspended = bool(flags and flags.get(sym))
        reasons = []
        if not listed:
            reasons.append("delisted")
        if suspended:
            reasons.append(f"no trade on {day} while the market traded")
        if is_st(name):
            reasons.append("special treatment")
        perms.append(
            Permission(
                sym,
                ctx.market,
                board_of(sym, ctx.market),
                is_st(name),
                suspended,
                listed,
                "; ".join(reasons) or "normal",
                ctx.now_ms,
            )
        )
    repo.save(perms)
    ctx.outputs.update(
        written=len(perms),
        boards=dict(Counter(p.board for p in perms)),
        st=[p.symbol for p in perms if p.st],
        suspended=[p.symbol for p in perms if p.suspended],
        delisted=[p.symbol for p in perms if not p.listed],
    )
