"""``QUANTDESK_TWEETS=file:PATH``: a JSON-lines file of tweets replayed in event time.

The file (Twitter API v2 filtered-stream lines, as ``curl`` of the stream or
``quantdesk sentiment mock`` write them) is read lazily, in order, like a
capture replay: a tweet enters at the first step whose end passes its
``created_at``. Tweets created before the clock's start are taken at once by
the first steps (at most :data:`~quantdesk.sources.tweets.base.MAX_PER_STEP`
a step), so a file of the last hours warms the factors up; their factor
values and signals carry their own (past) times. The file is expected in
``created_at`` order: a tweet out of order enters with the one before it.
Bad lines are set aside as they are read. Source ``file``. Its snapshot is the
number of lines consumed, so a restart from a checkpoint continues at the
next line.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from quantdesk.errors import ConfigError
from quantdesk.sentiment.tweets import Tweet
from quantdesk.sources.base import SourceContext
from quantdesk.sources.tweets.base import MAX_PER_STEP, TweetFeed
from quantdesk.sources.tweets.readers import iter_file

log = logging.getLogger("quantdesk.runtime.tweets")


class FileFeed(TweetFeed):
    """The tweets of a JSON-lines file, each entering when the clock passes its time."""

    name = "file"
    origin = "file"

    def __init__(self, path: str | Path, *, skip: int = 0) -> None:
        super().__init__()
        self.path = Path(path)
        self._lines = iter_file(self.path)
        #: lines taken from the file (the head tweet's line included)
        self._read = 0
        self._head: Tweet | None = None
        self._skip(skip)
        self._advance()  # a missing file fails here, at start

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> FileFeed:
        if not arg:
            raise ConfigError(
                "QUANTDESK_TWEETS: file:PATH needs the path of a JSON-lines file (got 'file:')"
            )
        return cls(arg)

    def _skip(self, n: int) -> None:
        for _ in itertools.islice(self._lines, n):
            self._read += 1

    def snapshot(self) -> dict[str, Any]:
        """Lines consumed: read, and either entered or set aside (not the waiting head)."""
        return {"lines": self._read - (1 if self._head is not None else 0)}

    def restore(self, state: dict[str, Any]) -> None:
        self._lines.close()
        self._lines = iter_file(self.path)
        self._read = 0
        self._head = None
        self._skip(int(state.get("lines", 0)))
        self._advance()

    def describe(self) -> str:
        return f"file {self.path}, replayed in event time"

    def _advance(self) -> None:
        for line in self._lines:
            self._read += 1
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
