"""``quantdesk export``: stored bars -> one Parquet file or seed-E CSV files.

The Parquet file has the ``market_klines`` columns (``symbol, interval, time,
open, high, low, close, volume, vwap, trades, source``) with ``time`` as
``timestamp[ms, tz=UTC]`` (the bar start); ``quantdesk import`` reads it back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantdesk.domain import BAR_COLUMNS, normalize_interval
from quantdesk.errors import DataError
from quantdesk.export.csv_bars import write_csv
from quantdesk.storage.base import Store

PARQUET_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("interval", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("vwap", pa.float64()),
        ("trades", pa.int64()),
        ("source", pa.string()),
    ]
)


@dataclass(frozen=True)
class ExportReport:
    rows: int
    paths: list[Path]


def stored_bars(
    store: Store,
    symbols: Sequence[str],
    interval: str,
    start: int | None = None,
    end: int | None = None,
) -> pd.DataFrame:
    """Stored bars of ``symbols`` in ``[start, end)``, oldest first, ``time`` in epoch ms."""
    rows = []
    for symbol in symbols:
        rows += store.query_bars(symbol, interval, start, end, None)
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    return frame.sort_values(["symbol", "time"], ignore_index=True)


def export_bars(
    store: Store,
    path: Path,
    *,
    symbols: Sequence[str],
    interval: str,
    start: int | None = None,
    end: int | None = None,
    fmt: str = "parquet",
) -> ExportReport:
    """Export stored bars: ``parquet`` -> one file at ``path``; ``csv`` -> files under ``path``."""
    interval = normalize_interval(interval)
    frame = stored_bars(store, symbols, interval, start, end)
    if fmt == "csv":
        return ExportReport(len(frame), write_csv(frame, path))
    if fmt != "parquet":
        raise DataError(f"unknown export format {fmt!r}: use parquet or csv")
    data = {
        "symbol": frame["symbol"].astype(str).tolist(),
        "interval": frame["interval"].astype(str).tolist(),
        "time": pa.array(frame["time"].astype("int64").to_numpy(), pa.int64()).cast(
            pa.timestamp("ms", tz="UTC")
        ),
    }
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        data[col] = frame[col].astype("float64").to_numpy()
    data["trades"] = frame["trades"].astype("int64").to_numpy()
    data["source"] = frame["source"].astype(str).tolist()
    table = pa.table(data, schema=PARQUET_SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return ExportReport(len(frame), [path])
