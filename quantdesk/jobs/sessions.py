"""Trading-day helpers the market-data jobs share: windows, bar counts, suspensions, fetching."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd

from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain import INTERVAL_MINUTES
from quantdesk.jobs.base import JobContext
from quantdesk.jobs.schedule import is_trading_day
from quantdesk.storage.base import Store

__all__ = [
    "count_bars",
    "day_window",
    "fetch_into_store",
    "iso",
    "last_completed_day",
    "suspended_on",
]


def iso(t_ms: int | None) -> str | None:
    if t_ms is None:
        return None
    return dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def day_window(calendar: ExchangeCalendar, day: dt.date) -> tuple[int, int] | None:
    """``(first open, last close)`` of a trading day, None when the exchange is closed."""
    segs = calendar.day_segments(day)
    return (segs[0][0], segs[-1][1]) if segs else None


def last_completed_day(calendar: ExchangeCalendar, t_ms: int) -> dt.date | None:
    """The newest trading day whose last session closed at or before ``t_ms``."""
    day = calendar.date_of(t_ms)
    for _ in range(40):
        if is_trading_day(calendar, day):
            window = day_window(calendar, day)
            if window is not None and window[1] <= t_ms:
                return day
        day -= dt.timedelta(days=1)
    return None


def count_bars(
    store: Store, symbols: Sequence[str], interval: str, start: int, end: int
) -> dict[str, int]:
    """Stored bars of each symbol with ``start <= time < end``."""
    return {s: len(store.query_bars(s, interval, start, end)) for s in symbols}


def suspended_on(
    store: Store, symbols: Sequence[str], calendar: ExchangeCalendar, day: dt.date
) -> dict[str, bool] | None:
    """Which symbols did not trade on ``day`` while others did (None: no data that day,
    so nothing can be told)."""
    window = day_window(calendar, day)
    if window is None:
        return None
    traded = {s: bool(store.query_bars(s, "1m", window[0], window[1], 1)) for s in symbols}
    if not any(traded.values()):
        return None
    return {s: not t for s, t in traded.items()}


def fetch_into_store(
    ctx: JobContext, symbols: Sequence[str], start: int, end: int
) -> dict[str, Any]:
    """Fetch 1m bars in ``[start, end)`` from ``QUANTDESK_JOBS_SYNC_SOURCE`` (``auto``: the
    ``QUANTDESK_HISTORY_SOURCES`` order) and upsert them with the intraday roll-ups whose
    buckets end inside the window (a partial bucket is never stored as if complete)."""
    from quantdesk.bars import rollup_bars
    from quantdesk.sources.history import HistoryRouter, NoHistoryError

    source = ctx.settings.jobs_sync_source.strip()
    names = None if source == "auto" else [n.strip() for n in source.split(",") if n.strip()]
    providers: dict[str, str] = {}
    failures: dict[str, str] = {}
    rows = 0
    with HistoryRouter.from_settings(ctx.settings, names) as router:
        for sym in symbols:
            try:
                result = router.fetch(sym, "1m", start, end)
            except NoHistoryError as exc:
                failures[sym] = "; ".join(f"{p}: {r}" for p, r in exc.attempts)
                continue
            minute = result.bars.assign(symbol=sym)
            if minute.empty:
                continue
            larger = rollup_bars(
                minute,
                [i for i, m in INTERVAL_MINUTES.items() if 1 < m < 24 * 60],
                calendar=ctx.calendar,
            )
            if not larger.empty:
                ends = larger["time"].astype("int64") + larger["interval"].map(
                    lambda i: INTERVAL_MINUTES[i] * 60_000
                )
                larger = larger[ends <= end]
            frame = pd.concat([minute, larger[list(minute.columns)]], ignore_index=True)
            rows += ctx.store.upsert_bars(frame)
            providers[sym] = result.provider
    return {"providers": providers, "bars_written": rows, "failures": failures}
