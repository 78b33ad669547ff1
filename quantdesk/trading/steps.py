"""When a step of bars is decided: the same clock rules live and in backtests.

A step is one bar time of a cross-section. Its bars close at the *decision
time*: the bar's start plus its interval, cut at the session's close (a
``1d`` bar: the day's close). An order decided then belongs to the trading
day of the next session if the market is closed (:meth:`MarketRules.day_of`),
and the strategy learns the exchange-local clock time and which session of
the day the step closed (0: the morning on A-shares).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain.intervals import interval_ms

__all__ = ["StepSchedule", "schedule"]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class StepSchedule:
    """Per step: the bar's trading day, the decision time, the day of an order placed
    then, the decision's local clock time and its session index (-1: closed)."""

    bar_day: I64
    decision: I64
    order_day: I64
    local_time: list[dt.time]
    session: I64


def schedule(cal: ExchangeCalendar, times: I64, interval: str) -> StepSchedule:
    """The :class:`StepSchedule` of bar start ``times`` (epoch ms) on ``cal``."""
    times = np.asarray(times, dtype=np.int64)
    last_seg = len(cal.opens) - 1
    seg = np.clip(np.searchsorted(cal.opens, times, side="right") - 1, 0, last_seg)
    bar_day = cal.day_index[seg]
    if interval == "1d":
        last = np.searchsorted(cal.day_index, bar_day, side="right") - 1
        decision = cal.closes[last]
    else:
        decision = np.minimum(times + interval_ms(interval), cal.closes[seg])
    decision = np.maximum(decision, times + 1)
    j = np.searchsorted(cal.opens, decision, side="right") - 1
    inside = (j >= 0) & (decision < cal.closes[np.clip(j, 0, None)])
    nxt = np.clip(np.searchsorted(cal.opens, decision, side="left"), 0, last_seg)
    order_day = cal.day_index[np.where(inside, np.clip(j, 0, None), nxt)]
    dseg = np.clip(np.searchsorted(cal.opens, decision - 1, side="right") - 1, 0, None)
    first = np.searchsorted(cal.day_index, cal.day_index[dseg], side="left")
    session = np.where((decision - 1) < cal.closes[dseg], dseg - first, -1)
    local = pd.to_datetime(decision, unit="ms", utc=True).tz_convert(cal.tz)
    return StepSchedule(
        bar_day.astype(np.int64),
        decision.astype(np.int64),
        order_day.astype(np.int64),
        [t.time() for t in local],
        session.astype(np.int64),
    )
