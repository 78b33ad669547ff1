"""Tushare Pro: one ``POST`` of JSON to the API root, authenticated by a token.

Request: ``{"api_name": "daily" | "stk_mins", "token": T, "params": {...},
"fields": "..."}``. Answer::

    {"request_id": "...", "code": 0, "msg": "",
     "data": {"fields": ["ts_code", "trade_date", "open", ...],
              "items": [["600036.SH", "20240131", 32.1, ...], ...],
              "has_more": false}}

A non-zero ``code`` is an error with ``msg`` (bad token, no permission for the
API, or a rate limit: "每分钟最多访问该接口N次"). ``daily`` rows come newest
first with ``trade_date`` ``YYYYMMDD``, ``vol`` in lots of 100 shares and
``amount`` in thousands of yuan; ``stk_mins`` (a paid permission) takes
``freq`` ``1min`` ... ``60min`` and ``start_date``/``end_date`` as
``YYYY-MM-DD HH:MM:SS``, labels bars by their **end** (``trade_time``), with
``vol`` in shares and ``amount`` in yuan. The token comes from
``QUANTDESK_TUSHARE_TOKEN``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantdesk.calendars import get_calendar
from quantdesk.config import Settings
from quantdesk.domain import normalize_interval
from quantdesk.sources.history._time import (
    SHANGHAI,
    day_open_ms,
    end_labels_to_start,
    local_to_ms,
)
from quantdesk.sources.history.base import HttpProvider, bars_frame
from quantdesk.sources.history.symbols import to_tushare

_FREQ = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "60m": "60min"}


class TushareProvider(HttpProvider):
    name: ClassVar[str] = "tushare"
    markets: ClassVar[frozenset[str]] = frozenset({"cn"})
    default_timeout: ClassVar[float] = 10.0

    def __init__(self, base_url: str, token: str, timeout: float | None = None) -> None:
        super().__init__(base_url, timeout)
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> TushareProvider:
        return cls(settings.tushare_url, settings.tushare_token.get_secret_value())

    def _call(self, api_name: str, params: dict[str, Any], fields: str) -> pd.DataFrame:
        doc = self.request_json(
            "",
            method="POST",
            json={"api_name": api_name, "token": self._token, "params": params, "fields": fields},
        )
        if not isinstance(doc, dict) or "code" not in doc:
            raise self.fail("malformed answer: no 'code'")
        if doc["code"] != 0:
            raise self.fail(f"error answer: code {doc['code']}: {doc.get('msg', '')}")
        data = doc.get("data")
        if not isinstance(data, dict):
            raise self.fail("malformed answer: no 'data' object")
        names, items = data.get("fields"), data.get("items")
        if not isinstance(names, list) or not isinstance(items, list):
            raise self.fail("malformed answer: 'data.fields'/'data.items' missing")
        if any(not isinstance(r, list) or len(r) != len(names) for r in items):
            raise self.fail("malformed answer: an item does not match 'fields'")
        return pd.DataFrame(items, columns=[str(n) for n in names])

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        if not self._token:
            raise self.fail("no token: set QUANTDESK_TUSHARE_TOKEN")
        code = to_tushare(symbol)
        cal = get_calendar("cn")
        try:
            if interval == "1d":
                table = self._call(
                    "daily",
                    {
                        "ts_code": code,
                        "start_date": cal.date_of(start).strftime("%Y%m%d"),
                        "end_date": cal.date_of(max(start, end - 1)).strftime("%Y%m%d"),
                    },
                    "ts_code,trade_date,open,high,low,close,vol,amount",
                )
                table = table.sort_values("trade_date", kind="stable")  # newest first -> oldest
                t = day_open_ms([str(d) for d in table["trade_date"]], "cn", "%Y%m%d")
                volume = table["vol"].astype(float) * 100.0
                amount = table["amount"].astype(float) * 1000.0
            else:
                fmt = "%Y-%m-%d %H:%M:%S"
                table = self._call(
                    "stk_mins",
                    {
                        "ts_code": code,
                        "freq": _FREQ[interval],
                        "start_date": _local(start, fmt),
                        "end_date": _local(end + 60_000 * 60, fmt),
                    },
                    "ts_code,trade_time,open,close,high,low,vol,amount",
                )
                table = table.sort_values("trade_time", kind="stable")
                labels = [str(x) for x in table["trade_time"]]
                t = end_labels_to_start(local_to_ms(labels, SHANGHAI), interval)
                volume = table["vol"].astype(float)
                amount = table["amount"].astype(float)
        except (ValueError, KeyError, TypeError) as exc:
            raise self.fail(f"malformed answer: {exc}") from None
        return bars_frame(
            self.name,
            symbol,
            interval,
            t,
            table["open"],
            table["high"],
            table["low"],
            table["close"],
            np.asarray(volume),
            amount=np.asarray(amount),
            start=start,
            end=end,
        )


def _local(t_ms: int, fmt: str) -> str:
    return pd.Timestamp(t_ms, unit="ms", tz="UTC").tz_convert(SHANGHAI).strftime(fmt)
