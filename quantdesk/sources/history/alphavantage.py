"""Alpha Vantage: ``GET /query?function=...&symbol=AAPL&apikey=K``.

``TIME_SERIES_INTRADAY`` (``interval`` ``1min`` ... ``60min``,
``outputsize=full``, ``month=YYYY-MM`` for one past month, ``extended_hours=false``)
answers::

    {"Meta Data": {"2. Symbol": "AAPL", "4. Interval": "1min",
                   "6. Time Zone": "US/Eastern", ...},
     "Time Series (1min)": {"2024-01-31 15:59:00": {"1. open": "184.1",
         "2. high": "184.3", "3. low": "184.0", "4. close": "184.2",
         "5. volume": "123456"}, ...}}

newest first, keyed by the bar **start** in the zone of ``Meta Data``.
``TIME_SERIES_DAILY`` answers ``"Time Series (Daily)"`` keyed by date. Errors
come with HTTP 200: ``{"Error Message": ...}`` (bad symbol or call),
``{"Note": ...}`` or ``{"Information": ...}`` (rate limit: 25 calls a day,
5 a minute on the free key). The key comes from ``QUANTDESK_ALPHAVANTAGE_KEY``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantdesk.config import Settings
from quantdesk.domain import normalize_interval
from quantdesk.domain.time import from_ms
from quantdesk.sources.history._time import NEW_YORK, day_open_ms, local_to_ms
from quantdesk.sources.history.base import HttpProvider, bars_frame
from quantdesk.sources.history.symbols import to_us

_AV_INTERVAL = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "60m": "60min"}
#: At most this many monthly requests per fetch (the free key allows 25 calls a day).
MAX_MONTHS = 3
_ZONES = {"US/Eastern": "America/New_York"}


class AlphaVantageProvider(HttpProvider):
    name: ClassVar[str] = "alphavantage"
    markets: ClassVar[frozenset[str]] = frozenset({"us"})
    default_timeout: ClassVar[float] = 15.0

    def __init__(self, base_url: str, key: str, timeout: float | None = None) -> None:
        super().__init__(base_url, timeout)
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> AlphaVantageProvider:
        return cls(settings.alphavantage_url, settings.alphavantage_key.get_secret_value())

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.request_json("/query", params={**params, "apikey": self._key})
        if not isinstance(doc, dict):
            raise self.fail("malformed answer: not an object")
        for key, what in (
            ("Error Message", "error"),
            ("Note", "rate limited"),
            ("Information", "refused"),
        ):
            if key in doc:
                raise self.fail(f"{what}: {str(doc[key])[:160]}")
        return doc

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        if not self._key:
            raise self.fail("no API key: set QUANTDESK_ALPHAVANTAGE_KEY")
        ticker = to_us(symbol, "Alpha Vantage")
        frames = []
        if interval == "1d":
            doc = self._query(
                {"function": "TIME_SERIES_DAILY", "symbol": ticker, "outputsize": "full"}
            )
            series = self._series(doc, "Time Series (Daily)")
            labels = sorted(series)
            t = day_open_ms(labels, "us")
            frames.append(self._frame(symbol, interval, t, [series[k] for k in labels], start, end))
        else:
            for month in _months(start, end):
                doc = self._query(
                    {
                        "function": "TIME_SERIES_INTRADAY",
                        "symbol": ticker,
                        "interval": _AV_INTERVAL[interval],
                        "outputsize": "full",
                        "extended_hours": "false",
                        "month": month,
                    }
                )
                series = self._series(doc, f"Time Series ({_AV_INTERVAL[interval]})")
                meta = doc.get("Meta Data", {})
                zone = next((v for k, v in meta.items() if k.endswith("Time Zone")), "US/Eastern")
                labels = sorted(series)
                try:
                    t = local_to_ms(labels, _ZONES.get(zone, zone) or NEW_YORK)
                except (ValueError, KeyError) as exc:
                    raise self.fail(f"malformed answer: {exc}") from None
                frames.append(
                    self._frame(symbol, interval, t, [series[k] for k in labels], start, end)
                )
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    def _series(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        series = doc.get(key)
        if not isinstance(series, dict):
            raise self.fail(f"malformed answer: no {key!r}")
        return series

    def _frame(
        self,
        symbol: str,
        interval: str,
        t: np.ndarray,
        rows: list[Any],
        start: int,
        end: int,
    ) -> pd.DataFrame:
        try:
            cols = {
                f: [float(r[f]) for r in rows]
                for f in ("1. open", "2. high", "3. low", "4. close", "5. volume")
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise self.fail(f"malformed answer: bad bar field {exc}") from None
        return bars_frame(
            self.name,
            symbol,
            interval,
            t,
            cols["1. open"],
            cols["2. high"],
            cols["3. low"],
            cols["4. close"],
            cols["5. volume"],
            start=start,
            end=end,
        )


def _months(start: int, end: int) -> list[str]:
    """``YYYY-MM`` of every New York month touching ``[start, end)``, the last MAX_MONTHS."""
    first = from_ms(start, NEW_YORK).date().replace(day=1)
    last = from_ms(max(start, end - 1), NEW_YORK).date()
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out[-MAX_MONTHS:]
