"""Bars up to now, as a (time x symbol) panel: what a strategy may look at.

:class:`BarHistory` holds one float64 matrix per field (``open high low close
volume``), one row per bar time, one column per symbol (NaN where a symbol
has no bar). Its *cursor* is the number of rows known at the decision time:
every read returns rows before the cursor only, so a strategy cannot see a
later bar. The backtester fills the panel from the store and moves the
cursor one row per step; live trading appends a row per closed cross-section
(:meth:`append`). Reads are views (no copies), which is what keeps a
cross-sectional backtest over thousands of stocks fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["FIELDS", "BarHistory"]

FIELDS = ("open", "high", "low", "close", "volume")
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class BarHistory:
    """A (time x symbol) panel of bars with a cursor at the decision time."""

    def __init__(
        self,
        symbols: Sequence[str],
        times: I64 | None = None,
        data: Mapping[str, F64] | None = None,
        *,
        capacity: int = 256,
    ) -> None:
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.index: dict[str, int] = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        if times is None:
            self._times: I64 = np.zeros(capacity, dtype=np.int64)
            self._data: dict[str, F64] = {f: np.full((capacity, n), np.nan) for f in FIELDS}
            self._rows = 0
        else:
            self._times = np.asarray(times, dtype=np.int64)
            assert data is not None
            self._data = {f: np.asarray(data[f], dtype=np.float64) for f in FIELDS}
            self._rows = len(self._times)
            for f in FIELDS:
                if self._data[f].shape != (self._rows, n):
                    raise ValueError(f"BarHistory: {f} must have shape ({self._rows}, {n})")
        self.cursor = self._rows

    # -- writing -------------------------------------------------------------------

    def append(self, t_ms: int, row: Mapping[str, F64]) -> None:
        """Add one cross-section (live); moves the cursor past it."""
        if self._rows and t_ms <= self._times[self._rows - 1]:
            raise ValueError("BarHistory.append: times must increase")
        if self._rows == len(self._times):
            grow = max(16, len(self._times))
            self._times = np.r_[self._times, np.zeros(grow, dtype=np.int64)]
            for f in FIELDS:
                pad = np.full((grow, len(self.symbols)), np.nan)
                self._data[f] = np.vstack([self._data[f], pad])
        self._times[self._rows] = t_ms
        for f in FIELDS:
            self._data[f][self._rows] = row[f]
        self._rows += 1
        self.cursor = self._rows

    def seek(self, rows: int) -> None:
        """Set the cursor: ``rows`` bar times are known (backtests)."""
        self.cursor = min(max(rows, 0), self._rows)

    # -- reading (rows before the cursor only) ---------------------------------------

    def __len__(self) -> int:
        return self.cursor

    @property
    def times(self) -> I64:
        return self._times[: self.cursor]

    def field(self, name: str) -> F64:
        """Every known row of ``name`` (a view)."""
        return self._data[name][: self.cursor]

    def window(self, name: str, n: int) -> F64:
        """The last ``n`` known rows of ``name`` (fewer at the start)."""
        c = self.cursor
        return self._data[name][max(0, c - n) : c]

    def latest(self, name: str) -> F64:
        """The newest known row of ``name`` (NaN for symbols without a bar then)."""
        if self.cursor == 0:
            return np.full(len(self.symbols), np.nan)
        return self._data[name][self.cursor - 1]

    def last_valid(self, name: str = "close") -> F64:
        """Per symbol, the newest non-NaN value of ``name`` among known rows."""
        block = self.field(name)
        if len(block) == 0:
            return np.full(len(self.symbols), np.nan)
        ok = ~np.isnan(block)
        last = np.where(ok.any(axis=0), block.shape[0] - 1 - np.argmax(ok[::-1], axis=0), -1)
        out = np.full(len(self.symbols), np.nan)
        has = last >= 0
        out[has] = block[last[has], np.flatnonzero(has)]
        return out
