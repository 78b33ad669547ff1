"""A-share bars from Eastmoney's kline API, the endpoint AkShare's ``stock_zh_a_hist*`` wraps.

``GET /api/qt/stock/kline/get?secid=1.600036&klt=1&fqt=1&beg=20240102&end=20240105
&fields1=f1,f2,f3,f4,f5,f6&fields2=f51,f52,f53,f54,f55,f56,f57`` answers::

    {"rc": 0, "data": {"code": "600036", "market": 1, "name": "...",
     "klines": ["2024-01-02 09:31,32.50,32.55,32.60,32.45,1234,4012345.00", ...]}}

Each kline is ``time,open,close,high,low,volume,amount`` (note: close before
high); volume is in lots of 100 shares, amount in yuan; minute bars are
labelled by their **end** (``09:31`` is the bar 09:30-09:31, Asia/Shanghai) and
the opening-auction bar ``09:30`` is folded into the first minute; a day is a
date. ``klt`` = 1/5/15/30/60 minutes or 101 (day); ``fqt`` = 0 raw, 1 forward
adjusted. An unknown ``secid`` answers ``"data": null``. Eastmoney keeps only
the last few days of 1m bars.
"""

from __future__ import annotations

from typing import ClassVar

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
    merge_same_time,
)
from quantdesk.sources.history.base import HttpProvider, bars_frame
from quantdesk.sources.history.symbols import to_secid

_KLT = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60, "1d": 101}


class AkShareProvider(HttpProvider):
    name: ClassVar[str] = "akshare"
    markets: ClassVar[frozenset[str]] = frozenset({"cn"})
    default_timeout: ClassVar[float] = 5.0

    def __init__(self, base_url: str, timeout: float | None = None, adjust: int = 0) -> None:
        super().__init__(base_url, timeout)
        self.adjust = adjust

    @classmethod
    def from_settings(cls, settings: Settings) -> AkShareProvider:
        return cls(settings.eastmoney_url)

    def fetch(self, symbol: str, interval: str, start: int, end: int) -> pd.DataFrame:
        interval = normalize_interval(interval)
        cal = get_calendar("cn")
        first = cal.date_of(start)
        last = cal.date_of(max(start, end - 1))
        doc = self.request_json(
            "/api/qt/stock/kline/get",
            params={
                "secid": to_secid(symbol),
                "klt": _KLT[interval],
                "fqt": self.adjust,
                "beg": first.strftime("%Y%m%d"),
                "end": last.strftime("%Y%m%d"),
                "fields1": "f1,f2,f3,f4,f5,f6",
                "fields2": "f51,f52,f53,f54,f55,f56,f57",
                "lmt": 1_000_000,
            },
        )
        if not isinstance(doc, dict):
            raise self.fail("malformed answer: not an object")
        rc = doc.get("rc", 0)
        if rc not in (0, None):
            raise self.fail(f"error answer: rc={rc}")
        data = doc.get("data")
        if data is None:
            raise self.fail(f"no data for {symbol} (unknown secid {to_secid(symbol)})")
        klines = data.get("klines") if isinstance(data, dict) else None
        if not isinstance(klines, list):
            raise self.fail("malformed answer: no 'data.klines' list")
        rows = [str(k).split(",") for k in klines]
        if any(len(r) < 7 for r in rows):
            raise self.fail("malformed answer: a kline has fewer than 7 fields")
        labels = [r[0] for r in rows]
        try:
            values = np.asarray([r[1:7] for r in rows], dtype=np.float64).reshape(-1, 6)
            if interval == "1d":
                t = day_open_ms(labels, "cn")
            else:
                t = end_labels_to_start(local_to_ms(labels, SHANGHAI), interval)
        except ValueError as exc:
            raise self.fail(f"malformed answer: {exc}") from None
        raw = pd.DataFrame(
            {
                "time": t,
                "open": values[:, 0],
                "close": values[:, 1],
                "high": values[:, 2],
                "low": values[:, 3],
                "volume": values[:, 4] * 100.0,  # lots -> shares
                "amount": values[:, 5],
            }
        )
        if interval != "1d" and len(raw):
            # the auction bar (labelled 09:30) starts before the open: fold it into 09:30
            opens = np.asarray([cal.next_open(int(x)) for x in raw["time"]], dtype=np.int64)
            raw["time"] = np.maximum(raw["time"].to_numpy(), opens)
            raw = merge_same_time(raw)
        return bars_frame(
            self.name,
            symbol,
            interval,
            raw["time"],
            raw["open"],
            raw["high"],
            raw["low"],
            raw["close"],
            raw["volume"],
            amount=raw["amount"],
            start=start,
            end=end,
        )
