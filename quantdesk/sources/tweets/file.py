"""``QUANTDESK_TWEETS=file:PATH``: a JSON-lines file of tweets replayed in event time.

The file (Twitter API v2 filtered-stream lines, as ``curl`` of the stream or
``quantdesk sentiment mock`` write them) is read lazily, in order, like a
capture replay: a tweet enters at the first step whose end passes its
``created_at``. Tweets created before the clock's start are taken at once by
the first steps (at most :data:`~quantdesk.sources.tweets.base.MAX_PER_STEP`
a step), so a file of the last hours warms the factors up; their factor
values and signals carry their own (past) times. The file is expected in
``created_at`` order: a tweet out of order enters with the one before it.
Bad lines are set aside as they are read. Source ``file``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from quantdesk.sentiment.model import SentimentModel
from quantdesk.sentiment.tweets import Tweet
from quantdesk.sources.tweets.base import MAX_PER_STEP, FeedContext, TweetFeed
from quantdesk.sources.tweets.readers import iter_file

log = logging.getLogger("quantdesk.runtime.tweets")


class FileFeed(TweetFeed):
    """The tweets of a JSON-lines file, each entering when the clock passes its time."""

    name = "file"
    source = "file"

    def __init__(self, path: str | Path, model: SentimentModel) -> None:
        super().__init__(model)
        self.path = Path(path)
        self._lines = iter_file(self.path)
        self._head: Tweet | None = None
        self._advance()  # a missing file fails here, at start

    @classmethod
    def open(cls, arg: str, ctx: FeedContext) -> FileFeed:
        return cls(arg, ctx.model)

    def describe(self) -> str:
        return f"file {self.path}, replayed in event time"

    def _advance(self) -> None:
        for line in self._lines:
            tweet = self.read(line)
            if tweet is not None:
                self._head = tweet
                return
        if self._head is not None:
            log.info("end of the tweet file %s", self.path)
        self._head = None

    def arrived(self, until: int) -> list[Tweet]:
        batch: list[Tweet] = []
        while self._head is not None and len(batch) < MAX_PER_STEP:
            created = self._head.created_at
            if created is not None and created >= until:
                break
            batch.append(self._head)
            self._advance()
        return batch

    def close(self) -> None:
        self._lines.close()  # closes the file
