from __future__ import annotations

from collections.abc import Callable

import pytest

from quantdesk.domain import FactorValue, ScoredTweet
from quantdesk.sentiment.model import SHIPPED_DATA, SentimentModel, train
from quantdesk.sources.tweets.base import TweetFeed
from quantdesk.stream.sentiment import SentimentAggregator


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> SentimentModel:
    return train(SHIPPED_DATA, tmp_path_factory.mktemp("feed-model")).model


Scored = tuple[list[FactorValue], list[ScoredTweet]]


@pytest.fixture
def scored(model: SentimentModel) -> Callable[[TweetFeed, int], Scored]:
    """``scored(feed, until)``: the feed's step run through the sentiment operator (as the
    runner's stream processor does), one operator per feed."""
    operators: dict[int, SentimentAggregator] = {}

    def step(feed: TweetFeed, until: int) -> Scored:
        op = operators.setdefault(id(feed), SentimentAggregator(model, source=feed.origin))
        tweets = feed.step(until)
        return op.on_tweets_scored(tweets) if tweets else ([], [])

    return step
