"""Failed-login limiter: sliding one-minute windows per (username, address) and per username.

An attempt is checked and recorded in one step (:meth:`LoginLimiter.acquire`,
under one lock), *before* the password is verified: the attempt counts as a
failure from the moment it is let through, and a success takes it back
(:meth:`LoginLimiter.succeeded`). So twenty concurrent wrong passwords
cannot all pass the check while the first ones are still hashing: only
``per_minute`` are let through, the rest get 429.

Two windows: ``per_minute`` failures per (username, client address), and
``per_user_per_minute`` failures per username over every address, so rotating
addresses (a botnet, or forged ``X-Forwarded-For`` headers from an untrusted
peer, which the server ignores anyway) does not multiply the guesses.

Hand-written: a dict of deques is all it takes, and a rate-limit library
would add a storage back end we do not need in one process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import TypeVar

WINDOW_S = 60.0
#: bound on remembered keys under a spray of names (empty windows are dropped first)
MAX_KEYS = 100_000

K = TypeVar("K", bound=Hashable)


def _recent(table: dict[K, deque[float]], key: K, now: float) -> deque[float]:
    q = table.setdefault(key, deque())
    while q and now - q[0] >= WINDOW_S:
        q.popleft()
    return q


class LoginLimiter:
    """At most ``per_minute`` failures per (user, address) and ``per_user_per_minute`` per user
    in any 60 s; then refuse until one ages out."""

    def __init__(self, per_minute: int = 5, per_user_per_minute: int | None = None) -> None:
        self.per_minute = per_minute
        self.per_user_per_minute = per_user_per_minute or 4 * per_minute
        self._pairs: dict[tuple[str, str], deque[float]] = {}
        self._users: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._now = time.monotonic

    @staticmethod
    def _wait(q: deque[float], limit: int, now: float) -> int:
        if len(q) < limit:
            return 0
        return max(1, int(WINDOW_S - (now - q[-limit])) + 1)

    def retry_after(self, username: str, client: str) -> int:
        """Seconds to wait before trying again; 0 when an attempt is allowed (records nothing)."""
        now = self._now()
        with self._lock:
            return max(
                self._wait(_recent(self._pairs, (username, client), now), self.per_minute, now),
                self._wait(_recent(self._users, username, now), self.per_user_per_minute, now),
            )

    def acquire(self, username: str, client: str) -> int:
        """Check and record one attempt atomically.

        Returns 0 when the attempt may go ahead (it is counted as a failure
        until :meth:`succeeded`), else the seconds to wait (nothing recorded).
        """
        now = self._now()
        with self._lock:
            pair = _recent(self._pairs, (username, client), now)
            user = _recent(self._users, username, now)
            wait = max(
                self._wait(pair, self.per_minute, now),
                self._wait(user, self.per_user_per_minute, now),
            )
            if wait:
                return wait
            pair.append(now)
            user.append(now)
            self._bound()
            return 0

    def failed(self, username: str, client: str) -> None:
        """Record a failure that was not acquired first (kept for callers that check late)."""
        now = self._now()
        with self._lock:
            _recent(self._pairs, (username, client), now).append(now)
            _recent(self._users, username, now).append(now)
            self._bound()

    def succeeded(self, username: str, client: str) -> None:
        """A right password: forget the pair's failures and take back one acquired attempt."""
        with self._lock:
            pair = self._pairs.pop((username, client), None)
            user = self._users.get(username)
            if user and pair:
                user.remove(pair[-1])  # the attempt that just succeeded

    def _bound(self) -> None:
        if len(self._pairs) > MAX_KEYS:
            self._pairs = {k: v for k, v in self._pairs.items() if v}
        if len(self._users) > MAX_KEYS:
            self._users = {k: v for k, v in self._users.items() if v}
