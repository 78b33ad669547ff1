"""The store side of the Finnhub gap rule: REST candles replace the minutes a gap touched.

:class:`RestAwareSink` is the sink the Finnhub source gives the runner
(:meth:`quantdesk.sources.finnhub.source.FinnhubSource.sink`):

* a live 1m bar of a touched minute is never written (the REST candle is the
  truth for that minute; trades seen live before the disconnect was known
  may have opened such a bar);
* a REST candle is upserted as that minute's 1m bar (source ``finnhub:rest``);
* every larger bar whose bucket contains a touched minute is recomputed from
  the stored 1m bars (:func:`quantdesk.bars.rollup_bars`, on the market
  calendar) each time the live aggregator writes it and each time a REST
  candle lands in it, so whichever comes last, the stored bar is the roll-up
  of the final 1m bars. Such a bar has source ``finnhub:rest`` when any of its
  minutes does (its VWAP is partly estimated).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.backfill.periods import period_bounds
from quantdesk.bars import rollup_bars, rollup_periods
from quantdesk.bars.buckets import bucket_start, place
from quantdesk.calendars import DAY_MS, ExchangeCalendar
from quantdesk.domain import BAR_COLUMNS, PERIOD_INTERVALS, ROLLUP_INTERVALS, Bar
from quantdesk.runtime.sink import StoreSink
from quantdesk.sources.finnhub.protocol import SOURCE_LIVE, SOURCE_REST
from quantdesk.storage.base import PriceRow, Store

__all__ = ["RestAwareSink", "bucket_of"]


def bucket_of(
    minutes: Iterable[int], interval: str, calendar: ExchangeCalendar | None
) -> npt.NDArray[np.int64]:
    """The bucket start of ``interval`` for each minute start (-1: outside every session)."""
    ts = np.fromiter(minutes, dtype=np.int64)
    t_eff, seg, valid = place(ts, calendar)
    out = bucket_start(t_eff, seg, interval, calendar)
    return np.where(valid, out, -1)


class RestAwareSink(StoreSink):
    """A :class:`StoreSink` that lets REST candles replace touched minutes; see the module."""

    def __init__(self, store: Store, calendar: ExchangeCalendar | None) -> None:
        super().__init__(store)
        self.calendar = calendar
        self._lock = threading.Lock()
        self.blocked: set[int] = set()
        self._affected: dict[str, set[int]] = {i: set() for i in ROLLUP_INTERVALS}
        self.live_bars_dropped = 0
        self.rest_bars_written = 0
        self.rollups_written = 0

    def block(self, minutes: list[int]) -> None:
        """Minutes touched by a gap: their 1m bars come from REST only."""
        with self._lock:
            self.blocked.update(minutes)
            for interval in ROLLUP_INTERVALS:
                starts = bucket_of(minutes, interval, self.calendar)
                self._affected[interval].update(int(s) for s in starts if s >= 0)

    def write(self, bars: list[Bar], prices: list[PriceRow]) -> None:
        with self._lock:
            keep: list[Bar] = []
            redo: set[tuple[str, str, int]] = set()
            for b in bars:
                if b.interval == "1m":
                    if b.time in self.blocked:
                        self.live_bars_dropped += 1
                        continue
                elif b.time in self._affected.get(b.interval, ()):
                    redo.add((b.symbol, b.interval, b.time))
                keep.append(b)
            super().write(keep, prices)
            self._rollup(redo)

    def write_rest(self, symbol: str, bars: list[Bar], minutes: list[int]) -> None:
        """Upsert REST 1m bars, then recompute the larger bars that contain them."""
        if not bars:
            return
        with self._lock:
            super().write(bars, [])
            self.rest_bars_written += len(bars)
            redo = set()
            for interval in ROLLUP_INTERVALS:
                for s in bucket_of([b.time for b in bars], interval, self.calendar):
                    if s >= 0:
                        redo.add((symbol, interval, int(s)))
            self._rollup(redo)

    def _rollup(self, keys: set[tuple[str, str, int]]) -> None:
        frames = []
        periods = sorted(k for k in keys if k[1] in PERIOD_INTERVALS)
        for symbol, interval, start in sorted(keys):
            if interval in PERIOD_INTERVALS:
                continue
            rows = self.store.query_bars(symbol, "1m", start, start + DAY_MS)
            if not rows:
                continue
            df = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
            mine = bucket_of(df["time"].tolist(), interval, self.calendar) == start
            df = df[mine]
            if df.empty:
                continue
            out = rollup_bars(df, [interval], self.calendar)
            out = out[out["time"] == start]
            if out.empty:
                continue
            out = out.copy()
            out["source"] = SOURCE_REST if (df["source"] == SOURCE_REST).any() else SOURCE_LIVE
            frames.append(out[list(BAR_COLUMNS)])
        if frames:
            frame = pd.concat(frames, ignore_index=True)
            self.store.upsert_bars(frame)
            self.rollups_written += len(frame)
        if periods:  # weeks and months from the stored 1d bars, once those are redone
            self._rollup_periods(periods)

    def _rollup_periods(self, keys: list[tuple[str, str, int]]) -> None:
        frames = []
        for symbol, interval, start in keys:
            _, end = period_bounds(start, interval, self.calendar)
            rows = self.store.query_bars(symbol, "1d", start, end)
            if not rows:
                continue
            df = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
            out = rollup_periods(df, [interval], self.calendar)
            out = out[out["time"] == start].copy()
            if out.empty:
                continue
            out["source"] = SOURCE_REST if (df["source"] == SOURCE_REST).any() else SOURCE_LIVE
            frames.append(out[list(BAR_COLUMNS)])
        if frames:
            frame = pd.concat(frames, ignore_index=True)
            self.store.upsert_bars(frame)
            self.rollups_written += len(frame)
