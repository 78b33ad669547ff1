"""Trades -> bars in event time: the streaming operator.

:class:`BarAggregator` is a plain synchronous operator: trades in, bars out,
no I/O and no clock reads. The rules are those of
:mod:`quantdesk.bars.buckets` (session-anchored buckets, opening-auction and
close prints, nothing outside sessions) plus:

* **Watermark.** Event time is the largest timestamp seen (trades, or
  :meth:`BarAggregator.advance` from the runner, e.g. the simulator clock or a
  session-end timer). A bar is final once ``end <= watermark - grace_ms``: the
  last bar of a session closes at the session's end (plus the grace), not
  when the next day's first trade arrives.
* **Late trades.** A trade for a bar that is already final updates it and
  the bar is emitted again (``final=True``, to be upserted); it is counted as
  ``late``. Final bars are kept for ``retention_ms`` of event time; a trade
  older than that is counted as ``too_late`` and returned by
  :meth:`BarAggregator.take_rejects` for the dead-letter sink.
* **Partial bars.** Open bars are emitted with ``final=False`` at most every
  ``partial_every_ms`` of event time per symbol, for live charts.
* **No trade, no bar**: empty intervals produce nothing.

Each batch is reduced to per-minute summaries with NumPy and the summaries
are merged into every interval's open bar, so 5m == 1m rolled up, and the
result equals :func:`quantdesk.bars.aggregate_trades` on the same trades.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from quantdesk.bars.buckets import bucket_end, bucket_start, place
from quantdesk.calendars import DAY_MS, ExchangeCalendar
from quantdesk.domain import INTERVALS, Bar, normalize_interval

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Accumulator slots (a list is the cheapest mutable record in CPython).
_OPEN, _OPEN_TS, _HIGH, _LOW, _CLOSE, _CLOSE_TS, _VOL, _PV, _N, _END, _FINAL = range(11)


@dataclass(slots=True)
class _SymbolState:
    # interval -> bar start -> accumulator
    bars: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    last_partial: int = -(2**62)
    dirty: set[tuple[str, int]] = field(default_factory=set)


class BarAggregator:
    """Aggregate trades into session-anchored bars of several intervals in event time."""

    def __init__(
        self,
        calendar: ExchangeCalendar | None,
        intervals: Sequence[str] = INTERVALS,
        *,
        grace_ms: int = 2_000,
        partial_every_ms: int = 1_000,
        retention_ms: int = DAY_MS,
        source: str = "simulator",
    ) -> None:
        self.calendar = calendar
        self.intervals = [i for i in INTERVALS if i in {normalize_interval(x) for x in intervals}]
        self.grace_ms = grace_ms
        self.partial_every_ms = partial_every_ms
        self.retention_ms = retention_ms
        self.source = source
        self.watermark = -(2**62)  # largest event time seen
        self.counters: Counter[str] = Counter()
        self._symbols: dict[str, _SymbolState] = {}
        self._open_heap: list[tuple[int, str, str, int]] = []  # (end, symbol, interval, start)
        self._final_heap: list[tuple[int, str, str, int]] = []  # for retention pruning
        self._rejects: list[tuple[str, int, float, float]] = []

    # -- input -------------------------------------------------------------

    def on_trades(self, symbol: str, ts: I64, price: F64, size: F64) -> list[Bar]:
        """Process a batch of one symbol's trades (arrays of equal length)."""
        out: list[Bar] = []
        n = len(ts)
        if n == 0:
            return out
        if n > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
            order = np.argsort(ts, kind="stable")
            ts, price, size = ts[order], price[order], size[order]
        t_eff, seg, valid = place(ts, self.calendar)
        if not bool(valid.all()):
            self.counters["outside_session"] += int(n - valid.sum())
            ts, price, size, t_eff, seg = (
                ts[valid],
                price[valid],
                size[valid],
                t_eff[valid],
                seg[valid],
            )
            if len(ts) == 0:
                return self._after_batch(symbol, int(ts.max(initial=-(2**62))), out)
        minute = bucket_start(t_eff, seg, "1m", self.calendar)
        m = len(minute)
        change = np.empty(m, dtype=np.bool_)
        change[0] = True
        np.not_equal(minute[1:], minute[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        ends = np.r_[starts[1:], m] - 1
        rows = zip(
            ts[starts].tolist(),
            price[starts].tolist(),
            np.maximum.reduceat(price, starts).tolist(),
            np.minimum.reduceat(price, starts).tolist(),
            price[ends].tolist(),
            ts[ends].tolist(),
            np.add.reduceat(size, starts).tolist(),
            np.add.reduceat(price * size, starts).tolist(),
            np.diff(np.r_[starts, m]).tolist(),
            strict=True,
        )
        seg_s = seg[starts]
        teff_s = t_eff[starts]
        keys = {}
        for interval in self.intervals:
            b = bucket_start(teff_s, seg_s, interval, self.calendar)
            keys[interval] = (b.tolist(), bucket_end(b, seg_s, interval, self.calendar).tolist())
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState(bars={i: {} for i in self.intervals})
        cutoff = self.watermark - self.grace_ms - self.retention_ms
        for j, row in enumerate(rows):
            for interval in self.intervals:
                starts_i, ends_i = keys[interval]
                self._merge(symbol, state, interval, starts_i[j], ends_i[j], row, cutoff, out)
        return self._after_batch(symbol, int(ts[-1]), out)

    def _merge(
        self,
        symbol: str,
        state: _SymbolState,
        interval: str,
        start: int,
        end: int,
        row: tuple[int, float, float, float, float, int, float, float, int],
        cutoff: int,
        out: list[Bar],
    ) -> None:
        open_ts, open_, high, low, close, close_ts, vol, pv, n = row
        bars = state.bars[interval]
        acc = bars.get(start)
        if acc is None:
            if end <= cutoff:
                if interval == "1m":
                    self.counters["too_late"] += n
                    self._rejects.append((symbol, open_ts, open_, vol))
                return
            acc = [open_, open_ts, high, low, close, close_ts, vol, pv, n, end, 0]
            bars[start] = acc
            final_now = end <= self.watermark - self.grace_ms
            if final_now:
                acc[_FINAL] = 1
                heapq.heappush(self._final_heap, (end, symbol, interval, start))
                if interval == "1m":
                    self.counters["late"] += n
                out.append(self._bar(symbol, interval, start, acc, True))
            else:
                heapq.heappush(self._open_heap, (end, symbol, interval, start))
                state.dirty.add((interval, start))
            return
        if open_ts < acc[_OPEN_TS]:
            acc[_OPEN], acc[_OPEN_TS] = open_, open_ts
        if close_ts >= acc[_CLOSE_TS]:
            acc[_CLOSE], acc[_CLOSE_TS] = close, close_ts
        if high > acc[_HIGH]:
            acc[_HIGH] = high
        if low < acc[_LOW]:
            acc[_LOW] = low
        acc[_VOL] += vol
        acc[_PV] += pv
        acc[_N] += n
        if acc[_FINAL]:
            if interval == "1m":
                self.counters["late"] += n
            out.append(self._bar(symbol, interval, start, acc, True))
        else:
            state.dirty.add((interval, start))

    def _after_batch(self, symbol: str, last_ts: int, out: list[Bar]) -> list[Bar]:
        state = self._symbols.get(symbol)
        if (
            state is not None
            and state.dirty
            and last_ts - state.last_partial >= self.partial_every_ms
        ):
            state.last_partial = last_ts
            for interval, start in sorted(state.dirty):
                acc = state.bars[interval].get(start)
                if acc is not None and not acc[_FINAL]:
                    out.append(self._bar(symbol, interval, start, acc, False))
            state.dirty.clear()
        if last_ts > self.watermark:
            out.extend(self.advance(last_ts))
        return out

    def advance(self, event_time: int) -> list[Bar]:
        """Move the watermark to ``event_time`` (if later); return the bars it makes final."""
        if event_time > self.watermark:
            self.watermark = event_time
        limit = self.watermark - self.grace_ms
        out: list[Bar] = []
        heap = self._open_heap
        while heap and heap[0][0] <= limit:
            end, symbol, interval, start = heapq.heappop(heap)
            state = self._symbols[symbol]
            acc = state.bars[interval][start]
            acc[_FINAL] = 1
            state.dirty.discard((interval, start))
            heapq.heappush(self._final_heap, (end, symbol, interval, start))
            out.append(self._bar(symbol, interval, start, acc, True))
        self._prune(limit - self.retention_ms)
        return out

    def _prune(self, cutoff: int) -> None:
        heap = self._final_heap
        while heap and heap[0][0] <= cutoff:
            _, symbol, interval, start = heapq.heappop(heap)
            self._symbols[symbol].bars[interval].pop(start, None)

    def flush(self) -> list[Bar]:
        """Finalize every open bar (end of stream, or shutdown)."""
        out: list[Bar] = []
        while self._open_heap:
            _, symbol, interval, start = heapq.heappop(self._open_heap)
            state = self._symbols[symbol]
            acc = state.bars[interval][start]
            acc[_FINAL] = 1
            out.append(self._bar(symbol, interval, start, acc, True))
        for state in self._symbols.values():
            state.dirty.clear()
        return out

    def seed(self, bar: Bar, resume_ts: int) -> None:
        """Continue a stored, unfinished bar (after a restart) instead of starting it anew.

        The stored part counts as trades before ``resume_ts``: later trades
        extend it; its open stays unless an earlier trade arrives.
        """
        state = self._symbols.get(bar.symbol)
        if state is None:
            state = self._symbols[bar.symbol] = _SymbolState(bars={i: {} for i in self.intervals})
        if bar.interval not in state.bars or bar.time in state.bars[bar.interval]:
            return
        _, seg, valid = place(np.array([bar.time], dtype=np.int64), self.calendar)
        if not bool(valid[0]):
            return
        end = int(
            bucket_end(np.array([bar.time], dtype=np.int64), seg, bar.interval, self.calendar)[0]
        )
        acc = [
            bar.open,
            bar.time,
            bar.high,
            bar.low,
            bar.close,
            resume_ts - 1,
            bar.volume,
            bar.vwap * bar.volume,
            bar.trades,
            end,
            0,
        ]
        state.bars[bar.interval][bar.time] = acc
        heapq.heappush(self._open_heap, (end, bar.symbol, bar.interval, bar.time))

    def snapshot(self, symbols: Collection[str] | None = None) -> dict[str, Any]:
        """The operator state (of ``symbols``, default all) as JSON-ready data.

        With :meth:`restore` this makes the operator checkpointable: a worker
        stores the snapshot with the input offset it covers, and whoever takes
        the input over restores it and continues from that offset.
        """
        chosen = (
            self._symbols
            if symbols is None
            else {s: st for s, st in self._symbols.items() if s in symbols}
        )
        return {
            "watermark": self.watermark,
            "symbols": {
                sym: {
                    "last_partial": st.last_partial,
                    "bars": {
                        iv: [[start, *acc] for start, acc in bars.items()]
                        for iv, bars in st.bars.items()
                        if bars
                    },
                }
                for sym, st in chosen.items()
            },
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Merge a :meth:`snapshot` back in (replacing the state of its symbols)."""
        self.watermark = max(self.watermark, int(snapshot.get("watermark", self.watermark)))
        for sym, data in snapshot.get("symbols", {}).items():
            state = _SymbolState(bars={i: {} for i in self.intervals})
            state.last_partial = int(data.get("last_partial", state.last_partial))
            for interval, rows in data.get("bars", {}).items():
                if interval not in state.bars:
                    continue
                for start, *acc in rows:
                    state.bars[interval][int(start)] = [float(x) for x in acc]
                    key = (int(acc[_END]), sym, interval, int(start))
                    heapq.heappush(self._final_heap if acc[_FINAL] else self._open_heap, key)
                    if not acc[_FINAL]:
                        state.dirty.add((interval, int(start)))
            self._symbols[sym] = state

    def take_rejects(self) -> list[tuple[str, int, float, float]]:
        """Trades dropped as ``too_late`` since the last call: (symbol, ts, price, size)."""
        rejects, self._rejects = self._rejects, []
        return rejects

    def open_bars(self, symbol: str) -> list[Bar]:
        """The symbol's bars that are not final yet."""
        state = self._symbols.get(symbol)
        if state is None:
            return []
        return [
            self._bar(symbol, interval, start, acc, False)
            for interval, bars in state.bars.items()
            for start, acc in bars.items()
            if not acc[_FINAL]
        ]

    def _bar(self, symbol: str, interval: str, start: int, acc: list[float], final: bool) -> Bar:
        vol = acc[_VOL]
        return Bar(
            symbol=symbol,
            interval=interval,
            time=start,
            open=acc[_OPEN],
            high=acc[_HIGH],
            low=acc[_LOW],
            close=acc[_CLOSE],
            volume=vol,
            vwap=acc[_PV] / vol if vol > 0 else acc[_CLOSE],
            trades=int(acc[_N]),
            source=self.source,
            final=final,
        )
