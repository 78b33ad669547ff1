"""The exchange clock as the scheduler sees it.

Jobs fire on the clock the runtime uses (:mod:`quantdesk.runtime.clock`): the
wall clock, or the simulator's virtual clock, which runs ``speed`` times real
time and *skips* closed periods (nights, the lunch break, weekends). A fire
time inside a skipped period (``price_sync`` at 9:00, ``predict`` at 12:05,
``order_sync`` at 15:30) is reached when the clock jumps over it, and its job
starts at once, in fire-time order.

:func:`running_ms` is how far the clock actually *ran* between two instants:
on the wall clock that is the difference; on the virtual clock it counts only
session time, since the clock never dwelt in a closed period. It measures
lateness (misfire grace, dispatch delay) and how long to sleep until the next
fire time (:func:`wall_seconds_until`).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, runtime_checkable

__all__ = ["ExchangeClock", "ManualClock", "SharedClock", "running_ms", "wall_seconds_until"]


@runtime_checkable
class ExchangeClock(Protocol):
    """What the scheduler needs of a clock: ``now()`` in epoch ms UTC.

    A clock that skips closed periods has ``kind == "virtual"``, a ``calendar``
    and ``test_mode`` (as :class:`~quantdesk.runtime.clock.VirtualClock`);
    ``speed`` (default 1) converts its time to wall seconds.
    """

    def now(self) -> int: ...


def _skips_closures(clock: Any) -> bool:
    return (
        getattr(clock, "kind", "wall") == "virtual"
        and not getattr(clock, "test_mode", False)
        and getattr(clock, "calendar", None) is not None
    )


def running_ms(clock: Any, start_ms: int, end_ms: int) -> int:
    """Exchange-clock time that passed from ``start_ms`` to ``end_ms`` (0 if not after)."""
    if end_ms <= start_ms:
        return 0
    if not _skips_closures(clock):
        return end_ms - start_ms
    cal = clock.calendar
    total = 0
    for seg in cal.segments_between(start_ms, end_ms):
        lo = max(start_ms, int(cal.opens[seg]))
        hi = min(end_ms, int(cal.closes[seg]))
        total += max(0, hi - lo)
    return total


def wall_seconds_until(clock: Any, now_ms: int, target_ms: int) -> float:
    """Wall seconds until ``clock`` reaches ``target_ms`` from ``now_ms``."""
    if target_ms <= now_ms:
        return 0.0
    speed = float(getattr(clock, "speed", 1.0) or 1.0)
    if _skips_closures(clock):
        cal = clock.calendar
        # the clock jumps over closures: reaching a closed instant = reaching the close
        # before it, or the next open when the target is itself closed
        return running_ms(clock, now_ms, target_ms) / 1000.0 / speed + (
            0.0 if cal.is_open(target_ms) else 0.001
        )
    return (target_ms - now_ms) / 1000.0 / speed


class SharedClock:
    """A clock read from several threads (the runner's loop and the scheduler thread).

    :class:`~quantdesk.runtime.clock.VirtualClock` advances its state inside
    ``now()``; two threads reading it at once could add the same elapsed wall
    time twice. This wrapper serialises the reads and exposes the wrapped clock's
    attributes (``kind``, ``calendar``, ``speed``, ``test_mode``, ``start``).
    """

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return int(self._clock.now())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clock, name)


class ManualClock:
    """A clock that only moves when told to (tests, benchmarks, replays)."""

    kind = "manual"

    def __init__(self, start_ms: int, *, speed: float = 1.0) -> None:
        self._now = start_ms
        self.speed = speed
        self.start = start_ms

    def now(self) -> int:
        return self._now

    def set(self, t_ms: int) -> None:
        self._now = max(self._now, t_ms)

    def advance(self, ms: int) -> int:
        self._now += ms
        return self._now


def wall_ms() -> int:
    """The wall clock in epoch ms (leases and the wall times of a run)."""
    return int(time.time() * 1000)
