from __future__ import annotations

import itertools
from datetime import datetime

from quantdesk.sentiment.clean import SymbolResolver
from quantdesk.sentiment.mocker import LatentMood, TweetMocker, mood_from_prices, training_rows
from quantdesk.sentiment.tweets import parse_tweet
from quantdesk.sources.simulator.universe import default_universe

UNIVERSE = default_universe("cn") + default_universe("us")


def test_deterministic_for_a_seed() -> None:
    a = TweetMocker(UNIVERSE, seed=3).generate(50)
    b = TweetMocker(UNIVERSE, seed=3).generate(50)
    c = TweetMocker(UNIVERSE, seed=4).generate(50)
    assert a == b and a != c


def test_v2_shape_and_edit_history(resolver: SymbolResolver) -> None:
    tweets = TweetMocker(UNIVERSE, seed=1, edit_share=0.2).generate(400)
    edited = 0
    last_ts = 0
    for tw in tweets:
        assert set(tw) == {"data", "matching_rules"}
        data = tw["data"]
        assert set(data) == {"id", "text", "edit_history_tweet_ids", "created_at", "author_id"}
        hist = data["edit_history_tweet_ids"]
        # Twitter: oldest version first, the tweet's own (latest) id last
        assert hist[-1] == data["id"]
        assert [int(h) for h in hist] == sorted(int(h) for h in hist)
        edited += len(hist) > 1
        ts = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
        assert ts.tzinfo is not None
        t = parse_tweet(tw, require_time=True)
        assert t.created_at is not None and t.created_at > last_ts
        last_ts = t.created_at
        # every tweet names its stock, and the rule tags match
        syms = resolver.find(data["text"])
        assert syms, data["text"]
        assert tw["matching_rules"][0]["tag"] == f"cashtag {syms[0]}"
    assert 40 < edited < 130


def test_language_is_varied() -> None:
    texts = [t["data"]["text"] for t in TweetMocker(UNIVERSE, seed=2).generate(1000)]
    joined = "\n".join(texts)
    for needle in (
        "https://t.co/",
        "@",
        "#",
        "🚀",
        "$600036",
        "$AAPL",
        "moon",
        "not ",
        "Bagholder",
    ):
        assert needle in joined, needle
    assert len(set(texts)) > 900


def test_rate() -> None:
    tweets = TweetMocker(UNIVERSE, seed=5, rate_per_s=100.0).generate(2000)
    first, last = (parse_tweet(t).created_at for t in (tweets[0], tweets[-1]))
    assert first is not None and last is not None
    assert 15.0 < (last - first) / 1000 < 25.0  # 2000 tweets at 100/s ~ 20 s


def test_strength_couples_sentiment_to_mood() -> None:
    def mood(symbol: str, ts: int) -> float:
        return 1.0 if symbol == "AAPL" else -1.0

    mocker = TweetMocker(UNIVERSE, seed=6, strength=1.0, mood=mood, neutral_share=0.0)
    labels = {
        (lt.tweet["matching_rules"][0]["tag"], lt.label)
        for lt in (mocker.next_labeled() for _ in range(300))
    }
    assert ("cashtag AAPL", "negative") not in labels
    assert ("cashtag TSLA", "positive") not in labels
    assert ("cashtag AAPL", "positive") in labels


def test_latent_mood_is_smooth_and_bounded() -> None:
    mood = LatentMood(seed=1, period_ms=60_000)
    vals = [mood("AAPL", t) for t in range(0, 600_000, 1000)]
    assert all(-1.0 <= v <= 1.0 for v in vals)
    assert max(abs(a - b) for a, b in itertools.pairwise(vals)) < 0.2
    assert mood("AAPL", 12_345) == LatentMood(seed=1, period_ms=60_000)("AAPL", 12_345)


def test_mood_from_prices_reads_forward_returns() -> None:
    mood = mood_from_prices({"AAPL": ([0, 1000, 2000], [100.0, 101.0, 99.0])}, horizon_ms=1000)
    assert mood("AAPL", 0) > 0.5  # +1 % ahead
    assert mood("AAPL", 1000) < -0.5  # -2 % ahead
    assert mood("AAPL", 2000) == 0.0  # no future price
    assert mood("TSLA", 0) == 0.0


def test_training_rows_are_distinct_and_grouped() -> None:
    rows = training_rows(UNIVERSE, 200, seed=1)
    assert len({r[0] for r in rows}) == 200
    assert {r[1] for r in rows} == {"positive", "negative", "neutral"}
    assert all(r[2].startswith(r[1] + ":") for r in rows)
