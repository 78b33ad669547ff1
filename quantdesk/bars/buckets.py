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

``1w`` and ``1M`` are periods of trading days: the trading days of one ISO
week or one calendar month (exchange dates), starting at the first session's
open and ending at the last session's close (holidays and half-weeks at
month ends included; see :class:`~quantdesk.calendars.ExchangeCalendar`).

Without a calendar (``None``), buckets are plain UTC-epoch multiples, ``1d``
is the UTC day, ``1w`` the UTC week from Monday 00:00 and ``1M`` the UTC
calendar month.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quantdesk.calendars import AUCTION_MS, DAY_MS, ExchangeCalendar
from quantdesk.domain.intervals import INTERVAL_MINUTES, MINUTE_MS

WEEK_MS = 7 * DAY_MS
_MONDAY_MS = 4 * DAY_MS  # 1970-01-05, the first Monday after the epoch

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
    if ts.ndim == 1 and len(ts) >= _SORTED_MIN and bool((ts[1:] >= ts[:-1]).all()):
        return _place_sorted(ts, calendar)
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


_SORTED_MIN = 4_096  # from this many prints on, time-ordered input takes _place_sorted


def _place_sorted(ts: I64, calendar: ExchangeCalendar) -> tuple[I64, I64, Bools]:
    """:func:`place` for time-ordered prints, the same result in a few passes.

    With ``ts`` sorted, each segment's prints are one run, cut by binary
    search into: inside, at the close, outside (after the close) and, before a
    day's first open, the opening auction. The outputs are built by repeating
    one value per run instead of comparing every print with its segment.
    """
    opens, closes, day_open = calendar.opens, calendar.closes, calendar.day_open
    last_seg = len(opens) - 1
    n = len(ts)
    # segments whose runs hold prints: k = -1 (before the first open) .. last_seg
    k_lo = int(np.searchsorted(opens, ts[0], side="right")) - 1
    k_hi = int(np.searchsorted(opens, ts[-1], side="right")) - 1
    ks = range(k_lo, k_hi + 1)
    run_start = [0, *np.searchsorted(ts, opens[k_lo + 1 : k_hi + 1], side="left").tolist()]
    run_stop = [*run_start[1:], n]
    seg_vals: list[int] = []
    valid_vals: list[bool] = []
    lengths: list[int] = []
    close_runs: list[tuple[int, int]] = []
    auction_runs: list[tuple[int, int, int]] = []

    def put(seg: int, ok: bool, length: int) -> None:
        if length > 0:
            seg_vals.append(seg)
            valid_vals.append(ok)
            lengths.append(length)

    for k, lo, hi in zip(ks, run_start, run_stop, strict=True):
        if lo >= hi:
            continue
        after = lo  # first print after the segment (or before the first open)
        if k >= 0:
            close = int(closes[k])
            inside_end = lo + int(np.searchsorted(ts[lo:hi], close, side="left"))
            after = lo + int(np.searchsorted(ts[lo:hi], close, side="right"))
            put(k, True, after - lo)
            if after > inside_end:
                close_runs.append((inside_end, after))
        nxt = k + 1
        auction_from = hi
        if nxt <= last_seg and day_open[nxt] == opens[nxt]:
            auction_from = max(
                after, lo + int(np.searchsorted(ts[lo:hi], int(opens[nxt]) - AUCTION_MS))
            )
        put(max(k, 0), False, auction_from - after)
        if hi > auction_from:
            put(nxt, True, hi - auction_from)
            auction_runs.append((auction_from, hi, int(opens[nxt])))
    reps = np.asarray(lengths, dtype=np.intp)
    seg_out = np.repeat(np.asarray(seg_vals, dtype=np.int64), reps)
    valid = np.repeat(np.asarray(valid_vals, dtype=np.bool_), reps)
    t_eff = ts.copy()
    for lo, hi in close_runs:
        t_eff[lo:hi] -= 1
    for lo, hi, open_ in auction_runs:
        t_eff[lo:hi] = open_
    return t_eff, seg_out, valid


def _utc_period(t: I64, interval: str) -> tuple[I64, I64]:
    """Start and end of the UTC week (from Monday) or UTC calendar month holding ``t``."""
    t = np.asarray(t, dtype=np.int64)
    if interval == "1w":
        start = (t - _MONDAY_MS) // WEEK_MS * WEEK_MS + _MONDAY_MS
        return start, start + WEEK_MS
    month = t.astype("datetime64[ms]").astype("datetime64[M]")
    start = month.astype("datetime64[ms]").astype(np.int64)
    return start, (month + 1).astype("datetime64[ms]").astype(np.int64)


def bucket_start(t_eff: I64, seg: I64, interval: str, calendar: ExchangeCalendar | None) -> I64:
    """Bar start of each placed print (``interval`` must be canonical)."""
    if interval == "1w" or interval == "1M":
        if calendar is None:
            return _utc_period(t_eff, interval)[0]
        return (calendar.week_open if interval == "1w" else calendar.month_open)[seg]
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
    if interval == "1w" or interval == "1M":
        if calendar is None:
            return _utc_period(start, interval)[1]
        return (calendar.week_close if interval == "1w" else calendar.month_close)[seg]
    minutes = INTERVAL_MINUTES[interval]
    if calendar is None:
        step = DAY_MS if minutes == 0 else minutes * MINUTE_MS
        return start + step
    if minutes == 0:
        day = calendar.day_index[seg]
        last = np.searchsorted(calendar.day_index, day, side="right") - 1
        return calendar.closes[last]
    return np.minimum(start + minutes * MINUTE_MS, calendar.closes[seg])
