"""Read a tick capture back in event-time order (the replay source steps through it)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.domain import BookSnapshot, Trade
from quantdesk.errors import NotFoundError

ReplayEvent = Trade | BookSnapshot


def capture_files(root: Path, kind: str) -> list[Path]:
    """The Parquet parts of one kind (``trades`` or ``books``) under ``root`` (the capture
    folder, or a part of it), sorted."""
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
        _trades(_read(capture_files(root, "trades"))),
        _books(_read(capture_files(root, "books"))),
    ]
    for _ts, _k, ev in heapq.merge(*streams, key=lambda x: (x[0], x[1] % 2, x[1])):
        if symbols is not None and ev.symbol not in symbols:
            continue
        if (start is not None and ev.ts < start) or (end is not None and ev.ts >= end):
            continue
        yield ev
