"""Which minutes the model simulates: exchange sessions, or a continuous clock (test mode).

The model runs in *blocks*: one trading day (or what is left of it) at a time.
A block's minutes, each minute's position in its day (for the U-shaped volume
profile) and whether it opens the day (where overnight gaps happen) come from
a timeline. History and the live simulator use the same blocks, so for the
same seed and start state they simulate the same minute path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.errors import CalendarError
from quantdesk.sources.simulator.params import SESSION_MINUTES

MINUTE_MS = 60_000


def ceil_minute(t_ms: int) -> int:
    """The first minute boundary at or after ``t_ms``."""
    return -(-t_ms // MINUTE_MS) * MINUTE_MS


def minutes_per_day(calendar: ExchangeCalendar) -> int:
    """Regular session minutes per day: 240 for XSHG, 390 for XNYS."""
    return SESSION_MINUTES.get(calendar.name, 240)


@dataclass(frozen=True, slots=True)
class BlockMinutes:
    """The minutes of one block: start times, position in the day in [0, 1], day-open flags."""

    times: np.ndarray
    day_pos: np.ndarray
    day_open: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def _positions(idx: np.ndarray, n_day: int) -> np.ndarray:
    return idx.astype(np.float64) / max(n_day - 1, 1)


def day_minutes(calendar: ExchangeCalendar, day: dt.date, after: int | None = None) -> BlockMinutes:
    """The session minutes of ``day``, only those strictly after ``after`` when given."""
    mins = calendar.session_minutes(day)
    n_day = len(mins)
    idx = np.arange(n_day)
    if after is not None:
        keep = mins > after
        mins, idx = mins[keep], idx[keep]
    return BlockMinutes(mins, _positions(idx, n_day), idx == 0)


class Timeline(Protocol):
    """Where blocks start and which minute comes ``k`` minutes later."""

    def block_from(self, t_ms: int) -> BlockMinutes:
        """The block from the first simulated minute at or after ``t_ms``."""
        ...

    def minute_after(self, t_ms: int, k: int) -> int:
        """The start of the ``k``-th simulated minute after the minute starting at ``t_ms``."""
        ...


class SessionTimeline:
    """Minutes in exchange sessions only; a block is the rest of one trading day."""

    def __init__(self, calendar: ExchangeCalendar) -> None:
        self.calendar = calendar

    def block_from(self, t_ms: int) -> BlockMinutes:
        cal = self.calendar
        seg = cal.next_segment(ceil_minute(t_ms))
        day = cal.days[int(cal.day_index[seg])]
        return day_minutes(cal, day, after=ceil_minute(t_ms) - 1)

    def minute_after(self, t_ms: int, k: int) -> int:
        cal = self.calendar
        t = t_ms + MINUTE_MS
        try:
            while True:
                seg = cal.next_segment(t)
                start = max(t, int(cal.opens[seg]))
                left = (int(cal.closes[seg]) - start) // MINUTE_MS
                if k <= left:
                    return start + (k - 1) * MINUTE_MS
                k -= left
                t = int(cal.closes[seg])
        except CalendarError:  # past the calendar's end: count plain minutes
            return t + (k - 1) * MINUTE_MS


class ContinuousTimeline:
    """Test mode: every minute, no sessions; pseudo-days of ``per_day`` minutes, no gaps."""

    def __init__(self, per_day: int) -> None:
        self.per_day = per_day

    def block_from(self, t_ms: int) -> BlockMinutes:
        q = ceil_minute(t_ms) // MINUTE_MS
        r = q % self.per_day
        k = np.arange(self.per_day - r, dtype=np.int64)
        times = (q + k) * MINUTE_MS
        pos = _positions(r + k, self.per_day)
        return BlockMinutes(times, pos, np.zeros(len(k), dtype=bool))

    def minute_after(self, t_ms: int, k: int) -> int:
        return t_ms + k * MINUTE_MS
