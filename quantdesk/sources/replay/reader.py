"""Read a tick capture back in event-time order and republish it onto the bus."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.bus import Heartbeat, TradeBatch
from quantdesk.bus.codec import Encodable
from quantdesk.domain import BookSnapshot, Trade
from quantdesk.errors import NotFoundError

#: Event time covered by one published slice (as the embedded runtime's SLICE_MS).
SLICE_MS = 60_000

ReplayEvent = Trade | BookSnapshot


def _files(root: Path, kind: str) -> list[Path]:
    if (root / kind).is_dir():
        base = root / kind
    elif root.name == kind or any(p.name == kind for p in root.parents):
        base = root
    else:
        return []
    return sorted(p for p in base.rglob("*.parquet") if not p.name.startswith("."))


def _read(files: list[Path]) -> pa.Table | None:
    tables = [pq.read_table(f) for f in files]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="default")
    # stable: same-ts events keep their order of capture (files sort by part number)
    order = np.lexsort((np.arange(table.num_rows), table.column("ts").to_numpy()))
    return table.take(pa.array(order))


def _trades(table: pa.Table | None) -> Iterator[tuple[int, int, ReplayEvent]]:
    if table is None:
        return
    d = table.to_pydict()
    for i, (sym, ts, px, sz, tid, src) in enumerate(
        zip(d["symbol"], d["ts"], d["price"], d["size"], d["trade_id"], d["source"], strict=True)
    ):
        yield ts, 2 * i + 1, Trade(sym, ts, px, sz, tid, src)


def _books(table: pa.Table | None) -> Iterator[tuple[int, int, ReplayEvent]]:
    if table is None:
        return
    d = table.to_pydict()
    for i in range(table.num_rows):
        bids = tuple(zip(d["bid_px"][i], d["bid_sz"][i], strict=True))
        asks = tuple(zip(d["ask_px"][i], d["ask_sz"][i], strict=True))
        ts = d["ts"][i]
        yield ts, 2 * i, BookSnapshot(d["symbol"][i], ts, bids, asks, d["source"][i])


def read_events(
    root: Path | str,
    *,
    symbols: set[str] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[ReplayEvent]:
    """Every captured trade and book snapshot under ``root``, in event-time order."""
    root = Path(root)
    if not root.exists():
        raise NotFoundError(f"{root}: no such capture folder")
    streams = [
        _trades(_read(_files(root, "trades"))),
        _books(_read(_files(root, "books"))),
    ]
    for _ts, _k, ev in heapq.merge(*streams, key=lambda x: (x[0], x[1] % 2, x[1])):
        if symbols is not None and ev.symbol not in symbols:
            continue
        if (start is not None and ev.ts < start) or (end is not None and ev.ts >= end):
            continue
        yield ev


class Replayer:
    """Republish captured events: TradeBatch / BookSnapshot plus clock Heartbeats.

    ``speed`` N replays N times faster than event time (``0`` = as fast as
    possible). Events are published a slice (:data:`SLICE_MS` of event time) at
    a time; after each slice every symbol seen so far gets a heartbeat at the
    slice end, so bars close exactly as in the live run.
    """

    def __init__(
        self,
        events: Iterator[ReplayEvent] | list[ReplayEvent],
        send: Callable[[Encodable], None],
        *,
        speed: float = 0.0,
        slice_ms: int = SLICE_MS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        after_slice: Callable[[int], None] | None = None,
    ) -> None:
        self.events = iter(events)
        self.send = send
        self.speed = speed
        self.slice_ms = slice_ms
        self.sleep = sleep
        self.monotonic = monotonic
        self.after_slice = after_slice
        self.trades = 0
        self.books = 0
        self.last_ts: int | None = None

    def run(self) -> int:
        """Replay everything; returns the number of events sent."""
        symbols: dict[str, None] = {}
        pending: list[ReplayEvent] = []
        slice_end: int | None = None
        t0_event: int | None = None
        t0_wall = self.monotonic()
        for ev in self.events:
            if slice_end is None:
                slice_end = (ev.ts // self.slice_ms + 1) * self.slice_ms
                t0_event = ev.ts
            while ev.ts >= slice_end:
                self._publish(pending, symbols, slice_end, t0_event, t0_wall)
                pending = []
                slice_end += self.slice_ms
            pending.append(ev)
            symbols.setdefault(ev.symbol, None)
        if slice_end is not None:
            self._publish(pending, symbols, slice_end, t0_event, t0_wall)
        return self.trades + self.books

    def _publish(
        self,
        events: list[ReplayEvent],
        symbols: dict[str, None],
        until: int,
        t0_event: int | None,
        t0_wall: float,
    ) -> None:
        if self.speed > 0 and t0_event is not None:
            due = t0_wall + (until - t0_event) / 1000 / self.speed
            wait = due - self.monotonic()
            if wait > 0:
                self.sleep(wait)
        run: list[Trade] = []
        for ev in events:
            if isinstance(ev, Trade):
                if run and run[-1].symbol != ev.symbol:
                    self._send_trades(run)
                    run = []
                run.append(ev)
            else:
                self._send_trades(run)
                run = []
                self.send(ev)
                self.books += 1
        self._send_trades(run)
        for sym in symbols:
            self.send(Heartbeat(sym, until))
        self.last_ts = until
        if self.after_slice is not None:
            self.after_slice(until)

    def _send_trades(self, run: list[Trade]) -> None:
        if not run:
            return
        for batch in TradeBatch.from_trades(run):
            self.send(batch)
        self.trades += len(run)
