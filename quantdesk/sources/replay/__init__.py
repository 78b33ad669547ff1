"""Replay: captured ticks (Parquet, see :mod:`quantdesk.capture`) read back in event time
(:func:`~quantdesk.sources.replay.reader.read_events`) as a live source
(:class:`~quantdesk.sources.replay.source.ReplaySource`, ``--source replay:PATH``)."""

from quantdesk.sources.replay.reader import read_events
from quantdesk.sources.replay.source import ReplaySource

__all__ = ["ReplaySource", "read_events"]
