"""The hot read, served before FastAPI: cached ``GET /api/klines`` answers.

A chart asks for "the newest N bars of (symbol, interval)" again and again,
and :class:`~quantdesk.api.routers.klines.NewestBarsCache` already holds the
encoded answer. Measured per request on the server (``python -m benchmarks
http``), FastAPI's routing, dependency solving and query validation cost
about three times what the cached answer itself costs, so under 100
connections the event loop spent most of its time there, and latency grew
with it. This pure ASGI middleware answers exactly those requests from the
cache and hands everything else to the app unchanged:

* only ``GET /api/klines`` whose query has nothing but ``symbol``,
  ``interval`` and ``limit``, each at most once, in plain characters (no
  percent-escapes, no ``+``, nothing outside ASCII), with values that are
  valid (symbol 1..32 characters, a known interval, a limit of 1..5000
  written in digits), and no ``start``/``end``;
* only when the cache holds the answer for the store's current data version
  (the version is read exactly as the endpoint reads it, so an answer is
  never staler than the endpoint's); a miss goes to the endpoint, which
  queries, answers and fills the cache.

Anything it declines gets the endpoint's own validation and errors. The
answer is byte for byte the endpoint's (tests compare them on random
queries and writes), and it is counted in the request histogram under the
endpoint's route and in the cache's hit counter.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send

from quantdesk.api.routers.klines import MAX_LIMIT, NewestBarsCache
from quantdesk.domain.intervals import ALIASES, INTERVAL_MINUTES

PATH: Final = "/api/klines"
_KEYS: Final = frozenset({"symbol", "interval", "limit"})
_HEADERS_JSON: Final = b"application/json"


def parse_newest_query(query: bytes) -> tuple[str, str, int] | None:
    """``(symbol, interval, limit)`` of a plain newest-bars query, else ``None``."""
    if b"%" in query or b"+" in query or not query.isascii():
        return None
    params: dict[str, str] = {}
    for part in query.split(b"&"):
        if not part:
            continue
        key, sep, value = part.partition(b"=")
        name = key.decode("ascii")
        if not sep or name not in _KEYS or name in params:
            return None
        params[name] = value.decode("ascii")
    symbol = params.get("symbol")
    if symbol is None or not 0 < len(symbol) <= 32:
        return None
    interval = params.get("interval", "1m")
    interval = ALIASES.get(interval, interval)
    if interval not in INTERVAL_MINUTES:
        return None
    text = params.get("limit", "200")
    if not text.isdigit() or len(text) > 4:
        return None
    limit = int(text)
    if not 1 <= limit <= MAX_LIMIT:
        return None
    return symbol, interval, limit


class NewestBarsFastPath:
    """Answers cached newest-bars requests; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, state: Any, route: Any = None) -> None:
        self.app = app
        self.state = state
        self.route = route  # the endpoint's route, for the request histogram
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            body = self._cached(scope["query_string"])
            if body is not None:
                if self.route is not None:
                    scope["route"] = self.route
                self.served += 1
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", _HEADERS_JSON),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _cached(self, query: bytes) -> bytes | None:
        cache: NewestBarsCache | None = getattr(self.state, "klines_cache", None)
        if cache is None:
            return None
        key = parse_newest_query(query)
        if key is None:
            return None
        version = self.state.store.data_version()
        if version is None or version != cache.version:
            return None
        body = cache.entries.get(key)
        if body is not None:
            cache.hits += 1
        return body
