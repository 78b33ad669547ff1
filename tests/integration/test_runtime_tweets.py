"""The embedded runtime turns tweets (mocked, from a file, from the live stream) into
stored tweets, sentiment factors and signals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from quantdesk.config import load_settings
from quantdesk.domain import ScoredTweet
from quantdesk.runtime.runner import Runner
from quantdesk.sentiment.model import LABELS
from quantdesk.sources.tweets.http import HttpFeed
from quantdesk.sources.tweets.readers import BASE_URL_ENV, TOKEN_ENV
from quantdesk.storage import open_store
from tests.unit.sentiment.fake_stream import TOKEN, Connection, stream_server, tweet_line

MIN = 60_000
#: buy when the tweet sentiment of a stock turns clearly positive
RULE = {"id": "tweets_bull", "factor": "sentiment_ewma", "buy_above": 0.2, "sell_below": -0.2}


def test_runtime_stores_scored_tweets(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, backfill_days=0, seed=5, sentiment_rate=2.0)
    store = open_store(settings.resolved_database_url)
    rt = Runner(settings, store, test_mode=True, echo=lambda _m: None)
    rt.prepare()
    assert rt.tweets is not None
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
        assert rt.tweets.tweets > 200
        assert len(stored) == rt.tweets.tweets == rt.sink.tweets_written
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


def test_file_tweets_become_stored_tweets_factors_and_signals(tmp_path: Path) -> None:
    now = int(time.time() * 1000)  # the clock of an empty store starts now
    path = tmp_path / "tweets.jsonl"
    lines = [
        # before the clock's start: taken at the first step, with its own time
        tweet_line(101, "$AAPL is crashing, terrible earnings, dump it 📉", now - 5 * MIN),
        b"{not json",
        tweet_line(102, "$AAPL to the moon 🚀 strong buy, great earnings", now + 90_000),
        b"\xff\xfe",
        tweet_line(103, "$AAPL breakout, bullish, loading up calls", now + 150_000),
        tweet_line(104, "$AAPL love it, huge beat, buying more 🚀🚀", now + 60 * MIN),  # later
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings = load_settings(
        data_dir=tmp_path / "data",
        backfill_days=0,
        market="us",
        tweets=f"file:{path}",
        signal_rules=[RULE],
    )
    store = open_store(settings.resolved_database_url)
    said: list[str] = []
    rt = Runner(settings, store, test_mode=True, echo=said.append)
    rt.prepare()
    start = rt.clock.start
    assert start - now < 30_000

    async def run() -> None:
        for k in (1, 2, 3, 4):
            await rt.run_until(start + k * MIN)
        await rt.shutdown()

    asyncio.run(run())
    try:
        stored = store.query_tweets()
        assert [(t.id, t.source) for t in stored] == [
            ("101", "file"),
            ("102", "file"),
            ("103", "file"),
        ]  # 104 is an hour ahead of the clock: not yet
        assert [t.time for t in stored] == [now - 5 * MIN, now + 90_000, now + 150_000]
        assert all(t.symbols == ("AAPL",) for t in stored)
        ewma = store.query_factors("AAPL", "sentiment_ewma")
        assert [f.ts for f in ewma] == [t.time for t in stored]
        assert ewma[0].value < -0.2 < 0.2 < ewma[1].value
        signals = store.query_signals("AAPL", "tweets_bull")
        assert [(x.side, x.ts, x.factor) for x in signals] == [
            ("buy", now + 90_000, "sentiment_ewma")
        ]
        # bad lines: counted with the runtime's rejects and set aside as dead letters
        rejects = {"tweet_not_json": 1, "tweet_invalid_utf8": 1}
        assert store.dead_letter_counts() == rejects
        assert {k: rt.processor.rejects[k] for k in rejects} == rejects
        assert any(m.startswith("Tweets: file ") for m in said)
        assert any("3 scored" in m and "not_json 1" in m for m in said)
    finally:
        store.close()


def test_http_tweets_are_stored_and_the_runtime_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time() * 1000)
    script = [
        # a tweet, a bad line, a keep-alive; then the connection drops
        Connection(
            [
                tweet_line(201, "$AAPL to the moon 🚀 strong buy", now - 2_000) + b"\r\n",
                b"\xff\xfe{bad\r\n\r\n",
            ],
            end="drop",
        ),
        # the reconnection: two tweets, then only keep-alives
        Connection(
            [
                tweet_line(202, "$TSLA weak, bearish, selling everything", now - 1_000) + b"\r\n",
                tweet_line(203, "$AAPL breakout, bullish", now) + b"\r\n",
            ],
            end="hold",
        ),
    ]
    with stream_server(script) as srv:
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        monkeypatch.setenv(BASE_URL_ENV, srv.url)
        settings = load_settings(
            data_dir=tmp_path, backfill_days=0, market="us", tweets="http", signal_rules=[RULE]
        )
        store = open_store(settings.resolved_database_url)
        said: list[str] = []
        rt = Runner(settings, store, test_mode=True, echo=said.append)
        rt.prepare()
        feed = rt.tweets
        assert isinstance(feed, HttpFeed)

        async def run() -> float:
            market = asyncio.create_task(rt.run_market())
            deadline = time.monotonic() + 30
            while len(await asyncio.to_thread(store.query_tweets)) < 3:
                assert time.monotonic() < deadline, "the tweets did not arrive"
                assert not market.done()
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            rt.stop()  # what SIGINT/SIGTERM do
            await asyncio.wait_for(market, 10)
            return time.monotonic() - t0

        stop_s = asyncio.run(run())
        try:
            assert stop_s < 3.0 and not feed.reading
            stored = store.query_tweets()
            assert [(t.id, t.time, t.source) for t in stored] == [
                ("201", now - 2_000, "twitter"),
                ("202", now - 1_000, "twitter"),
                ("203", now, "twitter"),
            ]
            assert {t.symbols for t in stored} == {("AAPL",), ("TSLA",)}
            assert store.query_factors("TSLA", "sentiment_mean")[-1].value < 0
            assert store.dead_letter_counts() == {"tweet_invalid_utf8": 1}
            assert rt.processor.rejects["tweet_invalid_utf8"] == 1
            assert feed.stream_stats.connections == 2 and feed.stream_stats.disconnects >= 1
            assert any("virtual clock" in m and "--clock wall" in m for m in said)
            assert any("3 scored" in m and "invalid_utf8 1" in m for m in said)
        finally:
            store.close()
