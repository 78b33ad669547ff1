"""Weekly and monthly bars (``1w``, ``1M``) rolled up from the stored 1d bars.

A batch that writes 1d bars (a backfill, an import, a provider's corrections)
may hold only part of a week or a month: its first week may have begun
before the window, and a backfill rolls its days up in chunks. Rolling
``1w``/``1M`` up from such a batch would overwrite a stored period with a
part of it. So every writer of 1d bars calls :func:`refresh_periods` after
its 1d bars are stored: the weeks and months that overlap the written range
are recomputed from *every* stored 1d bar in them, and upserted (idempotent,
like every write). The streaming operator builds the open week and month as
trades arrive instead (:class:`quantdesk.stream.bars.BarAggregator`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from quantdesk.bars import rollup_periods
from quantdesk.bars.buckets import bucket_end, bucket_start
from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain import BAR_COLUMNS, PERIOD_INTERVALS
from quantdesk.storage.base import Store


def period_bounds(t_ms: int, interval: str, calendar: ExchangeCalendar | None) -> tuple[int, int]:
    """``[start, end)`` of the ``1w``/``1M`` period holding ``t_ms`` (or the last one before it)."""
    t = np.array([t_ms], dtype=np.int64)
    if calendar is None:
        seg = np.array([-1], dtype=np.int64)
    else:
        i = int(np.searchsorted(calendar.opens, t_ms, side="right")) - 1
        seg = np.array([min(max(i, 0), len(calendar.opens) - 1)], dtype=np.int64)
    start = bucket_start(t, seg, interval, calendar)
    return int(start[0]), int(bucket_end(start, seg, interval, calendar)[0])


def refresh_periods(
    store: Store,
    symbols: Iterable[str],
    start: int,
    end: int,
    calendar: ExchangeCalendar | None,
) -> int:
    """Recompute the weeks and months overlapping ``[start, end)`` from stored 1d bars.

    Returns the number of ``1w``/``1M`` bars written.
    """
    if end <= start:
        return 0
    symbols = list(symbols)
    written = 0
    for interval in PERIOD_INTERVALS:
        lo = period_bounds(start, interval, calendar)[0]
        hi = period_bounds(end - 1, interval, calendar)[1]
        rows = [r for s in symbols for r in store.query_bars(s, "1d", lo, hi)]
        if not rows:
            continue
        days = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
        out = rollup_periods(days, [interval], calendar)
        if len(out):
            written += store.upsert_bars(out[list(BAR_COLUMNS)])
    return written
