"""Factor values, signals and rejected-message counters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from quantdesk.api.context import RuntimeInfo
from quantdesk.api.routers.klines import MAX_LIMIT, iso, parse_time
from quantdesk.api.routers.symbols import resolve
from quantdesk.api.security import current_user
from quantdesk.domain import normalize_interval
from quantdesk.errors import DataError
from quantdesk.storage.base import Store

router = APIRouter(tags=["stream"], dependencies=[Depends(current_user)])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="newest N in the range")]
Start = Annotated[str | None, Query(description="ISO 8601 or epoch ms, inclusive")]
End = Annotated[
    str | None, Query(description="ISO 8601 or epoch ms, exclusive; page back with end=<first ts>")
]


def time_range(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    s, e = parse_time(start, "start"), parse_time(end, "end")
    if s is not None and e is not None and e <= s:
        raise DataError("end: must be after start")
    return s, e


def _clean(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


@router.get("/api/factors")
def factors(
    request: Request,
    symbol: Annotated[str, Query(min_length=1, max_length=32)],
    name: Annotated[str | None, Query(max_length=64, description="e.g. obi, rsi_14")] = None,
    interval: Annotated[str | None, Query(description="bar interval; '' for book factors")] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    """Stored factor values, the newest ``limit`` in ``[start, end)``, oldest first."""
    store: Store = request.app.state.store
    symbol = resolve(request, symbol)
    iv = normalize_interval(interval) if interval else interval
    s, e = time_range(start, end)
    rows = store.query_factors(symbol, name, iv, s, e, limit)
    return [
        {
            "symbol": f.symbol,
            "ts": iso(f.ts),
            "ts_ms": f.ts,
            "name": f.name,
            "value": _clean(f.value),
            "interval": f.interval,
        }
        for f in rows
    ]


@router.get("/api/signals")
def signals(
    request: Request,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 200,
) -> list[dict[str, Any]]:
    """Stored buy/sell signals, the newest ``limit`` in ``[start, end)``, oldest first."""
    store: Store = request.app.state.store
    chosen = resolve(request, symbol) if symbol else None
    s, e = time_range(start, end)
    rows = store.query_signals(chosen, rule_id or None, s, e, limit)
    return [{**asdict(x), "ts": iso(x.ts), "ts_ms": x.ts, "value": _clean(x.value)} for x in rows]


@router.get("/api/rejects")
def rejects(request: Request) -> dict[str, Any]:
    """Rejected messages by reason: ``stored`` (dead-letter table) and ``live`` (this process)."""
    store: Store = request.app.state.store
    runtime: RuntimeInfo | None = request.app.state.runtime
    live = dict(runtime.counters().rejects) if runtime is not None else {}
    return {"stored": store.dead_letter_counts(), "live": live}
