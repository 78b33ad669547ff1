"""Provider time labels -> bar start in epoch ms UTC (shared by the providers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quantdesk.calendars import get_calendar
from quantdesk.domain import interval_ms
from quantdesk.domain.time import to_ms

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def local_to_ms(labels: Sequence[str], tz: ZoneInfo | str, fmt: str | None = None) -> np.ndarray:
    """Exchange-local date-time strings -> epoch ms UTC (ValueError on a bad label)."""
    parsed = pd.to_datetime(pd.Series(list(labels), dtype=object), format=fmt)
    local = parsed.dt.tz_localize(tz, ambiguous="raise", nonexistent="raise")
    return np.asarray(local.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy())


def end_labels_to_start(end_ms: np.ndarray, interval: str) -> np.ndarray:
    """Minute bars labelled by their end (Eastmoney, Tushare) -> bar start."""
    return np.asarray(end_ms - interval_ms(interval), dtype=np.int64)


def day_open_ms(days: Sequence[str], market: str, fmt: str | None = None) -> np.ndarray:
    """Trading dates -> the day's first session open (our ``1d`` bar time)."""
    cal = get_calendar(market)
    out = []
    for label in days:
        day = dt.datetime.strptime(label, fmt).date() if fmt else dt.date.fromisoformat(label)
        segments = cal.day_segments(day)
        if segments:
            out.append(segments[0][0])
        else:  # not a trading day by the calendar: use the regular 09:30 local open
            tz = SHANGHAI if market == "cn" else NEW_YORK
            out.append(to_ms(dt.datetime.combine(day, dt.time(9, 30), tz)))
    return np.asarray(out, dtype=np.int64)


def merge_same_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Combine rows with the same ``time`` (an auction print folded into the first minute)."""
    if frame.empty or not frame["time"].duplicated().any():
        return frame
    grouped = frame.groupby("time", sort=False)
    merged = grouped.agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        amount=("amount", "sum"),
    ).reset_index()
    return merged
