"""The http feed against a real filtered-stream server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from quantdesk.errors import ConfigError
from quantdesk.sources.tweets.http import HttpFeed
from quantdesk.sources.tweets.readers import TOKEN_ENV
from tests.unit.sentiment.fake_stream import TOKEN, Connection, stream_server, tweet_line

T0 = 1_767_576_600_000


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_steps_drain_what_arrived_across_a_drop() -> None:
    script = [
        Connection(
            [tweet_line(1, "$AAPL to the moon 🚀", T0) + b"\r\n", b"{oops\r\n", b"\r\n"],
            end="drop",
        ),
        Connection(
            [
                tweet_line(2, "$AAPL breakout", T0 + 5_000) + b"\r\n",
                tweet_line(3, "$TSLA weak, bearish", T0 - 999_000) + b"\r\n",
            ],
            end="hold",
        ),
    ]
    with stream_server(script) as srv:
        feed = HttpFeed(token=TOKEN, base_url=srv.url, backoff_s=0.01)
        stored: list[tuple[str, int, str]] = []

        def step() -> bool:
            # the runtime's clock does not gate live tweets: any until drains the queue
            stored.extend((str(t.id), t.created_at or 0, feed.source) for t in feed.step(0))
            return len(stored) == 3

        eventually(step)
        # tweets keep their created_at, whatever the clock
        assert stored == [
            ("1", T0, "twitter"),
            ("2", T0 + 5_000, "twitter"),
            ("3", T0 - 999_000, "twitter"),
        ]
        assert [d.reason for d in feed.take_rejects()] == ["tweet_not_json"]
        assert feed.stream_stats.connections == 2 and feed.stream_stats.disconnects == 1
        assert feed.reading
        t = time.monotonic()
        feed.close()  # while the server only sends keep-alives
        assert time.monotonic() - t < 1.0 and not feed.reading
        assert srv.requests[0][1]["Authorization"] == f"Bearer {TOKEN}"


def test_a_full_queue_holds_the_reader_back_without_loss() -> None:
    lines = [tweet_line(i, f"$AAPL buy {i}", T0 + i) + b"\r\n" for i in range(1, 7)]
    with stream_server([Connection(lines, end="hold")]) as srv:
        feed = HttpFeed(token=TOKEN, base_url=srv.url, queue_size=2)
        ids: list[str] = []
        sizes: list[int] = []

        def step() -> bool:
            tweets = feed.step(0)
            sizes.append(len(tweets))
            ids.extend(str(t.id) for t in tweets)
            return len(ids) == 6

        eventually(step)
        assert ids == [str(i) for i in range(1, 7)] and max(sizes) <= 2
        feed.close()


def test_close_while_waiting_to_reconnect() -> None:
    with stream_server([Connection(status=503)]) as srv:
        feed = HttpFeed(token=TOKEN, base_url=srv.url, backoff_s=30.0)
        eventually(lambda: feed.stream_stats.retries_after_status[503] == 1)
        t = time.monotonic()
        feed.close()
        assert time.monotonic() - t < 1.0 and not feed.reading


def test_a_refused_token_stops_the_next_step() -> None:
    with stream_server() as srv:
        feed = HttpFeed(token="wrong", base_url=srv.url)
        eventually(lambda: not feed.reading)
        with pytest.raises(ConfigError, match="HTTP 401"):
            feed.step(0)
        assert feed.step(0) == []  # raised once
        feed.close()


def test_no_token_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        HttpFeed(base_url="http://127.0.0.1:9")
