"""The tweet sources of ``quantdesk run``: tweets in event time, a live source like any other.

A tweet source is a clocked :class:`~quantdesk.sources.base.LiveSource` of kind
``tweets``: the runner calls :meth:`TweetFeed.step` once per step of event time
with the step's end and gets the tweets that entered before it (parsed
:class:`~quantdesk.sentiment.tweets.Tweet` messages, with their ``created_at``).
Scoring and the ``sentiment_*`` factors are the stream operator's job
(:class:`~quantdesk.stream.sentiment.SentimentAggregator`, run by the stream
processor and checkpointed with it); the stored tweets carry the source's
``origin``. Bad lines (not JSON, invalid UTF-8, missing fields, huge texts: the
reasons of :func:`~quantdesk.sentiment.tweets.parse_tweet`) never stop a
source: they are counted by reason and handed over by
:meth:`TweetFeed.take_rejects` as dead letters (reason ``tweet_<reason>``,
topic ``tweets``), which the runner counts and stores with its other rejects.

Implementing a tweet source
===========================

=====================  ========  ==================================================
member                 required  meaning
=====================  ========  ==================================================
``name``               yes       registry key: ``QUANTDESK_TWEETS=<name>[:<arg>]``
``origin``             yes       the ``source`` its stored tweets carry
``open(arg, ctx)``     yes       classmethod: build it from the argument after
                                 ``name:`` (``""`` if none) and a
                                 :class:`~quantdesk.sources.base.SourceContext`;
                                 raise a one-line
                                 :class:`~quantdesk.errors.QuantdeskError`
``arrived(until)``     yes       the tweets entering before event time ``until``
                                 (of a backlog, at most :data:`MAX_PER_STEP` a
                                 step); raw lines go through :meth:`TweetFeed.read`
``describe()``         yes       what it reads, for the start-up banner
``snapshot()``,        no        state committed with the runner's checkpoints
``restore(state)``               (mock: the generator's state; file: lines read)
``close()``            no        stop threads, close files; must never block
=====================  ========  ==================================================

The base class implements :meth:`~TweetFeed.step`, :meth:`~TweetFeed.read`,
:meth:`~TweetFeed.take_rejects`, :attr:`~TweetFeed.rejects` and
:meth:`~TweetFeed.summary`. Sources register by name in
:data:`quantdesk.sources.tweets.TWEET_SOURCES`.
"""

from __future__ import annotations

import abc
from collections import Counter
from typing import ClassVar, Final, Literal

from quantdesk.bus import DeadLetter
from quantdesk.sentiment.tweets import Tweet, TweetError
from quantdesk.sources.base import LiveSource, SourceContext
from quantdesk.sources.tweets.readers import TweetReader

__all__ = ["DEAD_RAW_BYTES", "MAX_PER_STEP", "TOPIC", "FeedContext", "TweetFeed"]

#: The context a tweet source opens with (the live sources' one).
FeedContext = SourceContext

#: Most tweets one step takes: a backlog (an old file, a full queue) drains over
#: several steps instead of stalling the market.
MAX_PER_STEP: Final = 10_000
#: Bytes of a rejected line kept in its dead letter.
DEAD_RAW_BYTES: Final = 16 * 1024
#: The ``topic`` of tweet dead letters.
TOPIC: Final = "tweets"


class TweetFeed(LiveSource):
    """Tweets in event time, per step (a clocked live source of kind ``tweets``)."""

    kind: ClassVar[Literal["market", "tweets"]] = "tweets"

    def __init__(self) -> None:
        self.reader = TweetReader(require_time=True, on_reject=self._set_aside)
        #: tweets that entered (scored)
        self.tweets = 0
        self._dead: list[DeadLetter] = []

    @classmethod
    @abc.abstractmethod
    def open(cls, arg: str, ctx: SourceContext) -> TweetFeed:
        """Build the feed from the argument of its spec (``file:PATH`` -> ``PATH``)."""

    @property
    def source(self) -> str:
        """The ``source`` of its stored tweets (its :attr:`origin`)."""
        return self.origin

    @abc.abstractmethod
    def arrived(self, until: int) -> list[Tweet]:
        """The tweets that enter before event time ``until``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """What the feed reads, in a few words."""

    def step(self, until: int) -> list[Tweet]:
        """The tweets that entered before ``until``."""
        batch = self.arrived(until)
        self.tweets += len(batch)
        return batch

    def read(self, line: bytes | str) -> Tweet | None:
        """One raw line -> a tweet, or None (blank, or rejected and set aside)."""
        return self.reader.read(line)

    def take_rejects(self) -> list[DeadLetter]:
        """The lines rejected since the last call, as dead letters."""
        dead, self._dead = self._dead, []
        return dead

    @property
    def rejects(self) -> Counter[str]:
        """Bad lines by reason."""
        return self.reader.rejects

    def summary(self, more: Counter[str] | None = None) -> str:
        """One line for the end of a run (``more``: the operator's rejects, e.g. tweets too
        late for a symbol's window)."""
        rejects = self.rejects + (more or Counter())
        detail = ", ".join(f"{k} {v}" for k, v in sorted(rejects.items())) or "none"
        return f"Tweets ({self.describe()}): {self.tweets:,} scored; rejected: {detail}"

    def _set_aside(self, line: bytes | str, exc: TweetError) -> None:
        raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
        error = str(exc)
        if len(raw) > DEAD_RAW_BYTES:
            error += f" (first {DEAD_RAW_BYTES} of {len(raw)} bytes kept)"
        self._dead.append(DeadLetter(f"tweet_{exc.reason}", TOPIC, raw[:DEAD_RAW_BYTES], error))
