"""Tweet feeds of ``quantdesk run``, chosen by name (``--tweets`` / ``QUANTDESK_TWEETS``).

=================  ==========================================  ==========
spec               what enters the pipeline                    ``source``
=================  ==========================================  ==========
``mock``           mocked tweets, ``QUANTDESK_SENTIMENT_RATE``  ``mocker``
                   per second of event time (0: none)
``file:PATH``      a JSON-lines file, replayed in event time    ``file``
``http``           the Twitter v2 filtered stream, live         ``twitter``
``none``           nothing (no sentiment factors)               --
=================  ==========================================  ==========

The interface is :class:`~quantdesk.sources.tweets.base.TweetFeed`;
:func:`register_feed` adds one, :func:`open_feed` builds the configured one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from quantdesk.config import Settings
from quantdesk.domain import StockMeta
from quantdesk.errors import ConfigError, NotFoundError
from quantdesk.sentiment.model import SHIPPED_DATA, SentimentModel, load_model, train
from quantdesk.sources.tweets.base import FeedContext, TweetFeed

__all__ = [
    "FeedContext",
    "TweetFeed",
    "ensure_model",
    "feed_class",
    "feed_names",
    "open_feed",
    "parse_spec",
    "register_feed",
]

_REGISTRY: dict[str, str | type[TweetFeed]] = {
    "mock": "quantdesk.sources.tweets.mock:MockFeed",
    "file": "quantdesk.sources.tweets.file:FileFeed",
    "http": "quantdesk.sources.tweets.http:HttpFeed",
}
#: The spec that turns tweets off.
NONE = "none"


def register_feed(name: str, cls: type[TweetFeed] | str) -> None:
    """Register a feed (a class or ``"module:Class"``) under ``name``."""
    _REGISTRY[name] = cls


def feed_names() -> list[str]:
    return sorted([*_REGISTRY, NONE])


def parse_spec(spec: str) -> tuple[str, str]:
    """``"file:PATH"`` -> ``("file", "PATH")``; ``"http"`` -> ``("http", "")``."""
    name, _, arg = spec.strip().partition(":")
    if name != NONE and name not in _REGISTRY:
        raise ConfigError(
            f"QUANTDESK_TWEETS: unknown tweet feed {name!r}; "
            f"choose one of mock, file:PATH, http, none"
        )
    return name, arg


def feed_class(name: str) -> type[TweetFeed]:
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        assert isinstance(entry, type) and issubclass(entry, TweetFeed)
        _REGISTRY[name] = entry
    return entry


def ensure_model(model_dir: Path, echo: Callable[[str], None] = print) -> SentimentModel:
    """The newest model in ``model_dir``, training one from the shipped data if none."""
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
) -> TweetFeed | None:
    """The feed ``settings.tweets`` names, or None when tweets are off.

    ``mock`` with ``QUANTDESK_SENTIMENT_RATE=0`` is off too. The sentiment model
    is loaded (trained on first use) only when a feed runs.
    """
    name, arg = parse_spec(settings.tweets)
    if name == NONE or (name == "mock" and settings.sentiment_rate <= 0):
        return None
    cls = feed_class(name)
    model = ensure_model(settings.data_dir / "models" / "sentiment", echo)
    ctx = FeedContext(settings, universe, model, start_ms, virtual_clock, echo)
    return cls.open(arg, ctx)
