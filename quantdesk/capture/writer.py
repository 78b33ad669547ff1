"""TickCapture: raw trades and book snapshots -> Parquet parts by kind, day and symbol."""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.bus import TradeBatch
from quantdesk.domain import BookSnapshot, Trade
from quantdesk.domain.time import from_ms

TRADE_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ts", pa.int64()),
        ("price", pa.float64()),
        ("size", pa.float64()),
        ("trade_id", pa.string()),
        ("source", pa.string()),
    ]
)
BOOK_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ts", pa.int64()),
        ("bid_px", pa.list_(pa.float64())),
        ("bid_sz", pa.list_(pa.float64())),
        ("ask_px", pa.list_(pa.float64())),
        ("ask_sz", pa.list_(pa.float64())),
        ("source", pa.string()),
    ]
)

Event = Trade | BookSnapshot | TradeBatch


class TickCapture:
    """Buffer raw events and write them as Parquet parts (``batch_rows`` rows at a time).

    Thread-safe; call :meth:`flush` (or :meth:`close`, or use ``with``) to
    write what is buffered. Parts are written to a temporary name and renamed,
    so a reader never sees half a file.
    """

    def __init__(self, root: Path | str, *, batch_rows: int = 50_000, tz: str = "UTC") -> None:
        self.root = Path(root)
        self.batch_rows = batch_rows
        self.tz = ZoneInfo(tz)
        self._lock = threading.Lock()
        self._trades: dict[str, list[Any]] = defaultdict(list)
        self._books: dict[str, list[Any]] = defaultdict(list)
        self._rows = 0
        self._seq = itertools.count()
        self._run = uuid.uuid4().hex[:12]
        self.files_written = 0
        self.rows_written = 0

    # -- input ------------------------------------------------------------------

    def write(self, events: Iterable[Event]) -> None:
        """Buffer events; writes parts once ``batch_rows`` rows are waiting."""
        with self._lock:
            for ev in events:
                if isinstance(ev, TradeBatch):
                    ids = ev.ids if ev.ids is not None else [None] * len(ev)
                    for t, p, s, i in zip(ev.ts, ev.price, ev.size, ids, strict=True):
                        self._trades["_"].append(
                            (ev.symbol, int(t), float(p), float(s), i, ev.source)
                        )
                    self._rows += len(ev)
                elif isinstance(ev, Trade):
                    self._trades["_"].append(
                        (ev.symbol, ev.ts, ev.price, ev.size, ev.trade_id, ev.source)
                    )
                    self._rows += 1
                elif isinstance(ev, BookSnapshot):
                    self._books["_"].append(ev)
                    self._rows += 1
            if self._rows >= self.batch_rows:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> TickCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- output -----------------------------------------------------------------

    def _day(self, ts: np.ndarray) -> np.ndarray:
        days = [from_ms(int(t), self.tz).date().isoformat() for t in ts]
        return np.asarray(days, dtype=object)

    def _flush_locked(self) -> None:
        trades = self._trades.pop("_", [])
        books = self._books.pop("_", [])
        self._rows = 0
        if trades:
            cols = list(zip(*trades, strict=True))
            table = pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(cols, TRADE_SCHEMA, strict=True)],
                schema=TRADE_SCHEMA,
            )
            self._write_split("trades", table)
        if books:
            table = pa.Table.from_pydict(
                {
                    "symbol": [b.symbol for b in books],
                    "ts": [b.ts for b in books],
                    "bid_px": [[float(p) for p, _ in b.bids] for b in books],
                    "bid_sz": [[float(s) for _, s in b.bids] for b in books],
                    "ask_px": [[float(p) for p, _ in b.asks] for b in books],
                    "ask_sz": [[float(s) for _, s in b.asks] for b in books],
                    "source": [b.source for b in books],
                },
                schema=BOOK_SCHEMA,
            )
            self._write_split("books", table)

    def _write_split(self, kind: str, table: pa.Table) -> None:
        symbols = np.asarray(table.column("symbol").to_pylist(), dtype=object)
        days = self._day(table.column("ts").to_numpy())
        keys = np.char.add(np.char.add(days.astype(str), "|"), symbols.astype(str))
        for key in dict.fromkeys(keys.tolist()):
            day, symbol = key.split("|", 1)
            part = table.filter(pa.array(keys == key))
            folder = self.root / kind / f"date={day}" / f"symbol={symbol}"
            folder.mkdir(parents=True, exist_ok=True)
            name = f"part-{self._run}-{next(self._seq):06d}.parquet"
            tmp = folder / f".{name}.tmp"
            pq.write_table(part, tmp, compression="zstd")
            os.replace(tmp, folder / name)
            self.files_written += 1
            self.rows_written += part.num_rows
