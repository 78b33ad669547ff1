"""Replay: captured ticks (Parquet, see :mod:`quantdesk.capture`) read back in event time
and republished as a live source."""

from quantdesk.sources.replay.reader import Replayer, read_events

__all__ = ["Replayer", "read_events"]
