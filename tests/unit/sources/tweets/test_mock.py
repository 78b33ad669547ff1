"""The mock feed: tweets created as event time passes, none twice, no storm after a gap."""

from __future__ import annotations

from collections.abc import Callable

from quantdesk.sources.simulator.universe import default_universe
from quantdesk.sources.tweets.mock import MAX_GAP_MS, MockFeed
from tests.unit.sources.tweets.conftest import Scored

T0 = 1_767_576_600_000
MIN = 60_000


def test_step_takes_the_tweets_created_before_until(
    scored: Callable[[MockFeed, int], Scored],
) -> None:
    feed = MockFeed(default_universe("us"), seed=3, rate_per_s=2.0, start_ms=T0)
    seen: list[str] = []
    for k in (1, 2, 3):
        factors, tweets = scored(feed, T0 + k * MIN)
        assert tweets and all(T0 + (k - 1) * MIN <= t.time < T0 + k * MIN for t in tweets)
        assert all(t.source == "mocker" for t in tweets)
        assert {f.name for f in factors} == {"sentiment_count", "sentiment_mean", "sentiment_ewma"}
        seen += [t.id for t in tweets]
    assert len(seen) == len(set(seen)) == feed.tweets
    assert 2.0 * 3 * 60 * 0.7 < feed.tweets < 2.0 * 3 * 60 * 1.3
    assert scored(feed, T0 + 3 * MIN) == ([], [])  # the same time again: nothing new
    assert feed.take_rejects() == [] and not feed.rejects


def test_a_long_gap_is_skipped(scored: Callable[[MockFeed, int], Scored]) -> None:
    feed = MockFeed(default_universe("us"), seed=3, rate_per_s=2.0, start_ms=T0)
    _, tweets = scored(feed, T0 + 16 * 60 * MIN)  # a night on the virtual clock
    assert all(t.time >= T0 + 16 * 60 * MIN - MAX_GAP_MS for t in tweets)
    assert len(tweets) < 2.0 * MAX_GAP_MS / 1000 * 1.3


def test_a_restored_snapshot_makes_the_same_tweets() -> None:
    import json

    def feed() -> MockFeed:
        return MockFeed(default_universe("us"), seed=3, rate_per_s=2.0, start_ms=T0)

    whole = feed()
    expected = [t.id for k in range(1, 7) for t in whole.step(T0 + k * MIN)]
    first = feed()
    got = [t.id for k in (1, 2, 3) for t in first.step(T0 + k * MIN)]
    state = json.loads(json.dumps(first.snapshot()))
    second = feed()
    second.restore(state)
    got += [t.id for k in (4, 5, 6) for t in second.step(T0 + k * MIN)]
    assert got == expected and len(set(got)) == len(got)
