"""Trades -> bars in event time: the streaming operator.

:class:`BarAggregator` is a plain synchronous operator: trades in, bars out,
no I/O and no clock reads. The rules are those of
:mod:`quantdesk.bars.buckets` (session-anchored buckets, opening-auction and
close prints, nothing outside sessions) plus:

* **Watermark, per symbol.** A symbol's event time is the largest timestamp
  seen for it (its trades, or :meth:`BarAggregator.advance` from a clock
  heartbeat or the runner's clock). A bar is final once
  ``end <= watermark - grace_ms``: the last bar of a session closes at the
  session's end (plus the grace), not when the next day's first trade
  arrives. Per-symbol watermarks make the result independent of how
  different symbols' streams interleave (partitions consumed at different
  speeds, a worker catching up on another's partitions).
* **Late trades.** A trade for a bar that is already final updates it and
  the bar is emitted again (``final=True``, to be upserted); it is counted as
  ``late``. Final bars are kept for ``retention_ms`` of event time; a trade
  older than that is counted as ``too_late`` and returned by
  :meth:`BarAggregator.take_rejects` for the dead-letter sink.
* **Partial bars.** Open bars are emitted with ``final=False`` for live
  charts, at most once per symbol per window of ``partial_every_ms`` of event
  time (windows aligned to the epoch): the first batch reaching a new window
  emits the bars it and the batches before it changed. (Throttling on the
  distance to the previous emission instead would skip a batch whenever its
  last trade fell earlier in its second than the previous one's, holding its
  trades back until the symbol's next batch.) When the symbol's day closes,
  its still-open bars (the week and the month) are emitted once more,
  unthrottled, so what is stored for them is up to date overnight.
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
from quantdesk.domain.intervals import MINUTE_MS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Accumulator slots (a list is the cheapest mutable record in CPython).
_OPEN, _OPEN_TS, _HIGH, _LOW, _CLOSE, _CLOSE_TS, _VOL, _PV, _N, _END, _FINAL = range(11)

# One minute's summary of a batch: (minute start, segment, open ts, open, high,
# low, close, close ts, volume, price x volume, trades).
_Row = tuple[int, int, int, float, float, float, float, int, float, float, int]
# One interval's bar for a minute: (interval, start, end, dirty key).
_Key = tuple[str, int, int, tuple[str, int]]
_ZERO = np.zeros(1, dtype=np.intp)
_KEY_CACHE = 4096  # minutes whose bar keys are remembered (all symbols share them)


def _rows(
    minutes: list[int],
    segs: list[int],
    ts: I64,
    price: F64,
    size: F64,
    starts: npt.NDArray[np.intp],
) -> list[_Row]:
    """Per-minute summaries of a sorted batch whose minutes begin at ``starts``.

    Sums use ``ufunc.reduceat`` everywhere (its result for a run does not
    depend on the rest of the array), so any split of the same trades gives
    the same floats.
    """
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1] = len(ts)
    ends = stops - 1
    return list(
        zip(
            minutes,
            segs,
            ts[starts].tolist(),
            price[starts].tolist(),
            np.maximum.reduceat(price, starts).tolist(),
            np.minimum.reduceat(price, starts).tolist(),
            price[ends].tolist(),
            ts[ends].tolist(),
            np.add.reduceat(size, starts).tolist(),
            np.add.reduceat(price * size, starts).tolist(),
            (stops - starts).tolist(),
            strict=True,
        )
    )


_NEVER = -(2**62)


@dataclass(slots=True)
class _SymbolState:
    # interval -> bar start -> accumulator
    bars: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    last_partial: int = _NEVER
    dirty: set[tuple[str, int]] = field(default_factory=set)
    watermark: int = _NEVER  # the largest event time seen for this symbol
    open_heap: list[tuple[int, str, int]] = field(default_factory=list)  # (end, interval, start)
    final_heap: list[tuple[int, str, int]] = field(default_factory=list)  # for retention


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
        self.counters: Counter[str] = Counter()
        self._symbols: dict[str, _SymbolState] = {}
        self._rejects: list[tuple[str, int, float, float]] = []
        # (index, open, close, bucket anchor) of the last segment found; without a
        # calendar one segment spans all times, anchored at the epoch.
        self._segment = (-1, -(2**63), 2**63, 0) if calendar is None else (-1, 1, 0, 0)
        self._keys: dict[int, tuple[_Key, ...]] = {}  # minute -> every interval's bar

    @property
    def watermark(self) -> int:
        """The largest event time seen for any symbol."""
        return max((st.watermark for st in self._symbols.values()), default=_NEVER)

    def watermark_of(self, symbol: str) -> int:
        """The symbol's event-time watermark (a large negative number before its first event)."""
        state = self._symbols.get(symbol)
        return _NEVER if state is None else state.watermark

    def _state(self, symbol: str) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState(bars={i: {} for i in self.intervals})
        return state

    # -- input -------------------------------------------------------------

    def on_trades(self, symbol: str, ts: I64, price: F64, size: F64) -> list[Bar]:
        """Process a batch of one symbol's trades (arrays of equal length)."""
        out: list[Bar] = []
        n = len(ts)
        if n == 0:
            return out
        if n > 1 and not bool((ts[1:] >= ts[:-1]).all()):
            order = np.argsort(ts, kind="stable")
            ts, price, size = ts[order], price[order], size[order]
        first, last = int(ts[0]), int(ts[-1])
        seg, lo, hi, anchor = self._segment
        if not (lo <= first and last < hi):
            found = self._find_segment(first, last)
            if found is None:  # the batch touches a session edge: the general placement
                return self._on_placed_trades(symbol, ts, price, size, out)
            seg, anchor = found, self._segment[3]
        # Fast path: every print lies inside one segment (or there is no calendar),
        # so t_eff == ts and the minutes follow from the first and the last print
        # (a batch mostly spans one or two).
        m0 = anchor + (first - anchor) // MINUTE_MS * MINUTE_MS
        m1 = anchor + (last - anchor) // MINUTE_MS * MINUTE_MS
        if m0 == m1:
            z = _ZERO
            rows = [
                (
                    m0,
                    seg,
                    first,
                    price.item(0),
                    np.maximum.reduceat(price, z).item(),
                    np.minimum.reduceat(price, z).item(),
                    price.item(-1),
                    last,
                    np.add.reduceat(size, z).item(),
                    np.add.reduceat(price * size, z).item(),
                    n,
                )
            ]
        elif m1 - m0 == MINUTE_MS:
            cut = int(ts.searchsorted(m1))
            st = np.array((0, cut), dtype=np.intp)
            hi = np.maximum.reduceat(price, st).tolist()
            lo = np.minimum.reduceat(price, st).tolist()
            vol = np.add.reduceat(size, st).tolist()
            pv = np.add.reduceat(price * size, st).tolist()
            rows = [
                (m0, seg, first, price.item(0), hi[0], lo[0], price.item(cut - 1),
                 ts.item(cut - 1), vol[0], pv[0], cut),
                (m1, seg, ts.item(cut), price.item(cut), hi[1], lo[1], price.item(-1),
                 last, vol[1], pv[1], n - cut),
            ]  # fmt: skip
        else:
            minute = (ts - anchor) // MINUTE_MS
            change = np.empty(n, dtype=np.bool_)
            change[0] = True
            np.not_equal(minute[1:], minute[:-1], out=change[1:])
            starts = np.flatnonzero(change)
            minutes = (minute[starts] * MINUTE_MS + anchor).tolist()
            rows = _rows(minutes, [seg] * len(minutes), ts, price, size, starts)
        state = self._symbols.get(symbol) or self._state(symbol)
        self._merge_rows(symbol, state, rows, out)
        return self._after_batch(symbol, state, last, out)

    def _find_segment(self, first: int, last: int) -> int | None:
        """The segment holding every print in ``[first, last]`` (remembered), or None.

        Consecutive batches, of any symbol, mostly fall in the same segment, so
        :meth:`on_trades` checks the remembered one first.
        """
        cal = self.calendar
        if cal is None:  # never reached: the sentinel segment spans all times
            return -1
        seg = int(cal.opens.searchsorted(first, side="right")) - 1
        if seg < 0:
            return None
        lo, hi = int(cal.opens[seg]), int(cal.closes[seg])
        self._segment = (seg, lo, hi, lo)
        return seg if last < hi else None

    def _on_placed_trades(
        self, symbol: str, ts: I64, price: F64, size: F64, out: list[Bar]
    ) -> list[Bar]:
        """The general path for a sorted batch: place every print (auction, close, outside)."""
        n = len(ts)
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
                state = self._symbols.get(symbol)
                return self._after_batch(symbol, state, int(ts.max(initial=_NEVER)), out)
        minute = bucket_start(t_eff, seg, "1m", self.calendar)
        m = len(minute)
        change = np.empty(m, dtype=np.bool_)
        change[0] = True
        np.not_equal(minute[1:], minute[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        rows = _rows(minute[starts].tolist(), seg[starts].tolist(), ts, price, size, starts)
        state = self._state(symbol)
        self._merge_rows(symbol, state, rows, out)
        return self._after_batch(symbol, state, int(ts[-1]), out)

    def _bucket_keys(self, minute: int, seg: int) -> tuple[_Key, ...]:
        """Every interval's ``(interval, start, end, (interval, start))`` for one minute.

        A minute start lies in exactly one segment, so the minute alone keys the cache.
        """
        m = np.array([minute], dtype=np.int64)
        s = np.array([seg], dtype=np.int64)
        built = []
        for interval in self.intervals:
            b = bucket_start(m, s, interval, self.calendar)
            start, end = int(b[0]), int(bucket_end(b, s, interval, self.calendar)[0])
            built.append((interval, start, end, (interval, start)))
        if len(self._keys) >= _KEY_CACHE:
            self._keys.clear()
        keys = self._keys[minute] = tuple(built)
        return keys

    def _merge_rows(
        self, symbol: str, state: _SymbolState, rows: list[_Row], out: list[Bar]
    ) -> None:
        """Merge per-minute summaries into every interval's bar (the streaming roll-up)."""
        limit = state.watermark - self.grace_ms
        cutoff = limit - self.retention_ms
        all_bars = state.bars
        dirty = state.dirty
        cache = self._keys
        for minute, seg, open_ts, open_, high, low, close, close_ts, vol, pv, n in rows:
            keys = cache.get(minute)
            if keys is None:
                keys = self._bucket_keys(minute, seg)
            for interval, start, end, key in keys:
                bars = all_bars[interval]
                acc = bars.get(start)
                if acc is None:
                    if end <= cutoff:
                        if interval == "1m":  # set aside whole: no larger bar takes it either
                            self.counters["too_late"] += n
                            self._rejects.append((symbol, open_ts, open_, vol))
                            break
                        continue
                    acc = [open_, open_ts, high, low, close, close_ts, vol, pv, n, end, 0]
                    bars[start] = acc
                    if end <= limit:  # final at once: a late trade opened it
                        acc[_FINAL] = 1
                        heapq.heappush(state.final_heap, (end, interval, start))
                        if interval == "1m":
                            self.counters["late"] += n
                        out.append(self._bar(symbol, interval, start, acc, True))
                    else:
                        heapq.heappush(state.open_heap, (end, interval, start))
                        dirty.add(key)
                    continue
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
                    dirty.add(key)

    def _after_batch(
        self, symbol: str, state: _SymbolState | None, last_ts: int, out: list[Bar]
    ) -> list[Bar]:
        """Emit the partial bars (throttled) and move the symbol's watermark."""
        every = self.partial_every_ms
        if (
            state is not None
            and state.dirty
            and (
                last_ts // every > state.last_partial // every
                if every > 0
                else last_ts >= state.last_partial
            )
        ):
            state.last_partial = last_ts
            all_bars = state.bars
            source = self.source
            for interval, start in sorted(state.dirty):
                acc = all_bars[interval].get(start)
                if acc is not None and not acc[_FINAL]:
                    vol = acc[_VOL]
                    out.append(
                        Bar(  # as _bar(..., False), inlined: one per interval per batch
                            symbol,
                            interval,
                            start,
                            acc[_OPEN],
                            acc[_HIGH],
                            acc[_LOW],
                            acc[_CLOSE],
                            vol,
                            acc[_PV] / vol if vol > 0 else acc[_CLOSE],
                            int(acc[_N]),
                            source,
                            False,
                        )
                    )
            state.dirty.clear()
        if state is not None and last_ts > state.watermark:
            limit = last_ts - self.grace_ms
            opened, finals = state.open_heap, state.final_heap
            if (opened and opened[0][0] <= limit) or (
                finals and finals[0][0] <= limit - self.retention_ms
            ):
                self._advance_symbol(symbol, state, last_ts, out)
            else:  # what _advance_symbol() does when no bar closes and none expires
                state.watermark = last_ts
        return out

    def advance(self, event_time: int, symbol: str | None = None) -> list[Bar]:
        """Move the watermark of ``symbol`` (default: every symbol) to ``event_time``.

        Returns the bars that become final.
        """
        out: list[Bar] = []
        if symbol is not None:
            self._advance_symbol(symbol, self._state(symbol), event_time, out)
        else:
            for sym, state in self._symbols.items():
                self._advance_symbol(sym, state, event_time, out)
        return out

    def _advance_symbol(
        self, symbol: str, state: _SymbolState, event_time: int, out: list[Bar]
    ) -> None:
        if event_time > state.watermark:
            state.watermark = event_time
        limit = state.watermark - self.grace_ms
        heap = state.open_heap
        day_closed = False
        while heap and heap[0][0] <= limit:
            end, interval, start = heapq.heappop(heap)
            acc = state.bars[interval][start]
            acc[_FINAL] = 1
            state.dirty.discard((interval, start))
            heapq.heappush(state.final_heap, (end, interval, start))
            out.append(self._bar(symbol, interval, start, acc, True))
            day_closed = day_closed or interval == "1d"
        if day_closed and state.dirty:
            # the open week and month as of the day's close, unthrottled: what is
            # stored for them then equals the aggregate of their final days
            for key in sorted(state.dirty):
                open_acc = state.bars[key[0]].get(key[1])
                if open_acc is not None and not open_acc[_FINAL]:
                    out.append(self._bar(symbol, key[0], key[1], open_acc, False))
            state.dirty.clear()
        cutoff = limit - self.retention_ms
        finals = state.final_heap
        while finals and finals[0][0] <= cutoff:
            _, interval, start = heapq.heappop(finals)
            state.bars[interval].pop(start, None)

    def flush(self) -> list[Bar]:
        """Finalize every open bar (end of stream, or shutdown)."""
        out: list[Bar] = []
        for symbol, state in self._symbols.items():
            while state.open_heap:
                end, interval, start = heapq.heappop(state.open_heap)
                acc = state.bars[interval][start]
                acc[_FINAL] = 1
                heapq.heappush(state.final_heap, (end, interval, start))
                out.append(self._bar(symbol, interval, start, acc, True))
            state.dirty.clear()
        return out

    def seed(self, bar: Bar, resume_ts: int) -> None:
        """Continue a stored, unfinished bar (after a restart) instead of starting it anew.

        The stored part counts as trades before ``resume_ts``: later trades
        extend it; its open stays unless an earlier trade arrives.
        """
        state = self._state(bar.symbol)
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
        heapq.heappush(state.open_heap, (end, bar.interval, bar.time))

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
            "symbols": {
                sym: {
                    "watermark": st.watermark,
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
        for sym, data in snapshot.get("symbols", {}).items():
            state = _SymbolState(bars={i: {} for i in self.intervals})
            state.watermark = int(data.get("watermark", _NEVER))
            state.last_partial = int(data.get("last_partial", state.last_partial))
            for interval, rows in data.get("bars", {}).items():
                if interval not in state.bars:
                    continue
                for start, *acc in rows:
                    state.bars[interval][int(start)] = [float(x) for x in acc]
                    key = (int(acc[_END]), interval, int(start))
                    heapq.heappush(state.final_heap if acc[_FINAL] else state.open_heap, key)
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
        return Bar(  # positional: the fields in Bar's order (symbol ... source, final)
            symbol,
            interval,
            start,
            acc[_OPEN],
            acc[_HIGH],
            acc[_LOW],
            acc[_CLOSE],
            vol,
            acc[_PV] / vol if vol > 0 else acc[_CLOSE],
            int(acc[_N]),
            self.source,
            final,
        )
