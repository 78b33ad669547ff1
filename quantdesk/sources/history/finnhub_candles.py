"""Finnhub candles: ``GET /stock/candle?symbol=AAPL&resolution=1&from=..&to=..&token=..``.

Answer (seed E): ``{"s": "ok", "t": [...], "o": [...], "h": [...], "l": [...],
"c": [...], "v": [...]}`` with ``t`` the bar start in epoch seconds, or
``{"s": "no_data"}``. Errors: HTTP 401/403 ``{"error": "..."}`` (bad token or a
plan without candles), HTTP 429 when rate limited (60 calls/minute free).
Resolutions ``1 5 15 30 60 D``. The token comes from ``FINNHUB_TOKEN``.
"""

from __future__ import annotations

import os
from typing import ClassVar

import pandas as pd

from quantdesk.config import Settings
from quantdesk.domain import normalize_interval
from quantdesk.sources.history.base import HttpProvider, bars_frame
from quantdesk.sources.history.symbols import to_us

_RESOLUTION = {"1m": "1", "5m": "5", "15m": "15", "30m": "30", "60m": "60", "1d": "D"}


class FinnhubCandlesProvider(HttpProvider):
    name: ClassVar[str] = "finnhub"
    markets: ClassVar[frozenset[str]] = frozenset({"us"})
    default_timeout: ClassVar[float] = 10.0

    def __init__(self, base_url: str, token: str, timeout: float | None = None) -> None:
        super().__init__(base_url, timeout)
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> FinnhubCandlesProvider:
        token = os.environ.get("FINNHUB_TOKEN", "")
        secret = getattr(settings, "finnhub_token", None)
        if not token and secret is not None:
            token = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        return cls(settings.finnhub_rest_url, str(token or ""))

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        if not self._token:
            raise self.fail("no token: set FINNHUB_TOKEN")
        doc = self.request_json(
            "/stock/candle",
            params={
                "symbol": to_us(symbol, "Finnhub"),
                "resolution": _RESOLUTION[interval],
                "from": start // 1000,
                "to": -(-end // 1000),
                "token": self._token,
            },
        )
        if not isinstance(doc, dict):
            raise self.fail("malformed answer: not an object")
        if "error" in doc:
            raise self.fail(f"error answer: {doc['error']}")
        status = doc.get("s")
        if status == "no_data":
            return bars_frame(self.name, symbol, interval, [], [], [], [], [], [])
        if status != "ok":
            raise self.fail(f"malformed answer: status s={status!r}")
        cols = [doc.get(k) for k in ("t", "o", "h", "l", "c", "v")]
        if any(not isinstance(c, list) for c in cols) or len({len(c) for c in cols}) != 1:  # type: ignore[arg-type]
            raise self.fail("malformed answer: arrays t/o/h/l/c/v missing or of unequal length")
        t, o, h, low, c, v = cols
        return bars_frame(
            self.name,
            symbol,
            interval,
            [int(x) * 1000 for x in t],  # type: ignore[union-attr]
            o,
            h,
            low,
            c,
            v,
            start=start,
            end=end,
        )
