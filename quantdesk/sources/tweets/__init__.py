"""Tweet sources of ``quantdesk run``, chosen by name (``--tweets`` / ``QUANTDESK_TWEETS``).

=================  ==========================================  ==========
spec               what enters the pipeline                    ``source``
=================  ==========================================  ==========
``mock``           mocked tweets, ``QUANTDESK_SENTIMENT_RATE``  ``mocker``
                   per second of event time (0: none)
``file:PATH``      a JSON-lines file, replayed in event time    ``file``
``http``           the Twitter v2 filtered stream, live         ``twitter``
``none``           nothing (no sentiment factors)               --
=================  ==========================================  ==========

The interface is :class:`~quantdesk.sources.tweets.base.TweetFeed` (a live
source of kind ``tweets``); :data:`TWEET_SOURCES` is the registry (a user's
package adds one with ``TWEET_SOURCES.register("name", "pkg.module:Class")`` or
the ``quantdesk.tweet_sources`` entry points), :func:`open_feed` builds the
configured one. This module imports nothing heavy: the settings check names
against the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quantdesk.plugins import Registry

if TYPE_CHECKING:
    from quantdesk.config import Settings
    from quantdesk.domain import StockMeta
    from quantdesk.sentiment.model import SentimentModel
    from quantdesk.sources.tweets.base import TweetFeed

__all__ = [
    "NONE",
    "TWEET_SOURCES",
    "ensure_model",
    "feed_class",
    "feed_names",
    "open_feed",
    "parse_spec",
    "register_feed",
]

#: Tweet sources by name (``QUANTDESK_TWEETS``, ``run --tweets``).
TWEET_SOURCES: Registry[type[TweetFeed]] = Registry("tweet source", "QUANTDESK_TWEETS")
TWEET_SOURCES.register("mock", "quantdesk.sources.tweets.mock:MockFeed")
TWEET_SOURCES.register("file", "quantdesk.sources.tweets.file:FileFeed")
TWEET_SOURCES.register("http", "quantdesk.sources.tweets.http:HttpFeed")
#: The spec that turns tweets off.
NONE = "none"


def register_feed(name: str, cls: type[TweetFeed] | str) -> None:
    """Register a tweet source (a class or ``"module:Class"``) under ``name``."""
    TWEET_SOURCES.register(name, cls)


def feed_names() -> list[str]:
    """Every accepted name, ``none`` included."""
    return sorted([*TWEET_SOURCES.names(), NONE])


def parse_spec(spec: str) -> tuple[str, str]:
    """``"file:PATH"`` -> ``("file", "PATH")``; ``"http"`` -> ``("http", "")``."""
    name, _, arg = spec.strip().partition(":")
    name = name.strip().lower()
    if name != NONE and name not in TWEET_SOURCES:
        raise TWEET_SOURCES.unknown(name)
    return name, arg.strip()


def feed_class(name: str) -> type[TweetFeed]:
    from quantdesk.sources.tweets.base import TweetFeed

    entry = TWEET_SOURCES.get(name)
    if not (isinstance(entry, type) and issubclass(entry, TweetFeed)):
        raise TWEET_SOURCES.unknown(name)
    return entry


def ensure_model(model_dir: Path, echo: Callable[[str], None] = print) -> SentimentModel:
    """The newest model in ``model_dir``, training one from the shipped data if none."""
    from quantdesk.errors import NotFoundError
    from quantdesk.sentiment.model import SHIPPED_DATA, load_model, train

    try:
        return load_model(model_dir)
    except NotFoundError:
        echo(f"Sentiment: no model in {model_dir}; training one from the shipped train_data.csv")
        return train(SHIPPED_DATA, model_dir).model


def open_feed(
    settings: Settings,
    universe: Sequence[StockMeta],
    *,
    start_ms: int,
    virtual_clock: bool,
    echo: Callable[[str], None] = print,
    market: str | None = None,
) -> TweetFeed | None:
    """The tweet source ``settings.tweets`` names, or None when tweets are off.

    ``mock`` with ``QUANTDESK_SENTIMENT_RATE=0`` is off too.
    """
    from quantdesk.sources.base import SourceContext

    name, arg = parse_spec(settings.tweets)
    if name == NONE or (name == "mock" and settings.sentiment_rate <= 0):
        return None
    ctx = SourceContext(
        settings,
        market or settings.market,
        virtual_clock=virtual_clock,
        universe=tuple(universe),
        start_ms=start_ms,
        echo=echo,
    )
    return feed_class(name).open(arg, ctx)
