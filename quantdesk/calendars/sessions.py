"""Exchange sessions from the ``exchange-calendars`` package.

A trading day is one or more *segments* ``[open, close)`` in epoch ms UTC: an
A-share day (XSHG) has two, 9:30-11:30 and 13:00-15:00 Asia/Shanghai; a US
day (XNYS) has one, 9:30-16:00 America/New_York (early closes included).

``exchange-calendars`` records holidays only up to a bound (XSHG: the end of
the current year). Past that bound, sessions continue on the exchange's
regular weekday hours and holidays are unknown; :attr:`ExchangeCalendar.bound`
says where that starts. Shenzhen (``XSHE``) trades on Shanghai's calendar, so
it is an alias of ``XSHG``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np

from quantdesk.domain.time import from_ms, iso, to_ms
from quantdesk.errors import CalendarError

DAY_MS: Final = 86_400_000
#: Prints up to this long before the day's first open belong to the opening auction.
AUCTION_MS: Final = 10 * 60_000


@dataclass(frozen=True, slots=True)
class _Regular:
    tz: str
    segments: tuple[tuple[dt.time, dt.time], ...]


_REGULAR: Final[dict[str, _Regular]] = {
    "XSHG": _Regular(
        "Asia/Shanghai",
        ((dt.time(9, 30), dt.time(11, 30)), (dt.time(13, 0), dt.time(15, 0))),
    ),
    "XNYS": _Regular("America/New_York", ((dt.time(9, 30), dt.time(16, 0)),)),
}
ALIASES: Final = {"XSHE": "XSHG", "SSE": "XSHG", "SZSE": "XSHG", "NYSE": "XNYS", "XNAS": "XNYS"}
#: Market code -> calendar name.
MARKET_CALENDARS: Final = {"cn": "XSHG", "us": "XNYS"}
_FIRST_DAY: Final = dt.date(2015, 1, 1)
_EXTEND_YEARS: Final = 4


class ExchangeCalendar:
    """Session segments of one exchange, precomputed as sorted arrays.

    ``opens``/``closes`` are int64 epoch ms of every segment; ``day_index``
    maps a segment to its trading day (index into ``days``), and
    ``day_open`` gives the first open of that segment's day.
    """

    def __init__(self, name: str) -> None:
        canonical = ALIASES.get(name.upper(), name.upper())
        if canonical not in _REGULAR:
            raise CalendarError(
                f"unknown calendar {name!r}: use XSHG (A-shares, alias XSHE) or XNYS (US)"
            )
        self.name = canonical
        regular = _REGULAR[canonical]
        self.tz = ZoneInfo(regular.tz)
        opens: list[int] = []
        closes: list[int] = []
        day_index: list[int] = []
        days: list[dt.date] = []
        bound = self._load_exchange(opens, closes, day_index, days)
        self.bound: dt.date = bound
        self._extend(regular, bound, opens, closes, day_index, days)
        self.opens = np.asarray(opens, dtype=np.int64)
        self.closes = np.asarray(closes, dtype=np.int64)
        self.day_index = np.asarray(day_index, dtype=np.int64)
        self.days: list[dt.date] = days
        first_of_day = np.r_[True, self.day_index[1:] != self.day_index[:-1]]
        self.day_open = np.maximum.accumulate(np.where(first_of_day, self.opens, 0))
        self._day_first_seg = np.flatnonzero(first_of_day)
        # Periods of trading days, per segment: the first open and the last close of
        # its ISO week (``week_open``/``week_close``) and of its calendar month.
        iso = [d.isocalendar() for d in days]
        self.week_open, self.week_close = self._periods([y * 100 + w for y, w, _ in iso])
        self.month_open, self.month_close = self._periods([d.year * 12 + d.month for d in days])

    def _load_exchange(
        self, opens: list[int], closes: list[int], day_index: list[int], days: list[dt.date]
    ) -> dt.date:
        import exchange_calendars as xcals

        cal = xcals.get_calendar(self.name, start=_FIRST_DAY.isoformat())
        sched = cal.schedule
        o = sched["open"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
        c = sched["close"].to_numpy(dtype="datetime64[ms]").astype(np.int64)
        bs = sched["break_start"].to_numpy(dtype="datetime64[ms]")
        be = sched["break_end"].to_numpy(dtype="datetime64[ms]")
        for i, day in enumerate(sched.index):
            days.append(day.date())
            if np.isnat(bs[i]):
                opens.append(int(o[i]))
                closes.append(int(c[i]))
                day_index.append(i)
            else:
                opens += [int(o[i]), int(be[i].astype(np.int64))]
                closes += [int(bs[i].astype(np.int64)), int(c[i])]
                day_index += [i, i]
        last: dt.date = cal.last_session.date()
        return last

    def _extend(
        self,
        regular: _Regular,
        bound: dt.date,
        opens: list[int],
        closes: list[int],
        day_index: list[int],
        days: list[dt.date],
    ) -> None:
        day = bound + dt.timedelta(days=1)
        end = bound + dt.timedelta(days=365 * _EXTEND_YEARS)
        while day <= end:
            if day.weekday() < 5:
                idx = len(days)
                days.append(day)
                for start, stop in regular.segments:
                    opens.append(to_ms(dt.datetime.combine(day, start, self.tz)))
                    closes.append(to_ms(dt.datetime.combine(day, stop, self.tz)))
                    day_index.append(idx)
            day += dt.timedelta(days=1)

    def _periods(self, day_keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per segment: first open and last close of the days sharing its day's key."""
        keys = np.asarray(day_keys, dtype=np.int64)
        n = len(keys)
        if n == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        first_seg = self._day_first_seg
        last_seg = np.r_[first_seg[1:] - 1, len(self.opens) - 1]
        change = np.r_[True, keys[1:] != keys[:-1]]
        group = np.cumsum(change) - 1  # day -> period
        starts = np.flatnonzero(change)
        stops = np.r_[starts[1:], n] - 1  # last day of each period
        period_open = self.opens[first_seg[starts]]
        period_close = self.closes[last_seg[stops]]
        per_day = group[self.day_index]
        return period_open[per_day], period_close[per_day]

    # -- queries -----------------------------------------------------------

    def segment_at(self, t_ms: int) -> int:
        """Index of the segment with ``open <= t < close``, or -1."""
        i = int(np.searchsorted(self.opens, t_ms, side="right")) - 1
        if i >= 0 and t_ms < self.closes[i]:
            return i
        return -1

    def is_open(self, t_ms: int) -> bool:
        return self.segment_at(t_ms) >= 0

    def next_segment(self, t_ms: int) -> int:
        """Index of the segment open at ``t_ms`` or, if closed, the next one to open."""
        i = self.segment_at(t_ms)
        if i >= 0:
            return i
        j = int(np.searchsorted(self.opens, t_ms, side="left"))
        if j >= len(self.opens):
            raise CalendarError(
                f"{self.name}: no session after {iso(t_ms)} (calendar ends {self.days[-1]})"
            )
        return j

    def next_open(self, t_ms: int) -> int:
        """``t_ms`` if in session, otherwise the next segment's open."""
        i = self.next_segment(t_ms)
        return max(t_ms, int(self.opens[i]))

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Trading days in ``[start, end]`` (both inclusive)."""
        lo = bisect.bisect_left(self.days, start)
        hi = bisect.bisect_right(self.days, end)
        return self.days[lo:hi]

    def last_trading_days(self, n: int, before: dt.date) -> list[dt.date]:
        """The ``n`` trading days strictly before ``before``."""
        hi = bisect.bisect_left(self.days, before)
        if hi - n < 0:
            raise CalendarError(f"{self.name}: fewer than {n} trading days before {before}")
        return self.days[hi - n : hi]

    def day_segments(self, day: dt.date) -> list[tuple[int, int]]:
        """The ``(open, close)`` segments of one trading day (empty if closed)."""
        i = bisect.bisect_left(self.days, day)
        if i >= len(self.days) or self.days[i] != day:
            return []
        lo = int(np.searchsorted(self.day_index, i, side="left"))
        hi = int(np.searchsorted(self.day_index, i, side="right"))
        return [(int(self.opens[k]), int(self.closes[k])) for k in range(lo, hi)]

    def segments_between(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Indices of segments overlapping ``[start_ms, end_ms)``."""
        lo = int(np.searchsorted(self.closes, start_ms, side="right"))
        hi = int(np.searchsorted(self.opens, end_ms, side="left"))
        return np.arange(lo, hi, dtype=np.int64)

    def session_minutes(self, day: dt.date) -> np.ndarray:
        """Start (epoch ms) of every in-session minute of one trading day."""
        parts = [np.arange(o, c, 60_000, dtype=np.int64) for o, c in self.day_segments(day)]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def date_of(self, t_ms: int) -> dt.date:
        """The exchange-local calendar date of an instant."""
        return from_ms(t_ms, self.tz).date()


@functools.cache
def get_calendar(name: str) -> ExchangeCalendar:
    """The (cached) calendar for ``XSHG``/``XSHE``/``XNYS`` or a market code ``cn``/``us``."""
    return ExchangeCalendar(MARKET_CALENDARS.get(name.lower(), name))
