"""REST gap fill: Finnhub 1-minute candles (``GET {REST_URL}/stock/candle``)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson

from quantdesk.domain import Bar
from quantdesk.errors import CandleFetchError as CandleFetchError
from quantdesk.sources.finnhub.protocol import CandleFormatError, parse_candles

log = logging.getLogger("quantdesk.sources.finnhub.candles")


class CandleClient:
    """Fetches 1m candles. The token goes in the query string and is never logged."""

    def __init__(self, rest_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = rest_url.rstrip("/") + "/stock/candle"
        self._token = token
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)
        self.requests = 0
        self.failures = 0

    async def fetch(self, symbol: str, start_ms: int, end_ms: int) -> list[Bar]:
        """Every 1m candle with ``start_ms <= time < end_ms`` (``[]`` for ``no_data``)."""
        params: dict[str, Any] = {
            "symbol": symbol,
            "resolution": "1",
            "from": start_ms // 1000,
            "to": (end_ms - 1) // 1000,
            "token": self._token,
        }
        self.requests += 1
        try:
            resp = await self._client.get(self.url, params=params)
        except httpx.HTTPError as exc:
            self.failures += 1
            raise CandleFetchError(f"candles {symbol}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            self.failures += 1
            retry = _retry_after(resp.headers.get("retry-after"))
            raise CandleFetchError(
                f"candles {symbol}: HTTP {resp.status_code}",
                retry_after=retry,
                permanent=resp.status_code in (401, 403),
            )
        try:
            bars = parse_candles(orjson.loads(resp.content), symbol)
        except (orjson.JSONDecodeError, CandleFormatError) as exc:
            self.failures += 1
            raise CandleFetchError(f"candles {symbol}: bad answer ({exc})") from None
        return [b for b in bars if start_ms <= b.time < end_ms]

    async def aclose(self) -> None:
        await self._client.aclose()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
