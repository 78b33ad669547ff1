"""``GET /api/klines``: stored bars for a candlestick chart (seed D)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Hashable, Sequence
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Query, Request, Response

from quantdesk.api.routers.symbols import resolve
from quantdesk.domain import BAR_COLUMNS, normalize_interval
from quantdesk.errors import DataError
from quantdesk.storage.base import Store

router = APIRouter(tags=["market"])

assert BAR_COLUMNS == (
    "symbol",
    "interval",
    "time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
    "source",
)  # bars_json spells them out

MAX_LIMIT = 5000
_MIN_MS = -62_135_596_800_000  # 0001-01-01
_MAX_MS = 253_402_300_799_999  # 9999-12-31


_EPOCH_MS = re.compile(r"-?[0-9]+")


def parse_time(value: str | None, name: str) -> int | None:
    """ISO 8601 (offset required or UTC assumed) or epoch milliseconds -> epoch ms.

    Total: any text either parses or raises a one-line :class:`DataError`
    (``--5``, ``---1``, NUL bytes, 10,000 digits, years outside 1..9999).
    """
    if value is None or value == "":
        return None
    text = value.strip()
    if _EPOCH_MS.fullmatch(text):
        ms = int(text) if len(text) < 20 else _MAX_MS + 1
    else:
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            ms = int(parsed.timestamp() * 1000)
        except (ValueError, OverflowError, OSError):
            raise DataError(f"{name}: not ISO 8601 or epoch ms (got {value[:40]!r})") from None
    if not _MIN_MS <= ms <= _MAX_MS:
        raise DataError(f"{name}: {value[:40]!r} is outside the years 1..9999")
    return ms


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


#: epoch ms -> "YYYY-MM-DDTHH:MM:SSZ": charts ask for the same recent bars again and
#: again, so most stamps are formatted once. Bounded; cleared when full.
_ISO_CACHE: dict[int, str] = {}
_ISO_CACHE_MAX = 100_000


def _stamps(times: list[int]) -> list[str]:
    cache = _ISO_CACHE
    missing = [t for t in times if t not in cache]
    if missing:
        if len(cache) + len(missing) > _ISO_CACHE_MAX:
            cache.clear()
        arr = np.array(missing, dtype="datetime64[ms]")
        strings = np.char.add(np.datetime_as_string(arr, unit="s"), "Z").tolist()
        cache.update(zip(missing, strings, strict=True))
    get = cache.get
    return [get(t) or iso(t) for t in times]


def bars_json(rows: Sequence[tuple[Any, ...]]) -> bytes:
    """Bar rows (``BAR_COLUMNS`` order, time in ms) as a JSON array with ISO 8601 UTC times.

    One dict literal per row (about twice as fast as ``dict(zip(...))``) and
    cached time stamps; the output is byte-for-byte the same.
    """
    if not rows:
        return b"[]"
    stamps = _stamps([r[2] for r in rows])
    return orjson.dumps(
        [
            {
                "symbol": r[0],
                "interval": r[1],
                "time": t,
                "open": r[3],
                "high": r[4],
                "low": r[5],
                "close": r[6],
                "volume": r[7],
                "vwap": r[8],
                "trades": r[9],
                "source": r[10],
            }
            for r, t in zip(rows, stamps, strict=True)
        ]
    )


class NewestBarsCache:
    """The encoded answers to "the newest N bars of (symbol, interval)", for one store.

    Charts ask for the same few keys again and again, and most of a request's
    time is the query and the encoding, so the JSON bytes are kept per
    ``(symbol, interval, limit)``. Never stale: every entry belongs to the
    store's :meth:`~quantdesk.storage.base.Store.data_version` read *before*
    its query, and the whole cache is dropped as soon as that token differs:
    any committed write, from the runtime's sink, an import, a backfill or
    another process, invalidates it (a live market writes a few times a
    second; the first request after each write queries again). A backend
    whose version is None is never cached. Used on the event-loop thread
    (the endpoint is async); bounded in entries and bytes.
    """

    def __init__(self, max_entries: int = 1_024, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.version: Hashable | None = None
        self.entries: dict[tuple[str, str, int], bytes] = {}
        self.size = 0
        self.hits = 0
        self.misses = 0

    def get(self, version: Hashable, key: tuple[str, str, int]) -> bytes | None:
        if version != self.version:
            self.version = version
            self.entries.clear()
            self.size = 0
        body = self.entries.get(key)
        if body is None:
            self.misses += 1
        else:
            self.hits += 1
        return body

    def put(self, version: Hashable, key: tuple[str, str, int], body: bytes) -> None:
        if version != self.version:  # a newer version was seen meanwhile: body may be old
            return
        if len(self.entries) >= self.max_entries or self.size + len(body) > self.max_bytes:
            self.entries.clear()
            self.size = 0
        self.entries[key] = body
        self.size += len(body)


def _cache(request: Request) -> NewestBarsCache:
    state = request.app.state
    cache: NewestBarsCache | None = getattr(state, "klines_cache", None)
    if cache is None:
        cache = state.klines_cache = NewestBarsCache()
    return cache


@router.get("/api/klines", response_class=Response)
async def klines(
    request: Request,
    symbol: Annotated[str, Query(min_length=1, max_length=32, description="e.g. 600036.SH")],
    interval: Annotated[str, Query(description="1m 5m 15m 30m 60m(1h) 120m 1d 1w 1M")] = "1m",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
    start: Annotated[str | None, Query(description="ISO 8601 or epoch ms, inclusive")] = None,
    end: Annotated[str | None, Query(description="ISO 8601 or epoch ms, exclusive")] = None,
) -> Response:
    """The newest ``limit`` bars in ``[start, end)``, oldest first; ``time`` in ISO 8601 UTC.

    ``async``: the indexed query takes well under a millisecond, less than a
    hop to the thread pool would cost. Without ``start`` and ``end`` the
    answer comes from :class:`NewestBarsCache` while the store is unchanged.
    """
    store: Store = request.app.state.store
    symbol = resolve(request, symbol)  # 600036, 600036.sh -> 600036.SH; unknown: 404
    canonical = normalize_interval(interval)
    start_ms, end_ms = parse_time(start, "start"), parse_time(end, "end")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise DataError("end: must be after start")
    version = store.data_version() if start_ms is None and end_ms is None else None
    if version is not None:
        cache = _cache(request)
        key = (symbol, canonical, limit)
        body = cache.get(version, key)
        if body is not None:
            return Response(body, media_type="application/json")
    rows = store.query_bars(symbol, canonical, start_ms, end_ms, limit)
    body = bars_json(rows)
    if version is not None and rows:
        cache.put(version, key, body)
    return Response(body, media_type="application/json")
