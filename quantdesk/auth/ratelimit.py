"""Failed-login limiter per (username, client address), a sliding one-minute window.

Hand-written: a dict of deques is all it takes, and a rate-limit library
would add a storage back end we do not need in one process.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 60.0


class LoginLimiter:
    """At most ``per_minute`` failures per key in any 60 s; then refuse until one ages out."""

    def __init__(self, per_minute: int = 5) -> None:
        self.per_minute = per_minute
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._now = time.monotonic

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] >= WINDOW_S:
            q.popleft()
        return q

    def retry_after(self, username: str, client: str) -> int:
        """Seconds to wait before trying again; 0 when an attempt is allowed."""
        now = self._now()
        with self._lock:
            q = self._recent((username, client), now)
            if len(q) < self.per_minute:
                return 0
            return max(1, int(WINDOW_S - (now - q[0])) + 1)

    def failed(self, username: str, client: str) -> None:
        now = self._now()
        with self._lock:
            self._recent((username, client), now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username, client), None)
