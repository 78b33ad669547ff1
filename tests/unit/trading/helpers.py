"""Shared pieces for the trading tests: A-share rules, session instants, books, bars."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from quantdesk.calendars import get_calendar
from quantdesk.config import load_settings
from quantdesk.domain.messages import BookSnapshot
from quantdesk.trading.market import MarketRules, rules_for

D = Decimal


def cn() -> MarketRules:
    return rules_for("cn", load_settings())


def us() -> MarketRules:
    return rules_for("us", load_settings())


def at(day: dt.date, hh: int, mm: int, market: str = "cn") -> int:
    """Epoch ms of a local clock time on ``day`` on the market's exchange."""
    cal = get_calendar(market)
    return int(dt.datetime.combine(day, dt.time(hh, mm), cal.tz).timestamp() * 1000)


def trading_days(n: int, start: dt.date = dt.date(2024, 3, 4), market: str = "cn") -> list[dt.date]:
    cal = get_calendar(market)
    return cal.trading_days(start, start + dt.timedelta(days=3 * n + 10))[:n]


def book(
    symbol: str, ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]
) -> BookSnapshot:
    return BookSnapshot(symbol, ts, tuple(bids), tuple(asks))


def daily_panel(
    n_sym: int = 8,
    n_days: int = 60,
    seed: int = 1,
    start: dt.date = dt.date(2024, 1, 2),
    prefix: int = 600000,
) -> pd.DataFrame:
    """Random-walk daily bars (bar time: the day's open) for ``n_sym`` A-share symbols."""
    cal = get_calendar("cn")
    days = cal.trading_days(start, start + dt.timedelta(days=3 * n_days + 10))[:n_days]
    t = np.array([cal.day_segments(d)[0][0] for d in days], dtype=np.int64)
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_sym):
        r = rng.normal(0, 0.02, n_days)
        c = np.round(10 * np.exp(np.cumsum(r)), 2)
        o = np.round(c * np.exp(rng.normal(0, 0.005, n_days)), 2)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": f"{prefix + k:06d}.SH",
                    "time": t,
                    "open": o,
                    "high": np.maximum(o, c) * 1.01,
                    "low": np.minimum(o, c) * 0.99,
                    "close": c,
                    "volume": 1e6,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
