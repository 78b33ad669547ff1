"""Helpers shared by the storage tests: bar frames and a reference model of the table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.domain import BAR_COLUMNS

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE = 60_000


def bar_frame(
    symbols: Sequence[str] = ("AAPL",),
    n: int = 10,
    *,
    interval: str = "1m",
    start: int = T0,
    step: int = MINUTE,
    seed: int = 0,
    source: str = "simulator",
) -> pd.DataFrame:
    """``n`` bars per symbol, ``step`` ms apart from ``start``, with random prices."""
    rng = np.random.default_rng(seed)
    total = n * len(symbols)
    close = 100 + rng.standard_normal(total).cumsum()
    return pd.DataFrame(
        {
            "symbol": np.repeat(np.asarray(symbols, dtype=object), n),
            "interval": interval,
            "time": np.tile(start + np.arange(n, dtype=np.int64) * step, len(symbols)),
            "open": close + rng.random(total),
            "high": close + 2,
            "low": close - 2,
            "close": close,
            "volume": rng.integers(100, 10_000, total).astype(float),
            "vwap": close + 0.5,
            "trades": rng.integers(1, 50, total),
            "source": source,
        },
        columns=list(BAR_COLUMNS),
    )


def model_of(frames: Iterable[pd.DataFrame]) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """What the table must hold after upserting ``frames`` in order: the last row per key wins."""
    table: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for frame in frames:
        for row in frame[list(BAR_COLUMNS)].itertuples(index=False, name=None):
            vwap = None if pd.isna(row[8]) else float(row[8])
            clean = (
                str(row[0]),
                str(row[1]),
                int(row[2]),
                *(float(v) for v in row[3:8]),
                vwap,
                int(row[9]),
                str(row[10]),
            )
            table[(clean[0], clean[1], clean[2])] = clean
    return table
