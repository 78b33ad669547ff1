"""The :class:`Dataset` every model trains and predicts on: one row per stock and trading day.

Rows are sorted by symbol, then day. Each row holds the features known at its
*decision time* (``decision_time``, epoch ms UTC: the morning's end for
``morning``, the close for ``daily``) and the targets that become known only
later (NaN while unknown, e.g. on the newest day). Every value is a ratio, so
one model serves every stock whatever its price.

A dataset is a *view*: ``selected`` marks the rows a model fits on or predicts
for, while the rows before them stay available as history for sequence models
(an LSTM's window of the last ``seq_len`` days). Splitting for walk-forward
evaluation is therefore ``data.select(mask)``: nothing is copied and a test
window sees exactly the history it would have seen live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.errors import ModelError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features ``x`` (rows x features) and targets ``y`` (rows x targets) of stock-days.

    ``naive`` maps each target to the feature holding *today's* value of the same
    quantity (the naive forecast "tomorrow = today"); ``return_target`` is the
    target scored by direction accuracy, IC and the top-k return; ``reference``
    is the price (per row) the target ratios are relative to, so a predicted
    ratio ``r`` is the price ``reference * (1 + r)``.
    """

    name: str
    symbols: npt.NDArray[np.object_]
    days: npt.NDArray[np.datetime64]
    decision_time: I64
    x: F64
    y: F64
    features: tuple[str, ...]
    targets: tuple[str, ...]
    return_target: str
    naive: Mapping[str, str]
    reference: F64
    selected: Bool = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        n = len(self.symbols)
        if self.selected.shape != (n,):
            object.__setattr__(self, "selected", np.ones(n, dtype=bool))
        for name, arr in (("days", self.days), ("x", self.x), ("y", self.y)):
            if len(arr) != n:
                raise ModelError(f"dataset {self.name}: {name} has {len(arr)} rows, not {n}")

    # -- shape ---------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.selected.sum())

    @property
    def n_rows(self) -> int:
        """All rows, history included."""
        return len(self.symbols)

    def rows(self) -> I64:
        """Indices of the selected rows."""
        return np.flatnonzero(self.selected)

    def labelled(self) -> Bool:
        """Selected rows whose targets are all known."""
        return self.selected & np.isfinite(self.y).all(axis=1)

    def target_index(self, name: str) -> int:
        return self.targets.index(name)

    @property
    def return_index(self) -> int:
        return self.targets.index(self.return_target)

    def feature_index(self, names: Sequence[str]) -> list[int]:
        missing = [f for f in names if f not in self.features]
        if missing:
            raise ModelError(
                f"dataset {self.name} has no feature(s) {', '.join(missing)}; "
                f"it has {', '.join(self.features)}"
            )
        return [self.features.index(f) for f in names]

    def unique_days(self) -> npt.NDArray[np.datetime64]:
        """The distinct days of the selected rows, ascending."""
        return np.unique(self.days[self.selected])

    # -- views ---------------------------------------------------------------

    def select(self, mask: Bool) -> Dataset:
        """The same rows with ``mask`` (over all rows) as the selection."""
        return replace(self, selected=np.asarray(mask, dtype=bool))

    def between(self, start: dt.date | None = None, end: dt.date | None = None) -> Dataset:
        """The selected rows with ``start <= day <= end`` (either bound optional)."""
        mask = self.selected.copy()
        if start is not None:
            mask &= self.days >= np.datetime64(start, "D")
        if end is not None:
            mask &= self.days <= np.datetime64(end, "D")
        return self.select(mask)

    def for_symbols(self, symbols: Sequence[str]) -> Dataset:
        """Only the rows of ``symbols`` (one clear error for a symbol it does not have)."""
        have = set(self.symbols.tolist())
        missing = [s for s in symbols if s not in have]
        if missing:
            raise ModelError(f"dataset {self.name} has no rows for {', '.join(missing)}")
        return self.select(self.selected & np.isin(self.symbols, list(symbols)))

    def latest(self) -> Dataset:
        """Each symbol's newest selected row (what a prediction is made for)."""
        rows = self.rows()
        if not len(rows):
            return self.select(np.zeros(self.n_rows, dtype=bool))
        syms = self.symbols[rows]
        last = np.r_[syms[1:] != syms[:-1], True]
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[rows[last]] = True
        return self.select(mask)

    def frame(self) -> pd.DataFrame:
        """The selected rows as a DataFrame (symbol, day, features, targets)."""
        rows = self.rows()
        out = pd.DataFrame({"symbol": self.symbols[rows], "day": self.days[rows]})
        for j, f in enumerate(self.features):
            out[f] = self.x[rows, j]
        for j, t in enumerate(self.targets):
            out[t] = self.y[rows, j]
        return out

    # -- sequences -----------------------------------------------------------

    def group_start(self) -> I64:
        """For each row, the index of its symbol's first row."""
        n = self.n_rows
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        new = np.r_[True, self.symbols[1:] != self.symbols[:-1]]
        return np.maximum.accumulate(np.where(new, np.arange(n), 0)).astype(np.int64)

    def window_index(self, rows: I64, seq_len: int) -> tuple[I64, Bool]:
        """Row indices of each row's window of ``seq_len`` days (oldest first) and a mask
        of the positions that exist (a symbol's first rows have a shorter history)."""
        start = self.group_start()[rows]
        idx = rows[:, None] - (seq_len - 1) + np.arange(seq_len)[None, :]
        valid = idx >= start[:, None]
        return np.where(valid, idx, rows[:, None]), valid


