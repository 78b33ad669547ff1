"""``QUANTDESK_TWEETS=mock`` (default): mocked tweets in event time (source ``mocker``).

Each step generates the tweets created before the new time
(``QUANTDESK_SENTIMENT_RATE`` per second of event time, coupled to a
per-symbol mood with strength 0.5). Closed periods longer than
:data:`MAX_GAP_MS` are skipped (no tweet storm after a night on the virtual
clock). Its snapshot is the generator's state (random state, clock, the next
tweet), so a restart from a checkpoint makes the same tweets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quantdesk.domain import StockMeta
from quantdesk.sentiment.mocker import LabeledTweet, TweetMocker
from quantdesk.sentiment.tweets import Tweet, parse_tweet
from quantdesk.sources.base import SourceContext, no_argument
from quantdesk.sources.tweets.base import TweetFeed

MAX_GAP_MS = 10 * 60_000


class MockFeed(TweetFeed):
    """Tweets from :class:`~quantdesk.sentiment.mocker.TweetMocker`, created as time passes."""

    name = "mock"
    origin = "mocker"

    def __init__(
        self,
        universe: Sequence[StockMeta],
        *,
        seed: int,
        rate_per_s: float,
        start_ms: int,
    ) -> None:
        super().__init__()
        self.universe = list(universe)
        self.seed = seed
        self.rate_per_s = rate_per_s
        self._restart(start_ms)

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> MockFeed:
        no_argument(cls.name, arg, "QUANTDESK_TWEETS")
        return cls(
            ctx.universe,
            seed=ctx.settings.seed,
            rate_per_s=ctx.settings.sentiment_rate,
            start_ms=ctx.start_ms,
        )

    def describe(self) -> str:
        return f"mocked, {self.rate_per_s:g} per second of event time"

    def _restart(self, start_ms: int) -> None:
        self._mocker = TweetMocker(
            self.universe,
            seed=self.seed ^ (start_ms // 1000),
            rate_per_s=self.rate_per_s,
            start_ms=start_ms,
            strength=0.5,
        )
        self._start = start_ms
        self._next: LabeledTweet = self._mocker.next_labeled()
        self._until = start_ms

    def snapshot(self) -> dict[str, Any]:
        return {
            "start": self._start,
            "until": self._until,
            "mocker": self._mocker.state(),
            "next": self._next.tweet,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._restart(int(state["start"]))
        self._mocker.set_state(state["mocker"])
        self._next = LabeledTweet(dict(state["next"]), "", "")
        self._until = int(state["until"])

    def arrived(self, until: int) -> list[Tweet]:
        if until - self._until > MAX_GAP_MS:
            self._restart(until - MAX_GAP_MS)
        batch = []
        while True:
            tweet = parse_tweet(self._next.tweet, require_time=True)
            if tweet.created_at is None or tweet.created_at >= until:
                break
            batch.append(tweet)
            self._next = self._mocker.next_labeled()
        self._until = until
        return batch
