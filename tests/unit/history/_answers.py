"""Provider answers in each provider's real shape, built from simple bar lists."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from quantdesk.calendars import get_calendar

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
MIN = 60_000

Row = tuple[int, float, float, float, float, float]  # start ms, o, h, l, c, volume (shares)


def session_bars(market: str, day: dt.date, n: int | None = None, seed: int = 1) -> list[Row]:
    """Plausible 1m bars for the session minutes of ``day`` (first ``n`` if given)."""
    minutes = get_calendar(market).session_minutes(day)[:n]
    rng = np.random.default_rng(seed + day.toordinal())
    price = 30.0
    rows = []
    for t in minutes:
        o = price
        c = round(o * (1 + rng.normal(0, 0.001)), 2)
        h = round(max(o, c) + 0.01, 2)
        low = round(min(o, c) - 0.01, 2)
        rows.append((int(t), o, h, low, c, float(rng.integers(1, 50)) * 100))
        price = c
    return rows


def _local(t_ms: int, tz: ZoneInfo, fmt: str) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz).strftime(fmt)


def yahoo(rows: list[Row], symbol: str = "600036.SS") -> dict[str, Any]:
    return {
        "chart": {
            "result": [
                {
                    "meta": {
                        "currency": "CNY",
                        "symbol": symbol,
                        "exchangeName": "SHH",
                        "gmtoffset": 28800,
                        "exchangeTimezoneName": "Asia/Shanghai",
                        "dataGranularity": "1m",
                    },
                    "timestamp": [r[0] // 1000 for r in rows],
                    "indicators": {
                        "quote": [
                            {
                                "open": [r[1] for r in rows],
                                "high": [r[2] for r in rows],
                                "low": [r[3] for r in rows],
                                "close": [r[4] for r in rows],
                                "volume": [int(r[5]) for r in rows],
                            }
                        ]
                    },
                }
            ],
            "error": None,
        }
    }


def yahoo_error(description: str = "No data found, symbol may be delisted") -> dict[str, Any]:
    return {"chart": {"result": None, "error": {"code": "Not Found", "description": description}}}


def eastmoney(rows: list[Row], minutes: int = 1) -> dict[str, Any]:
    """klines ``time,open,close,high,low,volume(lots),amount`` labelled by bar end."""
    lines = []
    for t, o, h, low, c, v in rows:
        label = _local(t + minutes * MIN, SH, "%Y-%m-%d %H:%M")
        lines.append(f"{label},{o:.2f},{c:.2f},{h:.2f},{low:.2f},{int(v // 100)},{v * c:.2f}")
    return {
        "rc": 0,
        "rt": 17,
        "svr": 181669449,
        "lt": 1,
        "full": 0,
        "dlmkts": "",
        "data": {
            "code": "600036",
            "market": 1,
            "name": "招商银行",
            "decimal": 2,
            "dktotal": len(lines),
            "preKPrice": 30.0,
            "klines": lines,
        },
    }


def tushare_mins(rows: list[Row], code: str = "600036.SH") -> dict[str, Any]:
    items = [
        [code, _local(t + MIN, SH, "%Y-%m-%d %H:%M:%S"), o, c, h, low, v, v * c]
        for t, o, h, low, c, v in reversed(rows)  # newest first, as Tushare answers
    ]
    return {
        "request_id": "4e4b6f6a-0001",
        "code": 0,
        "msg": "",
        "data": {
            "fields": ["ts_code", "trade_time", "open", "close", "high", "low", "vol", "amount"],
            "items": items,
            "has_more": False,
        },
    }


def tushare_error(code: int, msg: str) -> dict[str, Any]:
    return {"request_id": "4e4b6f6a-0002", "code": code, "msg": msg, "data": None}


def alphavantage(rows: list[Row], symbol: str = "AAPL") -> dict[str, Any]:
    series = {
        _local(t, NY, "%Y-%m-%d %H:%M:%S"): {
            "1. open": f"{o:.4f}",
            "2. high": f"{h:.4f}",
            "3. low": f"{low:.4f}",
            "4. close": f"{c:.4f}",
            "5. volume": str(int(v)),
        }
        for t, o, h, low, c, v in reversed(rows)
    }
    return {
        "Meta Data": {
            "1. Information": "Intraday (1min) open, high, low, close prices and volume",
            "2. Symbol": symbol,
            "3. Last Refreshed": next(iter(series), ""),
            "4. Interval": "1min",
            "5. Output Size": "Full size",
            "6. Time Zone": "US/Eastern",
        },
        "Time Series (1min)": series,
    }


def finnhub(rows: list[Row]) -> dict[str, Any]:
    return {
        "c": [r[4] for r in rows],
        "h": [r[2] for r in rows],
        "l": [r[3] for r in rows],
        "o": [r[1] for r in rows],
        "s": "ok",
        "t": [r[0] // 1000 for r in rows],
        "v": [r[5] for r in rows],
    }