def empty_dataset(
    name: str,
    features: Sequence[str],
    targets: Sequence[str],
    return_target: str,
    naive: Mapping[str, str],
) -> Dataset:
    """A dataset with no rows (the shape of ``name``)."""
    return Dataset(
        name=name,
        symbols=np.empty(0, dtype=object),
        days=np.empty(0, dtype="datetime64[D]"),
        decision_time=np.empty(0, dtype=np.int64),
        x=np.empty((0, len(features))),
        y=np.empty((0, len(targets))),
        features=tuple(features),
        targets=tuple(targets),
        return_target=return_target,
        naive=dict(naive),
        reference=np.empty(0),
    )


def from_frame(
    name: str,
    frame: pd.DataFrame,
    features: Sequence[str],
    targets: Sequence[str],
    return_target: str,
    naive: Mapping[str, str],
) -> Dataset:
    """A dataset from per-row columns ``symbol, day, decision_time, reference``, the
    features and the targets. Rows with a non-finite feature are dropped (warm-up)."""
    if frame.empty:
        return empty_dataset(name, features, targets, return_target, naive)
    x = frame[list(features)].to_numpy(dtype=np.float64)
    keep = np.isfinite(x).all(axis=1)
    frame = frame.loc[keep].sort_values(["symbol", "day"], kind="stable")
    return Dataset(
        name=name,
        symbols=frame["symbol"].to_numpy(dtype=object),
        days=frame["day"].to_numpy(dtype="datetime64[D]"),
        decision_time=frame["decision_time"].to_numpy(dtype=np.int64),
        x=frame[list(features)].to_numpy(dtype=np.float64),
        y=frame[list(targets)].to_numpy(dtype=np.float64),
        features=tuple(features),
        targets=tuple(targets),
        return_target=return_target,
        naive=dict(naive),
        reference=frame["reference"].to_numpy(dtype=np.float64),
    )


def concat(parts: Sequence[Dataset]) -> Dataset:
    """Several datasets of one kind (e.g. one per exchange calendar) as one."""
    first = parts[0]
    order_keys = np.concatenate([p.symbols for p in parts]) if parts else np.empty(0)
    days = np.concatenate([p.days for p in parts])
    order = np.lexsort((days, order_keys))
    return Dataset(
        name=first.name,
        symbols=order_keys[order].astype(object),
        days=days[order],
        decision_time=np.concatenate([p.decision_time for p in parts])[order],
        x=np.concatenate([p.x for p in parts])[order],
        y=np.concatenate([p.y for p in parts])[order],
        features=first.features,
        targets=first.targets,
        return_target=first.return_target,
        naive=first.naive,
        reference=np.concatenate([p.reference for p in parts])[order],
    )
