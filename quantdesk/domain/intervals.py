"""Bar intervals.

The canonical names are ``1m 5m 15m 30m 60m 120m 1d``; ``1h`` is accepted as
another name for ``60m`` and ``2h`` for ``120m``. Intraday intervals are
anchored at each session's open (see :mod:`quantdesk.calendars`); ``1d``
starts at the day's first session open.
"""

from __future__ import annotations

from typing import Final

from quantdesk.errors import DataError

MINUTE_MS: Final = 60_000

#: Canonical interval name -> length in minutes (``1d`` is a whole trading day).
INTERVAL_MINUTES: Final[dict[str, int]] = {
    "1m": 1,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "60m": 60,
    "120m": 120,
    "1d": 0,
}
INTERVALS: Final = tuple(INTERVAL_MINUTES)
ROLLUP_INTERVALS: Final = INTERVALS[1:]
ALIASES: Final = {
    "1h": "60m",
    "2h": "120m",
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60min": "60m",
    "120min": "120m",
    "d": "1d",
    "1D": "1d",
}


def normalize_interval(name: str) -> str:
    """Return the canonical interval name, or raise :class:`DataError`."""
    canonical = ALIASES.get(name, name)
    if canonical not in INTERVAL_MINUTES:
        raise DataError(
            f"unknown interval {name!r}: use one of {', '.join(INTERVALS)} (or 1h for 60m)"
        )
    return canonical


def interval_ms(name: str) -> int:
    """Length of an intraday interval in milliseconds (0 for ``1d``)."""
    return INTERVAL_MINUTES[normalize_interval(name)] * MINUTE_MS
