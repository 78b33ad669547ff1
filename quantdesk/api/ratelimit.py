"""The API-wide request limit: a token bucket per API key or client address.

Each bucket holds at most ``burst`` requests and refills at ``per_minute`` a
minute; a request takes one, and a request that finds the bucket empty is
refused with the seconds until the next one is there (the ``Retry-After``
of the 429). ``per_minute = 0`` turns the limit off.

Hand-written: a dict of two floats per client is the whole algorithm, and it
runs on every request (a library with pluggable storage back ends costs
more per call than the request it guards). The limits are per process, like
the login limiter (:mod:`quantdesk.auth.ratelimit`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

#: bound on remembered clients (full buckets, the same as forgotten ones, are dropped first)
MAX_KEYS: Final = 100_000


class RequestLimiter:
    """``take(client)``: 0 when the request may go ahead, else the whole seconds to wait.

    Not locked: the API calls it from its one event loop thread.
    """

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self.rate = per_minute / 60.0
        self.enabled = per_minute > 0
        self._clock = clock
        #: client -> [tokens, time of that count]
        self._buckets: dict[str, list[float]] = {}

    def take(self, client: str) -> int:
        if not self.enabled:
            return 0
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._prune(now)
            self._buckets[client] = [self.burst - 1.0, now]
            return 0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = self.burst
        rate = self.rate
        self._buckets = {
            k: b for k, b in self._buckets.items() if b[0] + (now - b[1]) * rate < full
        }
        if len(self._buckets) >= MAX_KEYS:  # all busy: forget the oldest half
            ordered = sorted(self._buckets.items(), key=lambda kv: kv[1][1])
            self._buckets = dict(ordered[len(ordered) // 2 :])
