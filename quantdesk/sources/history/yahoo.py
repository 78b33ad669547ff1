"""Yahoo Finance chart API (what yfinance calls): ``GET /v8/finance/chart/{symbol}``.

Request: ``period1``/``period2`` (epoch seconds), ``interval`` (``1m 5m 15m 30m
60m 1d``), ``includePrePost=false``. Answer::

    {"chart": {"result": [{"meta": {...}, "timestamp": [t, ...],
               "indicators": {"quote": [{"open": [...], "high": [...],
               "low": [...], "close": [...], "volume": [...]}]}}],
               "error": null}}

``timestamp`` is each bar's start (epoch seconds); minutes without a trade
carry ``null`` prices and are dropped. An error answer has ``result: null``
and ``error: {"code", "description"}``; HTTP 429 means rate limited. Yahoo
keeps 1m bars for about 30 days and answers at most 7 days of them per
request, so longer 1m windows are asked for in 7-day pieces.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantdesk.config import Settings
from quantdesk.domain import normalize_interval
from quantdesk.sources.history.base import HttpProvider, bars_frame
from quantdesk.sources.history.symbols import to_yahoo

_INTERVALS: dict[str, str] = {
    "1m": "1m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "60m": "60m",
    "1d": "1d",
}


#: Yahoo answers at most 7 days of 1m bars per request.
PIECE_MS = 7 * 86_400_000


class YahooProvider(HttpProvider):
    name: ClassVar[str] = "yahoo"
    default_timeout: ClassVar[float] = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> YahooProvider:
        return cls(settings.yahoo_url)

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        if interval != "1m" or end - start <= PIECE_MS:
            return self._fetch(symbol, interval, start, end)
        pieces = [
            self._fetch(symbol, interval, t, min(end, t + PIECE_MS))
            for t in range(start, end, PIECE_MS)
        ]
        return pd.concat(pieces, ignore_index=True)

    def _fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        doc = self.request_json(
            f"/v8/finance/chart/{to_yahoo(symbol)}",
            params={
                "period1": start // 1000,
                "period2": -(-end // 1000),
                "interval": _INTERVALS[interval],
                "includePrePost": "false",
                "events": "div,splits",
            },
        )
        chart = doc.get("chart") if isinstance(doc, dict) else None
        if not isinstance(chart, dict):
            raise self.fail("malformed answer: no 'chart' object")
        error = chart.get("error")
        if error:
            desc = error.get("description", error) if isinstance(error, dict) else error
            raise self.fail(f"error answer: {desc}")
        results = chart.get("result")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise self.fail("malformed answer: no 'chart.result'")
        res: dict[str, Any] = results[0]
        stamps = res.get("timestamp") or []
        try:
            quote = res["indicators"]["quote"][0]
        except (KeyError, IndexError, TypeError):
            if not stamps:
                return bars_frame(self.name, symbol, interval, [], [], [], [], [], [])
            raise self.fail("malformed answer: no 'indicators.quote'") from None

        def col(name: str) -> Any:
            values = quote.get(name)
            if not isinstance(values, list) or len(values) != len(stamps):
                raise self.fail(f"malformed answer: '{name}' missing or of the wrong length")
            return [np.nan if v is None else v for v in values]

        t = np.asarray(stamps, dtype=np.int64) * 1000  # a day is stamped at its open, as ours
        return bars_frame(
            self.name,
            symbol,
            interval,
            t,
            col("open"),
            col("high"),
            col("low"),
            col("close"),
            col("volume"),
            start=start,
            end=end,
        )
