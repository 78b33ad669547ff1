"""Turn a bar DataFrame into validated, key-sorted, de-duplicated column arrays.

Both backends write from :class:`BarArrays`: the rows are sorted by the natural
key ``(symbol, interval, time)`` (so B-tree inserts stay local) and a key that
occurs twice keeps its last row (so one write never touches a row twice, which
``INSERT ... ON CONFLICT DO UPDATE`` forbids).

The string columns are factorized once: each distinct symbol, interval and
source is one Python string shared by all its rows, which is what makes the
per-row work cheap for frames of millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.domain import BAR_COLUMNS
from quantdesk.errors import DataError

FLOAT_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "vwap")
TEXT_COLUMNS: tuple[str, ...] = ("symbol", "interval", "source")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Codes = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Bars as columns: text columns as codes into ``*_names``, the rest as arrays.

    ``time`` is int64 epoch ms. ``vwap`` may hold NaN (stored as NULL).
    """

    symbol_codes: Codes
    symbol_names: list[str]
    interval_codes: Codes
    interval_names: list[str]
    source_codes: Codes
    source_names: list[str]
    time: I64
    floats: dict[str, F64]
    trades: I64

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> BarArrays:
        """The subset of rows selected by ``index`` (positions or a mask), order kept."""
        return BarArrays(
            self.symbol_codes[index],
            self.symbol_names,
            self.interval_codes[index],
            self.interval_names,
            self.source_codes[index],
            self.source_names,
            self.time[index],
            {k: v[index] for k, v in self.floats.items()},
            self.trades[index],
        )

    def object_rows(self, lo: int, hi: int) -> npt.NDArray[np.object_]:
        """Rows ``lo:hi`` as a 2-D object array of Python values, in BAR_COLUMNS order."""
        out = np.empty((hi - lo, len(BAR_COLUMNS)), dtype=object)
        out[:, 0] = np.asarray(self.symbol_names, dtype=object)[self.symbol_codes[lo:hi]]
        out[:, 1] = np.asarray(self.interval_names, dtype=object)[self.interval_codes[lo:hi]]
        out[:, 2] = self.time[lo:hi]
        for j, name in enumerate(FLOAT_COLUMNS, start=3):
            out[:, j] = self.floats[name][lo:hi]
        out[:, 9] = self.trades[lo:hi]
        out[:, 10] = np.asarray(self.source_names, dtype=object)[self.source_codes[lo:hi]]
        return out

    def numeric_rows(self, lo: int, hi: int) -> npt.NDArray[np.object_]:
        """Rows ``lo:hi`` of the non-text columns (time, OHLCV, vwap, trades), as Python values."""
        out = np.empty((hi - lo, 2 + len(FLOAT_COLUMNS)), dtype=object)
        out[:, 0] = self.time[lo:hi]
        for j, name in enumerate(FLOAT_COLUMNS, start=1):
            out[:, j] = self.floats[name][lo:hi]
        out[:, -1] = self.trades[lo:hi]
        return out

    def runs(self) -> list[tuple[int, int]]:
        """``(lo, hi)`` spans of consecutive rows sharing symbol, interval and source."""
        n = len(self)
        if n == 0:
            return []
        change = (
            (self.symbol_codes[1:] != self.symbol_codes[:-1])
            | (self.interval_codes[1:] != self.interval_codes[:-1])
            | (self.source_codes[1:] != self.source_codes[:-1])
        )
        cuts = (np.flatnonzero(change) + 1).tolist()
        return list(zip([0, *cuts], [*cuts, n], strict=True))

    def texts(self, row: int) -> tuple[str, str, str]:
        """``(symbol, interval, source)`` of one row."""
        return (
            self.symbol_names[self.symbol_codes[row]],
            self.interval_names[self.interval_codes[row]],
            self.source_names[self.source_codes[row]],
        )

    def keys(self) -> list[tuple[str, str, int, int]]:
        """``(symbol, interval, min time, max time)`` for each (symbol, interval) present."""
        pair = self.symbol_codes.astype(np.int64) * len(self.interval_names) + self.interval_codes
        order = np.argsort(pair, kind="stable")
        pair_sorted = pair[order]
        starts = np.flatnonzero(np.r_[True, pair_sorted[1:] != pair_sorted[:-1]])
        t = self.time[order]
        mins = np.minimum.reduceat(t, starts)
        maxs = np.maximum.reduceat(t, starts)
        out = []
        for s, lo, hi in zip(starts.tolist(), mins.tolist(), maxs.tolist(), strict=True):
            p = int(pair_sorted[s])
            sym, ivl = divmod(p, len(self.interval_names))
            out.append((self.symbol_names[sym], self.interval_names[ivl], int(lo), int(hi)))
        return out


