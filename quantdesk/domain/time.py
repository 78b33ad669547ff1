"""Time in the core: UTC epoch milliseconds, and the few conversions at the edges.

Every timestamp inside quantdesk (messages, bars, stored rows) is an ``int`` of
milliseconds since 1970-01-01 UTC, or an aware :class:`datetime.datetime`.
Exchange zones appear only at the edges (sessions, display, CSV files), through
the ``tz`` arguments below.

==========================  ======================================================
function                    what
==========================  ======================================================
``now_ms()``                the wall clock, epoch ms
``to_ms(value)``            aware datetime (naive = UTC) -> epoch ms
``from_ms(ms, tz=UTC)``     epoch ms -> aware datetime (in ``tz``)
``iso(ms)``                 ``2024-03-18T13:30:00Z`` (seconds; milliseconds kept
                            when there are any)
``iso_seconds(ms, tz)``     ``2024-03-18T09:30:00-04:00`` (seconds, in ``tz``)
``local_minute(ms, tz)``    ``2024-03-18 09:30 America/New_York`` (banners)
``parse_time(text, name)``  ISO 8601 date or date-time (UTC unless it has an
                            offset) or epoch ms -> epoch ms; one-line
                            :class:`~quantdesk.errors.DataError` naming ``name``
==========================  ======================================================
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from quantdesk.errors import DataError

__all__ = [
    "UTC",
    "from_ms",
    "iso",
    "iso_seconds",
    "local_minute",
    "now_ms",
    "parse_time",
    "to_ms",
]

UTC = dt.UTC
#: Years 1..9999: what :class:`datetime.datetime` can represent.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    """The wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


def to_ms(value: dt.datetime) -> int:
    """An aware datetime (a naive one is taken as UTC) in epoch milliseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    """Epoch milliseconds as an aware datetime in ``tz`` (exact: no float on the way)."""
    utc = _EPOCH + dt.timedelta(milliseconds=ms)
    return utc if tz is UTC else utc.astimezone(tz)


def iso(ms: int) -> str:
    """ISO 8601 in UTC with a ``Z``: seconds, or milliseconds when the time has any."""
    stamp = from_ms(ms).replace(tzinfo=None)
    spec = "milliseconds" if ms % 1000 else "seconds"
    return stamp.isoformat(timespec=spec) + "Z"


def iso_seconds(ms: int, tz: dt.tzinfo = UTC) -> str:
    """ISO 8601 to the second in ``tz``, with its offset."""
    return from_ms(ms, tz).isoformat(timespec="seconds")


def local_minute(ms: int, tz: ZoneInfo) -> str:
    """``YYYY-MM-DD HH:MM <zone>`` in ``tz``: start-up banners."""
    return f"{from_ms(ms, tz):%Y-%m-%d %H:%M} {tz.key}"


def parse_time(text: str | None, name: str) -> int | None:
    """ISO 8601 date or date-time (UTC unless it has an offset), or epoch ms, -> epoch ms.

    ``None`` stays ``None``; anything else that is not a time raises one line naming
    ``name`` (an option or a query parameter).
    """
    if text is None:
        return None
    value = text.strip()
    if value.lstrip("-").isdigit() and value.count("-") <= 1:
        ms = int(value)
    else:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"{name}: not an ISO 8601 date or time (got {text[:40]!r})") from None
        ms = to_ms(parsed)
    if not MIN_MS <= ms <= MAX_MS:
        raise DataError(f"{name}: {text[:40]!r} is outside the years 1..9999")
    return ms
