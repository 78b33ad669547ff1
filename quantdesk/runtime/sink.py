"""The store sink: idempotent upserts of bars, the real-time price table, factors,
signals, dead letters and scored tweets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from quantdesk.domain import BAR_COLUMNS, Bar
from quantdesk.storage.base import PriceRow, Store

if TYPE_CHECKING:
    from quantdesk.runtime.pipeline import Output


def bars_frame(bars: Iterable[Bar]) -> pd.DataFrame:
    """Bars as a ``market_klines`` frame; the last version of each key wins."""
    latest: dict[tuple[str, str, int], Bar] = {}
    for bar in bars:
        latest[(bar.symbol, bar.interval, bar.time)] = bar
    return pd.DataFrame([b.as_row() for b in latest.values()], columns=list(BAR_COLUMNS))


class StoreSink:
    """Writes what the pipeline produced; safe to call from a worker thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.bars_written = 0
        self.final_bars = 0
        self.tweets_written = 0

    def write_output(self, out: Output) -> None:
        """Everything a stream step produced: bars, factors, signals, dead letters, prices,
        tweets (each kind in one batch)."""
        self.write(out.bars, list(out.prices.values()))
        if out.factors:
            self.store.upsert_factors(out.factors)
        if out.signals:
            self.store.upsert_signals(out.signals)
        if out.dead:
            self.store.add_dead_letters(out.dead)
        if out.tweets:
            self.tweets_written += self.store.upsert_tweets(out.tweets)

    def write(self, bars: list[Bar], prices: list[PriceRow]) -> None:
        if bars:
            frame = bars_frame(bars)
            self.store.upsert_bars(frame)
            self.bars_written += len(frame)
            self.final_bars += sum(1 for b in bars if b.final)
        if prices:
            self.store.upsert_prices(prices)
