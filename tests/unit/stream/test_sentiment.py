from __future__ import annotations

import math

import orjson
import pytest

from quantdesk.domain.messages import FactorValue
from quantdesk.sentiment.mocker import TweetMocker
from quantdesk.sentiment.model import LABELS, SentimentModel
from quantdesk.sentiment.tweets import Tweet
from quantdesk.sources.simulator.universe import default_universe
from quantdesk.stream.sentiment import SentimentAggregator
from quantdesk.stream.signals import SignalEngine, SignalRule

T0 = 1_767_576_600_000


def by_name(values: list[FactorValue], symbol: str) -> dict[str, float]:
    return {v.name: v.value for v in values if v.symbol == symbol}


def test_window_count_mean_and_ewma(model: SentimentModel) -> None:
    agg = SentimentAggregator(model, window_ms=60_000, half_life_ms=30_000)
    a = agg.on_scored("AAPL", T0, 1.0)
    assert by_name(a, "AAPL") == {
        "sentiment_count": 1,
        "sentiment_mean": 1.0,
        "sentiment_ewma": 1.0,
    }
    assert {v.interval for v in a} == {""} and {v.ts for v in a} == {T0}
    b = by_name(agg.on_scored("AAPL", T0 + 30_000, -1.0), "AAPL")
    assert b["sentiment_count"] == 2 and b["sentiment_mean"] == 0.0
    # weights 0.5 (30 s old) and 1: (0.5 - 1) / 1.5
    assert math.isclose(b["sentiment_ewma"], -1 / 3)
    c = by_name(agg.on_scored("AAPL", T0 + 60_000, -1.0), "AAPL")
    assert c["sentiment_count"] == 2 and c["sentiment_mean"] == -1.0  # T0 left the window
    # late but inside the window: counted, emitted at the newest time
    d = agg.on_scored("AAPL", T0 + 50_000, 1.0)
    assert by_name(d, "AAPL")["sentiment_count"] == 3 and d[0].ts == T0 + 60_000
    # too late: rejected
    assert agg.on_scored("AAPL", T0, 1.0) == []
    assert agg.rejects["too_late"] == 1


def test_tweets_attributed_to_every_symbol(model: SentimentModel) -> None:
    agg = SentimentAggregator(model)
    out = agg.on_tweets(
        [
            Tweet("$AAPL and $TSLA to the moon 🚀", created_at=T0),
            Tweet("nothing about stocks here lol", created_at=T0 + 1),
            Tweet("no time $MSFT", created_at=None),
        ]
    )
    assert {v.symbol for v in out} == {"AAPL", "TSLA"}
    assert len(out) == 6
    assert by_name(out, "AAPL")["sentiment_mean"] > 0.5
    assert agg.unattributed == 1 and agg.rejects["missing_created_at"] == 1


def test_scored_tweets_for_storage(model: SentimentModel) -> None:
    agg = SentimentAggregator(model, source="file")
    tweets = [
        Tweet("$AAPL and $TSLA to the moon 🚀", id="1001", created_at=T0, author_id="7"),
        Tweet("nothing about stocks here lol", id="1002", created_at=T0 + 1),
        Tweet("no id $MSFT", created_at=T0 + 2),  # scored into factors, not storable
        Tweet("no time $MSFT", id="1003"),
        # an edit: a new id, the first version's id first in the history
        Tweet(
            "<script>alert(1)</script> $NVDA edited",
            id="1010",
            created_at=T0 + 3,
            edit_history_tweet_ids=("1004", "1010"),
        ),
    ]
    factors, scored = agg.on_tweets_scored(tweets)
    assert factors == SentimentAggregator(model).on_tweets(tweets)
    assert [(t.id, t.version_id) for t in scored] == [
        ("1001", None),
        ("1002", None),
        ("1004", "1010"),
    ]
    first, unattributed, edited = scored
    assert first.symbols == ("AAPL", "TSLA") and first.time == T0 and first.author_id == "7"
    assert first.score > 0.5 and first.label == "positive" and first.source == "file"
    assert unattributed.symbols == () and unattributed.label in LABELS
    assert edited.text == tweets[-1].text and edited.symbols == ("NVDA",)
    assert all(-1.0 <= t.score <= 1.0 for t in scored)


def test_raw_stream_bad_lines_counted(model: SentimentModel) -> None:
    agg = SentimentAggregator(model)
    tweets = TweetMocker(default_universe("us"), seed=9).generate(200)
    lines: list[bytes | str] = [orjson.dumps(t) for t in tweets]
    lines[10:10] = [b"{oops", b"\xff", b"", '{"text": "no time $AAPL"}', b'{"data": {"text": 1}}']
    out = agg.on_raw(lines)
    assert agg.scored == 200
    assert dict(agg.rejects) == {
        "not_json": 1,
        "invalid_utf8": 1,
        "missing_created_at": 1,
        "bad_text": 1,
    }
    assert {v.name for v in out} == {"sentiment_count", "sentiment_mean", "sentiment_ewma"}
    assert all(-1.0 <= v.value <= 1.0 for v in out if v.name != "sentiment_count")


def test_signal_rule_consumes_sentiment(model: SentimentModel) -> None:
    agg = SentimentAggregator(model, half_life_ms=60_000)
    engine = SignalEngine(
        [SignalRule(id="s", factor="sentiment_ewma", buy_above=0.3, sell_below=-0.3)]
    )
    texts = ["$AAPL crashing, selling everything 📉"] * 3 + ["$AAPL to the moon 🚀 buying more"] * 8
    signals = []
    for i, text in enumerate(texts):
        for fv in agg.on_tweets([Tweet(text, created_at=T0 + i * 60_000)]):
            signals += engine.on_factor(fv)
    assert [s.side for s in signals] == ["buy"]


def test_bad_parameters(model: SentimentModel) -> None:
    with pytest.raises(ValueError):
        SentimentAggregator(model, window_ms=0)


def test_snapshot_and_restore_continue_exactly(model: SentimentModel) -> None:
    """Through JSON, as the runner's checkpoint: the same factors as never stopping."""
    mocker = TweetMocker(default_universe("us"), seed=4, rate_per_s=1.0, start_ms=1_000_000)
    texts = [t["data"]["text"] for t in mocker.generate(80)]
    tweets = [Tweet(text, str(i), 1_000_000 + i * 20_000) for i, text in enumerate(texts)]
    whole = SentimentAggregator(model)
    expected = whole.on_tweets(tweets)
    first = SentimentAggregator(model)
    got = first.on_tweets(tweets[:50])
    second = SentimentAggregator(model)
    second.restore(orjson.loads(orjson.dumps(first.snapshot())))
    got += second.on_tweets(tweets[50:])
    assert got == expected
    assert second.snapshot() == whole.snapshot()
