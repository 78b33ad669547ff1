"""Tick capture to Parquet (replayed by :mod:`quantdesk.sources.replay`).

:class:`TickCapture` is a sink for raw market events (trades, trade batches,
book snapshots): ``capture.write(events)`` buffers them and writes Parquet
parts partitioned by kind, day and symbol::

    <root>/trades/date=2026-11-20/symbol=600036.SH/part-<n>-<id>.parquet
    <root>/books/date=2026-11-20/symbol=600036.SH/part-<n>-<id>.parquet

``date`` is the UTC day of the event time unless a time zone is given
(``TickCapture(root, tz="Asia/Shanghai")`` partitions by exchange day).
:func:`quantdesk.sources.replay.read_events` reads a capture (or any folder
below it) back in event-time order, and the replay source
(``quantdesk run --source replay:PATH``) steps through it like a live market:
the runner publishes per symbol the slice's trades as one
:class:`~quantdesk.bus.TradeBatch`, book snapshots as
:class:`~quantdesk.domain.BookSnapshot`, and a clock
:class:`~quantdesk.bus.Heartbeat` per symbol at the end of each slice, as for
the live source, so the stream processor closes the same bars.
"""

from quantdesk.capture.writer import TickCapture

__all__ = ["TickCapture"]
