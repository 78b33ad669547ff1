"""Warm the indicators and the signal series from stored bars, so nothing starts cold.

Without it a fresh process knows nothing: ``sma_20`` on 5m bars needs 20
bars (100 minutes) before its first value, ``rsi_14`` 15 bars, and a signal
rule needs one value before it can see a crossing, although the store holds
weeks of bars. :func:`warm_up` feeds the newest :data:`WARMUP_BARS` stored
*final* bars of every (symbol, interval) through
:class:`~quantdesk.stream.indicators.BarIndicators` and their values through
:class:`~quantdesk.stream.signals.SignalEngine`, exactly as if the stream
had processed them: the first live final bar then yields every indicator
and can fire a signal. Nothing is emitted or stored (the warm-up's own
crossings lie in the past and are dropped).

Which bars are final: with ``until`` (the event time the stream resumes at),
every bar that ends before it; the bar that contains ``until`` is still open
(the runner seeds it into the bar aggregator) and is left out. Without
``until`` (a worker taking a partition does not know the event time yet),
the newest stored bar of each series is left out, as it may still be open.

Only series with no state are warmed: a series restored from a checkpoint
(or already fed live) is exact and stays as it is, so calling this again
after every partition assignment is safe. Called by the embedded runner's
``prepare`` and by a stream consumer when partitions are assigned.

:data:`WARMUP_BARS` (300) is enough for every indicator here: the longest
window is 26 + 9 bars (MACD), and the exponential ones (EMA, RSI's Wilder
smoothing, MACD) forget their start within ~10 half-lives, far inside 300.
OBV and the day's VWAP accumulate from where they start (as in any
charting tool, OBV's level depends on the first bar; its changes do not).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from quantdesk.bars.buckets import bucket_start, place
from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain import INTERVALS, Bar
from quantdesk.stream.indicators import BarIndicators
from quantdesk.stream.signals import SignalEngine

__all__ = ["WARMUP_BARS", "BarReader", "warm_up"]

WARMUP_BARS = 300


class BarReader(Protocol):
    """What :func:`warm_up` reads: :meth:`quantdesk.storage.base.Store.query_bars`."""

    def query_bars(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> Sequence[Sequence[Any]]: ...


def warm_up(
    indicators: BarIndicators,
    signals: SignalEngine,
    store: BarReader,
    symbols: Iterable[str],
    *,
    until: int | None = None,
    calendar: ExchangeCalendar | None = None,
    intervals: Collection[str] = INTERVALS,
    bars: int = WARMUP_BARS,
) -> int:
    """Feed the stored final bars of every cold (symbol, interval); return how many were fed.

    ``calendar`` (None: UTC-aligned bars, as ``--test``) places ``until`` in
    its bar for each interval.
    """
    open_starts = _open_bar_starts(until, calendar, intervals)
    fed = 0
    for symbol in sorted(set(symbols)):
        for interval in intervals:
            if indicators.has_state(symbol, interval):
                continue
            cutoff = open_starts.get(interval) if until is not None else None
            if until is not None and cutoff is None:
                cutoff = until  # ``until`` is outside any session: every stored bar before it
            rows = store.query_bars(symbol, interval, None, cutoff, bars + 1)
            if until is None:
                rows = rows[:-1]  # the newest may still be open
            for row in rows[-bars:]:
                for value in indicators.on_bar(Bar(*row[:11])):
                    signals.on_factor(value)  # records the series; past crossings are dropped
                fed += 1
    return fed


def _open_bar_starts(
    until: int | None, calendar: ExchangeCalendar | None, intervals: Collection[str]
) -> dict[str, int]:
    """interval -> the start of the bar holding ``until`` (empty outside sessions)."""
    if until is None:
        return {}
    t_eff, seg, valid = place(np.array([until], dtype=np.int64), calendar)
    if not bool(valid[0]):
        return {}
    return {i: int(bucket_start(t_eff, seg, i, calendar)[0]) for i in intervals}
