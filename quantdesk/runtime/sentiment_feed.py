"""Mocked tweets for the embedded runtime, scored into rolling sentiment factors.

The feed follows the runtime's event clock: each step generates the tweets
created before the new time (``QUANTDESK_SENTIMENT_RATE`` per second of
event time, coupled to a per-symbol mood with strength 0.5), scores them
with the newest trained model (training one from the shipped
``train_data.csv`` on first use) and returns the ``sentiment_*`` factor
values of :class:`~quantdesk.sentiment.stream.SentimentAggregator`, which the
runtime passes through the signal rules and the sinks like any factor, with
the scored tweets themselves (source ``mocker``), which the store sink writes
to ``tweets`` in the same batch.
Closed periods longer than :data:`MAX_GAP_MS` are skipped (no tweet storm
after a night on the virtual clock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from quantdesk.domain import FactorValue, ScoredTweet, StockMeta
from quantdesk.errors import NotFoundError
from quantdesk.sentiment.mocker import LabeledTweet, TweetMocker
from quantdesk.sentiment.model import SHIPPED_DATA, SentimentModel, load_model, train
from quantdesk.sentiment.stream import SentimentAggregator
from quantdesk.sentiment.tweets import parse_tweet

MAX_GAP_MS = 10 * 60_000


def ensure_model(model_dir: Path, echo: Callable[[str], None] = print) -> SentimentModel:
    """The newest model in ``model_dir``, training one from the shipped data if none."""
    try:
        return load_model(model_dir)
    except NotFoundError:
        echo(f"Sentiment: no model in {model_dir}; training one from the shipped train_data.csv")
        return train(SHIPPED_DATA, model_dir).model


class SentimentFeed:
    """Tweets in event time -> ``sentiment_count/mean/ewma`` factor values."""

    def __init__(
        self,
        universe: Sequence[StockMeta],
        model: SentimentModel,
        *,
        seed: int,
        rate_per_s: float,
        start_ms: int,
    ) -> None:
        self.universe = list(universe)
        self.seed = seed
        self.rate_per_s = rate_per_s
        self.aggregator = SentimentAggregator(model, source="mocker")
        self.tweets = 0
        self._restart(start_ms)

    def _restart(self, start_ms: int) -> None:
        self._mocker = TweetMocker(
            self.universe,
            seed=self.seed ^ (start_ms // 1000),
            rate_per_s=self.rate_per_s,
            start_ms=start_ms,
            strength=0.5,
        )
        self._next: LabeledTweet = self._mocker.next_labeled()
        self._until = start_ms

    def step(self, until: int) -> tuple[list[FactorValue], list[ScoredTweet]]:
        """Every tweet created before ``until``, scored and aggregated: (factors, tweets)."""
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
        self.tweets += len(batch)
        return self.aggregator.on_tweets_scored(batch) if batch else ([], [])
