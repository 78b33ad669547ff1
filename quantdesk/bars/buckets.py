"""Session-anchored bar buckets, vectorized.

Every intraday interval is anchored at each session segment's open: an
A-share 60m bar starts at 9:30, 10:30, 13:00 or 14:00 and never spans the
lunch break; a 120m bar is 9:30-11:30 or 13:00-15:00; a US 60m day has a
short last bar 15:30-16:00. ``1d`` starts at the day's first open.

Print placement (the same rules in batch and streaming):

* a print inside a segment ``[open, close)`` joins the bar that contains it;
* a print exactly at a segment's close joins that segment's last bar;
* a print in the opening auction, up to :data:`AUCTION_MS` before the day's
  first open (9:20-9:30 for A-shares), joins the first bar;
* any other print is outside sessions: no bar (``valid`` is False).

Without a calendar (``None``), buckets are plain UTC-epoch multiples and
``1d`` is the UTC day.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quantdesk.calendars import AUCTION_MS, DAY_MS, ExchangeCalendar
from quantdesk.domain.intervals import INTERVAL_MINUTES, MINUTE_MS

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def place(ts: I64, calendar: ExchangeCalendar | None) -> tuple[I64, I64, Bools]:
    """Place prints in sessions.

    Returns ``(t_eff, seg, valid)``: the effective time (auction prints move
    to the open, close prints to one ms before the close), the segment index
    (-1 without a calendar) and whether the print belongs to any bar.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if calendar is None:
        return ts, np.full(ts.shape, -1, dtype=np.int64), np.ones(ts.shape, dtype=np.bool_)
    opens, closes = calendar.opens, calendar.closes
    seg = np.searchsorted(opens, ts, side="right").astype(np.int64) - 1
    segc = np.maximum(seg, 0)
    inside = (seg >= 0) & (ts < closes[segc])
    at_close = (seg >= 0) & (ts == closes[segc])
    nxt = np.minimum(seg + 1, len(opens) - 1)
    first_of_day = calendar.day_open[nxt] == opens[nxt]
    auction = (
        ~inside
        & ~at_close
        & (seg + 1 < len(opens))
        & first_of_day
        & (ts >= opens[nxt] - AUCTION_MS)
        & (ts < opens[nxt])
    )
    t_eff = np.where(at_close, ts - 1, np.where(auction, opens[nxt], ts))
    seg_out = np.where(auction, nxt, segc)
    return t_eff, seg_out, inside | at_close | auction


def bucket_start(t_eff: I64, seg: I64, interval: str, calendar: ExchangeCalendar | None) -> I64:
    """Bar start of each placed print (``interval`` must be canonical)."""
    minutes = INTERVAL_MINUTES[interval]
    if calendar is None:
        step = DAY_MS if minutes == 0 else minutes * MINUTE_MS
        return (t_eff // step) * step
    if minutes == 0:
        return calendar.day_open[seg]
    step = minutes * MINUTE_MS
    anchor = calendar.opens[seg]
    return anchor + ((t_eff - anchor) // step) * step


def bucket_end(start: I64, seg: I64, interval: str, calendar: ExchangeCalendar | None) -> I64:
    """End of each bar (exclusive): the next boundary, clipped to the session close."""
    minutes = INTERVAL_MINUTES[interval]
    if calendar is None:
        step = DAY_MS if minutes == 0 else minutes * MINUTE_MS
        return start + step
    if minutes == 0:
        day = calendar.day_index[seg]
        last = np.searchsorted(calendar.day_index, day, side="right") - 1
        return calendar.closes[last]
    return np.minimum(start + minutes * MINUTE_MS, calendar.closes[seg])
