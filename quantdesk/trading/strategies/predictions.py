"""Stored predictions for the T+1 strategy, behind a small protocol.

A prediction says, for one symbol, the predicted value of a *target* trading
day (seed B: that day's morning-session close), and when it was made. The
strategy asks for the predictions of a target day *known at the decision
time*; when there are none it takes the newest earlier target's and says so
(``stale``), as seed B's buy job uses the last stored prediction when today's
failed. The predictions issue provides the stored table; until then
:class:`FramePredictions` reads a DataFrame (tests, notebooks, backtests).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from quantdesk.errors import DataError

__all__ = ["FramePredictions", "PredictionSet", "PredictionSource"]


@dataclass(frozen=True, slots=True)
class PredictionSet:
    """Predicted values by symbol for ``target``; ``stale``: an earlier target's, reused."""

    target: dt.date
    values: dict[str, float] = field(default_factory=dict)
    stale: bool = False
    as_of: dt.date | None = None


@runtime_checkable
class PredictionSource(Protocol):
    def latest(self, target: dt.date, now: int) -> PredictionSet:
        """Predictions for ``target`` made at or before ``now`` (epoch ms), or the newest
        earlier target's (``stale=True``), or an empty set."""
        ...


class FramePredictions:
    """Predictions from a DataFrame with columns ``symbol``, ``target`` (date),
    ``value`` (predicted price) and ``made`` (epoch ms UTC, when it was made)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        missing = {"symbol", "target", "value", "made"} - set(frame.columns)
        if missing:
            raise DataError(f"predictions: missing column(s) {', '.join(sorted(missing))}")
        df = frame.loc[:, ["symbol", "target", "value", "made"]].copy()
        df["target"] = pd.to_datetime(df["target"]).dt.date
        df["made"] = df["made"].astype("int64")
        df["value"] = df["value"].astype("float64")
        self._df = df.sort_values(["target", "made"], kind="stable").reset_index(drop=True)
        self._targets = np.array(self._df["target"].tolist(), dtype="datetime64[D]")

    def latest(self, target: dt.date, now: int) -> PredictionSet:
        df = self._df
        known = df[(df["made"].to_numpy() <= now) & (self._targets <= np.datetime64(target))]
        if known.empty:
            return PredictionSet(target)
        newest = known["target"].iloc[-1]
        rows = known[known["target"] == newest]
        values = dict(zip(rows["symbol"], rows["value"], strict=True))  # later rows win
        return PredictionSet(target, values, stale=newest != target, as_of=newest)
