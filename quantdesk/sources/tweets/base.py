"""The tweet feed interface of ``quantdesk run``: tweets in, sentiment in event time out.

The embedded runtime calls :meth:`TweetFeed.step` once per slice of event
time with the slice's end. The feed returns the ``sentiment_*`` factor values
of :class:`~quantdesk.stream.sentiment.SentimentAggregator` (the runtime
passes them through the signal rules and the sinks like any factor) and the
scored tweets that entered in the slice (stored in ``tweets`` with the feed's
``source``, published on the WebSocket hub). Bad lines (not JSON, invalid
UTF-8, missing fields, huge texts: the reasons of
:func:`~quantdesk.sentiment.tweets.parse_tweet`) never stop a feed: they are
counted by reason and handed over by :meth:`TweetFeed.take_rejects` as dead
letters (reason ``tweet_<reason>``, topic ``tweets``), which the runtime
counts and stores with its other rejects.

Implementing a feed
===================

=====================  ========  ==================================================
member                 required  meaning
=====================  ========  ==================================================
``name``               yes       registry key: ``QUANTDESK_TWEETS=<name>[:<arg>]``
``source``             yes       the ``source`` its stored tweets carry
``open(arg, ctx)``     yes       classmethod: build it from the argument after
                                 ``name:`` (``""`` if none) and a
                                 :class:`FeedContext`; raise a one-line
                                 :class:`~quantdesk.errors.QuantdeskError`
``arrived(until)``     yes       the tweets entering before event time ``until``
                                 (of a backlog, at most :data:`MAX_PER_STEP` a
                                 step); raw lines go through :meth:`TweetFeed.read`
``describe()``         yes       what it reads, for the start-up banner
``close()``            no        stop threads, close files; must never block
=====================  ========  ==================================================

The base class implements :meth:`~TweetFeed.step`, :meth:`~TweetFeed.read`,
:meth:`~TweetFeed.take_rejects`, :attr:`~TweetFeed.rejects` and
:meth:`~TweetFeed.summary`. Feeds register by name in
:mod:`quantdesk.sources.tweets`.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from quantdesk.bus import DeadLetter
from quantdesk.config import Settings
from quantdesk.domain import FactorValue, ScoredTweet, StockMeta
from quantdesk.sentiment.model import SentimentModel
from quantdesk.sentiment.tweets import Tweet, TweetError
from quantdesk.sources.tweets.readers import TweetReader
from quantdesk.stream.sentiment import SentimentAggregator

__all__ = ["DEAD_RAW_BYTES", "MAX_PER_STEP", "TOPIC", "FeedContext", "TweetFeed"]

#: Most tweets one step takes: a backlog (an old file, a full queue) drains over
#: several steps instead of stalling the market.
MAX_PER_STEP: Final = 10_000
#: Bytes of a rejected line kept in its dead letter.
DEAD_RAW_BYTES: Final = 16 * 1024
#: The ``topic`` of tweet dead letters.
TOPIC: Final = "tweets"


@dataclass(frozen=True)
class FeedContext:
    """What a feed may need to open: settings, universe, model, clock, console."""

    settings: Settings
    universe: Sequence[StockMeta]
    model: SentimentModel
    start_ms: int
    virtual_clock: bool
    echo: Callable[[str], None] = print


class TweetFeed(abc.ABC):
    """Tweets -> ``sentiment_count/mean/ewma`` factor values and scored tweets, per step."""

    name: ClassVar[str] = ""
    source: ClassVar[str] = ""

    def __init__(self, model: SentimentModel) -> None:
        self.aggregator = SentimentAggregator(model, source=self.source)
        self.reader = TweetReader(require_time=True, on_reject=self._set_aside)
        #: tweets that entered (scored)
        self.tweets = 0
        self._dead: list[DeadLetter] = []

    @classmethod
    @abc.abstractmethod
    def open(cls, arg: str, ctx: FeedContext) -> TweetFeed:
        """Build the feed from the argument of its spec (``file:PATH`` -> ``PATH``)."""

    @abc.abstractmethod
    def arrived(self, until: int) -> list[Tweet]:
        """The tweets that enter before event time ``until``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """What the feed reads, in a few words."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads and files (never blocks)."""

    def step(self, until: int) -> tuple[list[FactorValue], list[ScoredTweet]]:
        """The tweets that entered before ``until``, scored and aggregated: (factors, tweets)."""
        batch = self.arrived(until)
        self.tweets += len(batch)
        return self.aggregator.on_tweets_scored(batch) if batch else ([], [])

    def read(self, line: bytes | str) -> Tweet | None:
        """One raw line -> a tweet, or None (blank, or rejected and set aside)."""
        return self.reader.read(line)

    def take_rejects(self) -> list[DeadLetter]:
        """The lines rejected since the last call, as dead letters."""
        dead, self._dead = self._dead, []
        return dead

    @property
    def rejects(self) -> Counter[str]:
        """Rejects by reason: bad lines, and tweets too late for a symbol's window
        (``too_late``: stored, but outside the factors)."""
        return self.reader.rejects + self.aggregator.rejects

    def summary(self) -> str:
        """One line for the end of a run."""
        rejects = self.rejects
        detail = ", ".join(f"{k} {v}" for k, v in sorted(rejects.items())) or "none"
        return f"Tweets ({self.describe()}): {self.tweets:,} scored; rejected: {detail}"

    def _set_aside(self, line: bytes | str, exc: TweetError) -> None:
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        error = str(exc)
        if len(raw) > DEAD_RAW_BYTES:
            error += f" (first {DEAD_RAW_BYTES} of {len(raw)} bytes kept)"
        self._dead.append(DeadLetter(f"tweet_{exc.reason}", TOPIC, raw[:DEAD_RAW_BYTES], error))
