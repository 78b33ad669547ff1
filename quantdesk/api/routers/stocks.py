"""Seed C's ``/api/v2/stocks`` endpoints (``/api/v2/ai``: :mod:`quantdesk.api.routers.models`)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response

from quantdesk.api.routers.klines import MAX_LIMIT, bars_json, iso
from quantdesk.api.routers.symbols import resolve
from quantdesk.api.security import current_user
from quantdesk.domain import normalize_interval
from quantdesk.errors import DataError
from quantdesk.storage.base import Store

router = APIRouter(tags=["market"], dependencies=[Depends(current_user)])

DAY_MS: Final = 86_400_000
#: period -> (calendar days back from the newest stored bar, default interval)
PERIODS: Final[dict[str, tuple[int, str]]] = {
    "1d": (1, "1m"),
    "5d": (7, "5m"),
    "1mo": (31, "30m"),
    "3mo": (92, "1d"),
    "6mo": (183, "1d"),
    "1y": (366, "1d"),
}


def _codes(symbols: str) -> list[str]:
    codes = [c.strip() for c in symbols.split(",") if c.strip()]
    if not codes:
        raise DataError("symbols: give one or more codes, e.g. symbols=000001,600000")
    if len(codes) > 200:
        raise DataError(f"symbols: at most 200 codes per request (got {len(codes)})")
    return codes


@router.get("/api/v2/stocks/quotes")
def quotes(
    request: Request,
    symbols: Annotated[str, Query(max_length=4000, description="comma-separated, e.g. 000001")],
) -> dict[str, Any]:
    """Latest trade price per symbol from the real-time price table.

    Each code is resolved like every ``symbol`` parameter (bare ``600036`` is
    ``600036.SH``, case does not matter); a code naming no known stock is a
    404 with the nearest names. Known stocks with no price yet are listed
    under ``unknown``.
    """
    store: Store = request.app.state.store
    resolved = {code: resolve(request, code) for code in _codes(symbols)}
    found = {s for s in resolved.values() if s}
    prices = {p.symbol: p for p in store.get_prices(sorted(found))} if found else {}
    out, unknown = [], []
    for code, symbol in resolved.items():
        p = prices.get(symbol) if symbol else None
        if p is None:
            unknown.append(code)
            continue
        out.append(
            {
                "code": code,
                "symbol": p.symbol,
                "price": p.price,
                "volume": p.volume,
                "time": iso(p.time),
                "source": p.source,
            }
        )
    return {"quotes": out, "unknown": unknown}


@router.get("/api/v2/stocks/{symbol}/historical", response_class=Response)
def historical(
    request: Request,
    symbol: str,
    period: Annotated[str, Query(description="1d 5d 1mo 3mo 6mo 1y")] = "1mo",
    interval: Annotated[str | None, Query(description="default depends on period")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
) -> Response:
    """Stored bars over ``period`` back from the newest bar (calendar days), oldest first.

    Same row shape as ``/api/klines``; at most ``limit`` (newest kept).
    """
    if period not in PERIODS:
        raise DataError(f"period: unknown {period[:20]!r}; use one of {', '.join(PERIODS)}")
    store: Store = request.app.state.store
    resolved = resolve(request, symbol)
    days, default_interval = PERIODS[period]
    canonical = normalize_interval(interval or default_interval)
    last = store.last_bar_time(canonical, resolved)
    if last is None:
        return Response(b"[]", media_type="application/json")
    rows = store.query_bars(resolved, canonical, last - days * DAY_MS + 1, last + 1, limit)
    return Response(bars_json(rows), media_type="application/json")
