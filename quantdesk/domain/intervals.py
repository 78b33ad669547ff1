"""Bar intervals.

The canonical names are ``1m 5m 15m 30m 60m 120m 1d 1w 1M``; ``1h`` is
accepted as another name for ``60m`` and ``2h`` for ``120m``. Intraday
intervals are anchored at each session's open (see :mod:`quantdesk.calendars`);
``1d`` starts at the day's first session open.

``1w`` and ``1M`` are *periods* of trading days, rolled up from ``1d``: a
week is the trading days of one ISO week (Monday to Sunday, exchange dates),
a month the trading days of one calendar month; the bar's time is the start
of the first session in it (UTC), so a week whose Monday is a holiday starts
on Tuesday's open. Without a calendar (``--test`` mode) they are UTC weeks
(from Monday 00:00) and UTC calendar months. Note the case: ``1m`` is a
minute, ``1M`` a month (``1mo`` is accepted for it).
"""

from __future__ import annotations

from typing import Final

from quantdesk.errors import DataError

MINUTE_MS: Final = 60_000

#: Canonical interval name -> length in minutes (0: ``1d`` and the periods, not fixed).
INTERVAL_MINUTES: Final[dict[str, int]] = {
    "1m": 1,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "60m": 60,
    "120m": 120,
    "1d": 0,
    "1w": 0,
    "1M": 0,
}
INTERVALS: Final = tuple(INTERVAL_MINUTES)
ROLLUP_INTERVALS: Final = INTERVALS[1:]
#: Multi-day intervals: rolled up from ``1d`` bars (weeks and months of trading days).
PERIOD_INTERVALS: Final = ("1w", "1M")
#: Everything rolled up from ``1m`` directly (intraday intervals and ``1d``).
SESSION_INTERVALS: Final = tuple(i for i in INTERVALS if i not in PERIOD_INTERVALS)
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
    "w": "1w",
    "1W": "1w",
    "1wk": "1w",
    "1mo": "1M",
    "1mon": "1M",
}


def normalize_interval(name: str) -> str:
    """Return the canonical interval name, or raise :class:`DataError`."""
    canonical = ALIASES.get(name, name)
    if canonical not in INTERVAL_MINUTES:
        raise DataError(
            f"unknown interval {name!r}: use one of {', '.join(INTERVALS)} "
            "(or 1h for 60m, 1mo for 1M)"
        )
    return canonical


def interval_ms(name: str) -> int:
    """Length of an intraday interval in milliseconds (0 for ``1d``, ``1w`` and ``1M``)."""
    return INTERVAL_MINUTES[normalize_interval(name)] * MINUTE_MS


def is_intraday(name: str) -> bool:
    """Whether bars of ``name`` (canonical) lie within one trading day."""
    return INTERVAL_MINUTES[name] > 0