def _text_column(df: pd.DataFrame, name: str) -> tuple[Codes, list[str]]:
    col = df[name]
    if col.isna().any():
        row = int(np.flatnonzero(col.isna().to_numpy())[0])
        raise DataError(f"bar column {name!r} is empty at row {row}: every bar needs a {name}")
    codes, uniques = pd.factorize(col, sort=True)
    names = [str(u) for u in uniques]
    if any(not n for n in names):
        raise DataError(f"bar column {name!r} holds an empty string: every bar needs a {name}")
    return codes.astype(np.intp, copy=False), names


def _time_column(col: pd.Series) -> I64:
    """Epoch ms from an integer column or a timezone-aware datetime column."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").to_numpy()
    if pd.api.types.is_datetime64_dtype(col.dtype):
        raise DataError(
            "bar column 'time' holds naive datetimes: use int epoch ms or tz-aware UTC times"
        )
    if pd.api.types.is_integer_dtype(col.dtype):
        if col.isna().any():
            raise DataError("bar column 'time' has empty values: every bar needs a start time")
        return col.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all() or (values != np.floor(values)).any():
            raise DataError("bar column 'time' must hold whole epoch milliseconds")
        return values.astype(np.int64)
    try:
        return col.to_numpy(dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(f"bar column 'time' has type {col.dtype}: use int64 epoch ms") from None


def prepare_bars(bars: pd.DataFrame) -> BarArrays:
    """Validate ``bars`` and return them key-sorted, last row winning on duplicate keys."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(
            f"bar frame lacks column(s) {', '.join(missing)}: expected {', '.join(BAR_COLUMNS)}"
        )
    if len(bars) == 0:
        bars = pd.DataFrame({c: pd.Series([], dtype="int64") for c in BAR_COLUMNS})
    sym_codes, sym_names = _text_column(bars, "symbol")
    ivl_codes, ivl_names = _text_column(bars, "interval")
    src_codes, src_names = _text_column(bars, "source")
    time = _time_column(bars["time"])
    floats: dict[str, F64] = {}
    for name in FLOAT_COLUMNS:
        try:
            values = bars[name].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise DataError(f"bar column {name!r} is not numeric: {exc}") from None
        if name != "vwap" and np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise DataError(f"bar column {name!r} is empty at row {row}")
        floats[name] = values
    trades_col = bars["trades"]
    if trades_col.isna().any():
        raise DataError("bar column 'trades' has empty values: use 0 when unknown")
    trades = trades_col.to_numpy(dtype=np.int64)

    n = time.shape[0]
    if n > 1:
        order = _key_order(sym_codes, ivl_codes, time)
        if order is not None:
            sym_codes, ivl_codes, src_codes = sym_codes[order], ivl_codes[order], src_codes[order]
            time, trades = time[order], trades[order]
            floats = {k: v[order] for k, v in floats.items()}
        # After a stable sort equal keys are adjacent in input order: keep the last one.
        dup = (
            (sym_codes[1:] == sym_codes[:-1])
            & (ivl_codes[1:] == ivl_codes[:-1])
            & (time[1:] == time[:-1])
        )
        if dup.any():
            keep = np.r_[~dup, True]
            sym_codes, ivl_codes, src_codes = sym_codes[keep], ivl_codes[keep], src_codes[keep]
            time, trades = time[keep], trades[keep]
            floats = {k: v[keep] for k, v in floats.items()}
    return BarArrays(
        sym_codes, sym_names, ivl_codes, ivl_names, src_codes, src_names, time, floats, trades
    )


def _key_order(sym: Codes, ivl: Codes, time: I64) -> npt.NDArray[np.intp] | None:
    """A stable permutation sorting by (symbol, interval, time), or None if already sorted."""
    same_group = (sym[1:] == sym[:-1]) & (ivl[1:] == ivl[:-1])
    group_up = (sym[1:] > sym[:-1]) | ((sym[1:] == sym[:-1]) & (ivl[1:] > ivl[:-1]))
    if bool(np.all(group_up | (same_group & (time[1:] >= time[:-1])))):
        return None
    return np.lexsort((time, ivl, sym)).astype(np.intp, copy=False)
