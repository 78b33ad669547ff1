"""Feeds chosen by name: QUANTDESK_TWEETS / --tweets."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantdesk.config import load_settings
from quantdesk.errors import ConfigError
from quantdesk.sentiment.model import SHIPPED_DATA, train
from quantdesk.sources.simulator.universe import default_universe
from quantdesk.sources.tweets import TWEET_SOURCES, feed_names, open_feed, parse_spec
from quantdesk.sources.tweets.file import FileFeed
from quantdesk.sources.tweets.http import HttpFeed
from quantdesk.sources.tweets.mock import MockFeed
from quantdesk.sources.tweets.readers import BASE_URL_ENV, TOKEN_ENV
from tests.unit.sentiment.fake_stream import TOKEN, stream_server, tweet_line

T0 = 1_767_576_600_000
US = default_universe("us")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    train(SHIPPED_DATA, tmp_path / "models" / "sentiment")  # the model open_feed loads
    return tmp_path


def test_the_settings_know_every_feed() -> None:
    assert feed_names() == ["file", "http", "mock", "none"]
    for name in feed_names():
        assert load_settings(tweets=name if name != "file" else "file:x.jsonl").tweets
    assert parse_spec("file:/tmp/a:b.jsonl") == ("file", "/tmp/a:b.jsonl")
    assert parse_spec("http") == ("http", "")
    with pytest.raises(ConfigError, match="unknown tweet source 'kafka'"):
        parse_spec("kafka")


def test_an_unknown_feed_is_one_line_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tweets="twitter")
    assert str(err.value) == (
        "QUANTDESK_TWEETS: unknown tweet source 'twitter'; known: file, http, mock, none"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [("file:", "needs the path"), ("http:x", "http takes no argument")],
)
def test_bad_arguments_name_the_setting(data_dir: Path, spec: str, message: str) -> None:
    settings = load_settings(data_dir=data_dir, tweets=spec)
    with pytest.raises(ConfigError, match=f"QUANTDESK_TWEETS: .*{message}"):
        open_feed(settings, US, start_ms=T0, virtual_clock=False)


def test_a_feed_registered_outside_the_package_is_selectable(data_dir: Path) -> None:
    TWEET_SOURCES.register("quiet", "tests.unit.sources.tweets.plugin_feed:QuietFeed")
    try:
        settings = load_settings(data_dir=data_dir, tweets="QUIET")
        assert settings.tweets == "quiet"
        feed = open_feed(settings, US, start_ms=T0, virtual_clock=True)
        assert feed is not None and feed.describe() == "nothing, quietly"
        assert feed.step(T0 + 60_000) == []
    finally:
        TWEET_SOURCES.unregister("quiet")


def test_open_by_name(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []

    def feed(spec: str, *, virtual: bool = True, rate: float = 1.0) -> object:
        settings = load_settings(data_dir=data_dir, tweets=spec, sentiment_rate=rate)
        return open_feed(settings, US, start_ms=T0, virtual_clock=virtual, echo=said.append)

    assert isinstance(feed("mock"), MockFeed)
    assert feed("mock", rate=0) is None  # QUANTDESK_SENTIMENT_RATE=0 still turns tweets off
    assert feed("none") is None
    path = data_dir / "t.jsonl"
    path.write_bytes(tweet_line(1, "$AAPL buy", T0) + b"\n")
    f = feed(f"file:{path}")
    assert isinstance(f, FileFeed) and f.source == "file"
    f.close()
    assert not said
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with stream_server() as srv:
        monkeypatch.setenv(BASE_URL_ENV, srv.url)
        h = feed("http", virtual=False)
        assert isinstance(h, HttpFeed) and h.source == "twitter" and srv.url in h.describe()
        h.close()
        assert not said  # on the wall clock: no warning
        h = feed("http")
        assert isinstance(h, HttpFeed)
        h.close()
    assert len(said) == 1 and "virtual clock" in said[0] and "--clock wall" in said[0]
