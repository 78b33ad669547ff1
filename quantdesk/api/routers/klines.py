"""``GET /api/klines``: stored bars for a candlestick chart (seed D)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request, Response

from quantdesk.domain import BAR_COLUMNS, normalize_interval
from quantdesk.errors import DataError, NotFoundError
from quantdesk.storage.base import Store

router = APIRouter(tags=["market"])

MAX_LIMIT = 5000


def parse_time(value: str | None, name: str) -> int | None:
    """ISO 8601 (offset required or UTC assumed) or epoch milliseconds -> epoch ms."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{name}: not ISO 8601 or epoch ms (got {value[:40]!r})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _known_symbol(store: Store, symbol: str, request: Request) -> bool:
    known: set[str] | None = getattr(request.app.state, "symbols", None)
    if known is None or symbol not in known:
        known = {m.symbol for m in store.list_metadata()}
        request.app.state.symbols = known
    return symbol in known


def bars_json(rows: list[tuple[object, ...]]) -> bytes:
    """Bar rows (``BAR_COLUMNS`` order, time in ms) as a JSON array with ISO 8601 UTC times."""
    if not rows:
        return b"[]"
    times = np.array([r[2] for r in rows], dtype="datetime64[ms]")
    stamps = np.char.add(np.datetime_as_string(times, unit="s"), "Z").tolist()
    cols = BAR_COLUMNS
    return orjson.dumps(
        [
            dict(zip(cols, (r[0], r[1], t, *r[3:]), strict=True))
            for r, t in zip(rows, stamps, strict=True)
        ]
    )


@router.get("/api/klines", response_class=Response)
async def klines(
    request: Request,
    symbol: Annotated[str, Query(min_length=1, max_length=32, description="e.g. 600036.SH")],
    interval: Annotated[str, Query(description="1m 5m 15m 30m 60m(1h) 120m 1d")] = "1m",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ms, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ms, exclusive")] = None,
) -> Response:
    """The newest ``limit`` bars in ``[start, end)``, oldest first; ``time`` in ISO 8601 UTC.

    ``async``: the indexed query takes well under a millisecond, less than a
    hop to the thread pool would cost.
    """
    store: Store = request.app.state.store
    canonical = normalize_interval(interval)
    start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise DataError("end: must be after start")
    rows = store.query_bars(symbol, canonical, start_ms, end_ms, limit)
    if not rows and not _known_symbol(store, symbol, request):
        raise NotFoundError(f"unknown symbol {symbol!r}: see /api/symbols")
    return Response(bars_json(rows), media_type="application/json")
