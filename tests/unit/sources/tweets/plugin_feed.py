"""A tweet source that lives outside the quantdesk package (registered by a test)."""

from __future__ import annotations

from quantdesk.sentiment.tweets import Tweet
from quantdesk.sources.base import SourceContext
from quantdesk.sources.tweets.base import TweetFeed


class QuietFeed(TweetFeed):
    name = "quiet"
    origin = "quiet"

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> QuietFeed:
        return cls()

    def describe(self) -> str:
        return "nothing, quietly"

    def arrived(self, until: int) -> list[Tweet]:
        return []
