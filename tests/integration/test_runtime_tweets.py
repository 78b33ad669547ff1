"""The embedded runtime stores every scored mocked tweet, in one batch per slice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from quantdesk.config import load_settings
from quantdesk.domain import ScoredTweet
from quantdesk.runtime.embedded import EmbeddedRuntime
from quantdesk.sentiment.model import LABELS
from quantdesk.storage import open_store

MIN = 60_000


def test_runtime_stores_scored_tweets(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, backfill_days=0, seed=5, sentiment_rate=2.0)
    store = open_store(settings.resolved_database_url)
    rt = EmbeddedRuntime(settings, store, test_mode=True, echo=lambda _m: None)
    rt.prepare()
    assert rt.sentiment is not None
    batches: list[int] = []
    upsert = store.upsert_tweets

    def counting(rows: Sequence[ScoredTweet]) -> int:
        batches.append(len(rows))
        return upsert(rows)

    store.upsert_tweets = counting  # type: ignore[method-assign]
    start = rt.clock.start

    async def run() -> None:
        for k in (1, 2, 3):
            await rt.run_until(start + k * MIN)
        await rt.shutdown()

    asyncio.run(run())
    try:
        stored = store.query_tweets()
        # every mocked tweet (each has an id and a time) is stored once
        assert rt.sentiment.tweets > 200
        assert len(stored) == rt.sentiment.tweets == rt.sink.tweets_written
        # one batch per slice: three minutes, then the rest of the minute on shutdown
        assert len(batches) <= 4 and sum(batches) == len(stored)
        symbols = {m.symbol for m in rt.universe}
        assert rt.sim_time is not None
        assert all(start <= t.time < rt.sim_time for t in stored)
        assert all(t.source == "mocker" and t.label in LABELS for t in stored)
        assert all(-1.0 <= t.score <= 1.0 for t in stored)
        assert all(set(t.symbols) <= symbols for t in stored)
        assert any(t.version_id for t in stored)  # edited tweets keep their first id as key
        symbol = max(symbols, key=lambda s: sum(s in t.symbols for t in stored))
        of_symbol = store.query_tweets(symbol)
        assert of_symbol == [t for t in stored if symbol in t.symbols]
        assert store.query_tweets(symbol, limit=5) == of_symbol[-5:]
        # the factors of the same tweets were stored beside them
        counts = store.query_factors(symbol, "sentiment_count")
        assert counts and counts[-1].ts == of_symbol[-1].time
    finally:
        store.close()
