"""How far the exchange clock ran: closed periods count only on the wall clock."""

from __future__ import annotations

import threading

from quantdesk.jobs.clock import SharedClock, running_ms, wall_seconds_until
from quantdesk.runtime.clock import VirtualClock, WallClock
from tests.unit.jobs.conftest import CN, local_ms


def test_the_virtual_clock_does_not_run_through_closed_periods() -> None:
    clock = VirtualClock(CN, local_ms(2024, 9, 27, 10), speed=60, monotonic=lambda: 0.0)
    noon, one = local_ms(2024, 9, 27, 12), local_ms(2024, 9, 27, 13, 0)
    assert running_ms(clock, noon, one + 5_000) == 5_000  # the lunch break is jumped over
    friday_close, monday_open = local_ms(2024, 9, 27, 15), local_ms(2024, 9, 30, 9, 30)
    assert running_ms(clock, friday_close - 1_000, monday_open + 1_000) == 2_000
    assert running_ms(clock, one, noon) == 0
    wall = WallClock()
    assert running_ms(wall, noon, one) == 3_600_000
    # at speed 60 one exchange minute of session is one wall second away
    assert (
        wall_seconds_until(clock, local_ms(2024, 9, 27, 14, 0), local_ms(2024, 9, 27, 14, 1)) == 1.0
    )
    assert wall_seconds_until(wall, 0, 2_000) == 2.0


def test_a_shared_clock_never_counts_elapsed_time_twice() -> None:
    t = [0.0]
    lock = threading.Lock()

    def mono() -> float:
        with lock:
            t[0] += 0.001
            return t[0]

    start = local_ms(2024, 9, 27, 10)
    clock = SharedClock(VirtualClock(CN, start, speed=1.0, test_mode=True, monotonic=mono))
    threads = [threading.Thread(target=lambda: [clock.now() for _ in range(500)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    calls = 4 * 500 + 1
    assert clock.now() - start <= calls + 1  # ms: never more than the monotonic time passed
    assert clock.kind == "virtual" and clock.speed == 1.0
