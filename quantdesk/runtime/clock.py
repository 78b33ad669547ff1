"""Exchange clocks for the live simulator.

* :class:`VirtualClock` (the default of ``quantdesk run``): exchange time that
  starts where the stored history ends, runs ``speed`` times faster than the
  wall clock and skips closed periods (nights, lunch breaks, weekends,
  holidays), so the market moves at any hour. With ``test_mode`` it ignores
  sessions altogether.
* :class:`WallClock` (``--clock wall``): the real time; outside sessions the
  simulator produces nothing until the market opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from quantdesk.calendars import ExchangeCalendar


class WallClock:
    """Real time in epoch ms."""

    kind = "wall"

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self.start = self.now()

    def now(self) -> int:
        return int(self._wall() * 1000)


class VirtualClock:
    """Session time that advances ``speed`` x faster than the wall clock, skipping closures."""

    kind = "virtual"

    def __init__(
        self,
        calendar: ExchangeCalendar,
        start_ms: int,
        speed: float = 1.0,
        *,
        test_mode: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.calendar = calendar
        self.speed = speed
        self.test_mode = test_mode
        self._monotonic = monotonic
        self._wall_anchor = monotonic()
        self._sim = start_ms if test_mode else calendar.next_open(start_ms)
        #: Where the clock started (exact: a session open or the resume minute).
        self.start = self._sim

    def now(self) -> int:
        wall = self._monotonic()
        elapsed = int((wall - self._wall_anchor) * 1000 * self.speed)
        if elapsed <= 0:
            return self._sim
        self._wall_anchor = wall
        self._sim = self._sim + elapsed if self.test_mode else self._skip(self._sim, elapsed)
        return self._sim

    def _skip(self, sim: int, elapsed: int) -> int:
        cal = self.calendar
        while True:
            seg = cal.next_segment(sim)
            sim = max(sim, int(cal.opens[seg]))
            left = int(cal.closes[seg]) - sim
            if elapsed < left:
                return sim + elapsed
            elapsed -= left
            sim = int(cal.closes[seg])
            if elapsed == 0:
                return sim
