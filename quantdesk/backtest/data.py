"""Stored bars into a :class:`~quantdesk.trading.history.BarHistory` panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.errors import DataError, NotFoundError
from quantdesk.trading.history import FIELDS, BarHistory

__all__ = ["history_from_frame", "load_history"]

#: Column positions of open, high, low, close, volume in a stored bar row (BAR_COLUMNS).
_ROW_FIELDS = (3, 4, 5, 6, 7)


def load_history(
    store: Any,
    symbols: Sequence[str],
    interval: str,
    start: int | None = None,
    end: int | None = None,
) -> BarHistory:
    """Bars of ``symbols`` with ``start <= time < end`` from a store, one row per bar time."""
    if not symbols:
        raise DataError("backtest: no symbols")
    times_per: list[np.ndarray[Any, Any]] = []
    values_per: list[np.ndarray[Any, Any]] = []
    for sym in symbols:
        rows = store.query_bars(sym, interval, start, end)
        if rows:
            times_per.append(np.fromiter((r[2] for r in rows), np.int64, len(rows)))
            values_per.append(np.array([[r[k] for k in _ROW_FIELDS] for r in rows], np.float64))
        else:
            times_per.append(np.empty(0, np.int64))
            values_per.append(np.empty((0, len(FIELDS)), np.float64))
    if not any(len(t) for t in times_per):
        raise NotFoundError(
            f"backtest: no {interval} bars stored for {', '.join(symbols[:5])}"
            f"{' ...' if len(symbols) > 5 else ''} in the range (run `quantdesk run` or a"
            " backfill first)"
        )
    times = np.unique(np.concatenate(times_per))
    data = {f: np.full((len(times), len(symbols)), np.nan) for f in FIELDS}
    for j, (t, v) in enumerate(zip(times_per, values_per, strict=True)):
        if not len(t):
            continue
        pos = np.searchsorted(times, t)
        for k, f in enumerate(FIELDS):
            data[f][pos, j] = v[:, k]
    return BarHistory(list(symbols), times, data)


def history_from_frame(frame: pd.DataFrame) -> BarHistory:
    """A panel from a long DataFrame with ``symbol``, ``time`` (epoch ms or datetimes),
    ``open``, ``high``, ``low``, ``close``, ``volume`` (tests, notebooks, benchmarks)."""
    missing = {"symbol", "time", *FIELDS} - set(frame.columns)
    if missing:
        raise DataError(f"bars: missing column(s) {', '.join(sorted(missing))}")
    t = frame["time"]
    if pd.api.types.is_datetime64_any_dtype(t):
        ms = (
            t.dt.tz_convert("UTC").astype("int64") // 1_000_000
            if t.dt.tz
            else t.astype("int64") // 1_000_000
        )
    else:
        ms = t.astype("int64")
    symbols = sorted(frame["symbol"].unique().tolist())
    times, t_pos = np.unique(ms.to_numpy(), return_inverse=True)
    s_pos = pd.Categorical(frame["symbol"], categories=symbols).codes
    data = {}
    for f in FIELDS:
        m = np.full((len(times), len(symbols)), np.nan)
        m[t_pos, s_pos] = frame[f].to_numpy(dtype=np.float64)
        data[f] = m
    return BarHistory(symbols, times, data)
