"""Data sets built from stored bars, one row per stock and trading day (no look-ahead).

=========  ==================================================  =====================
name       rows                                                built from
=========  ==================================================  =====================
morning    this morning's session -> next morning's open and   intraday bars (1m, or
           close (seed B), see :mod:`.morning`                 120m where only those)
daily      returns, volume, indicators -> next day's return    1d bars
           and direction, see :mod:`.daily`
=========  ==================================================  =====================

:func:`load_dataset` reads the bars from a store; :mod:`.controls` simulates
the random-walk and planted-signal controls; :mod:`.samples` imports the real
daily data that ships in PyPI packages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from quantdesk.calendars.sessions import DAY_MS, ExchangeCalendar, get_calendar
from quantdesk.errors import ModelError, NotFoundError
from quantdesk.models.datasets.base import Dataset

if TYPE_CHECKING:
    from quantdesk.storage.base import Store

__all__ = ["DATASET_NAMES", "Dataset", "build", "load_dataset"]

DATASET_NAMES = ("morning", "daily")
#: Calendar days of bars read before ``start`` for the features' warm-up.
WARMUP_DAYS = 70


def check_name(name: str) -> str:
    key = name.strip().lower()
    if key not in DATASET_NAMES:
        raise ModelError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return key


def build(
    name: str, bars: pd.DataFrame, calendars: dict[str, ExchangeCalendar] | ExchangeCalendar
) -> Dataset:
    """Build data set ``name`` from a bar frame (columns of ``BAR_COLUMNS``)."""
    key = check_name(name)
    if isinstance(calendars, ExchangeCalendar):
        calendars = {str(s): calendars for s in bars["symbol"].unique()}
    if key == "morning":
        from quantdesk.models.datasets.morning import build_morning_by_calendar

        return build_morning_by_calendar(bars, calendars)
    from quantdesk.models.datasets.base import concat
    from quantdesk.models.datasets.daily import build_daily

    by_tz: dict[str, list[str]] = {}
    for sym, cal in calendars.items():
        by_tz.setdefault(str(cal.tz), []).append(sym)
    parts = [build_daily(bars[bars["symbol"].isin(s)], tz) for tz, s in by_tz.items()]
    return concat(parts) if len(parts) > 1 else parts[0]


def _ms(day: dt.date, tz: str = "UTC") -> int:
    return int(pd.Timestamp(day, tz=tz).value // 1_000_000)


def load_dataset(
    store: Store,
    name: str,
    *,
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    market: str = "cn",
) -> Dataset:
    """Data set ``name`` over stored bars of ``symbols`` (default: every stock in
    ``stock_metadata``), rows with ``start <= day <= end``.

    One clear error for a symbol without bars or a range with no rows.
    """
    key = check_name(name)
    metas = {m.symbol: m for m in store.list_metadata()}
    syms = list(symbols) if symbols else sorted(metas)
    if not syms:
        raise NotFoundError("the store has no stocks: run `quantdesk backfill` or pass --symbols")
    lo = _ms(start) - WARMUP_DAYS * DAY_MS if start else None
    hi = _ms(end) + 2 * DAY_MS if end else None
    frames = []
    calendars: dict[str, ExchangeCalendar] = {}
    for sym in syms:
        meta = metas.get(sym)
        calendars[sym] = get_calendar(meta.calendar if meta else market)
        intervals = ("1d",) if key == "daily" else ("1m", "120m")
        frame = pd.DataFrame()
        for interval in intervals:
            frame = store.bars_frame(sym, interval, lo, hi)
            if not frame.empty:
                break
        if frame.empty:
            need = "daily (1d)" if key == "daily" else "1m or 120m"
            when = f" from {start}" if start else ""
            when += f" until {end}" if end else ""
            raise NotFoundError(f"symbol {sym} has no {need} bars in the store{when}")
        frames.append(frame)
    data = build(key, pd.concat(frames, ignore_index=True), calendars)
    data = data.between(start, end)
    if len(data) == 0:
        raise ModelError(
            f"dataset {key}: no rows for {', '.join(syms[:5])}{'...' if len(syms) > 5 else ''}"
            f" between {start or 'the first bar'} and {end or 'the last bar'}"
        )
    return data
