"""The filtered-stream client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from quantdesk.errors import ConfigError, NotFoundError
from quantdesk.sentiment.mocker import TweetMocker
from quantdesk.sources.simulator.universe import default_universe
from quantdesk.sources.tweets.readers import (
    TOKEN_ENV,
    StreamStats,
    TweetReader,
    iter_file,
    iter_mock,
    stream_http,
)
from tests.unit.sentiment.fake_stream import TOKEN, Connection, StreamServer, stream_server

TWEETS = [orjson.dumps(t) for t in TweetMocker(default_universe("us"), seed=11).generate(6)]
# a tweet, then a keep-alive; a malformed line and a line split across chunks;
# then a partial line when the connection drops
DROP = Connection(
    [
        TWEETS[0] + b"\r\n\r\n",
        b"{malformed json\r\n" + TWEETS[1][:20],
        TWEETS[1][20:] + b"\r\n\r\n" + TWEETS[2][:15],
    ],
    end="drop",
)
CLEAN = Connection([*(line + b"\r\n" for line in TWEETS[3:]), b"\r\n"])
BUSY = Connection(status=429)


@pytest.fixture
def server() -> Iterator[StreamServer]:
    with stream_server() as srv:
        yield srv


def test_stream_with_keepalives_malformed_lines_and_a_drop(server: StreamServer) -> None:
    server.script[:] = [DROP, CLEAN]
    stats = StreamStats()
    sleeps: list[float] = []
    lines = list(
        stream_http(
            base_url=server.url + "/",
            token=TOKEN,
            max_reconnects=1,
            backoff_s=0.5,
            stats=stats,
            sleep=sleeps.append,
        )
    )
    assert lines == [TWEETS[0], b"{malformed json", TWEETS[1], *TWEETS[3:]]
    assert stats.connections == 2 and stats.disconnects == 2
    assert stats.keepalives == 3 and stats.partial_lines == 1
    assert sleeps == [0.5]
    path, headers = server.requests[0]
    assert path.startswith("/2/tweets/search/stream?tweet.fields=")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    reader = TweetReader(require_time=True)
    tweets = list(reader.read_all(lines))
    assert [t.id for t in tweets] == [
        orjson.loads(x)["data"]["id"] for x in (TWEETS[0], TWEETS[1], *TWEETS[3:])
    ]
    assert dict(reader.rejects) == {"not_json": 1}


def test_retries_after_429_with_backoff(server: StreamServer) -> None:
    server.script[:] = [BUSY, BUSY, CLEAN]
    stats = StreamStats()
    sleeps: list[float] = []
    lines = list(
        stream_http(
            base_url=server.url, token=TOKEN, max_reconnects=3, stats=stats, sleep=sleeps.append
        )
    )
    assert lines == TWEETS[3:]
    # 429, 429, the stream (it ends), then 429 again: the fourth reconnect is one too many
    assert stats.retries_after_status[429] == 3
    assert sleeps == [1.0, 2.0, 1.0]  # the back-off restarts after a connection with data


def test_bad_token_is_a_config_error(server: StreamServer) -> None:
    with pytest.raises(ConfigError, match="HTTP 401"):
        list(stream_http(base_url=server.url, token="wrong", max_reconnects=0))


def test_token_from_env(server: StreamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.script[:] = [CLEAN]
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert list(stream_http(base_url=server.url, max_reconnects=0)) == TWEETS[3:]
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        next(stream_http(base_url=server.url))


def test_stop_event(server: StreamServer) -> None:
    server.script[:] = [CLEAN]
    stop = threading.Event()
    got = []
    for line in stream_http(base_url=server.url, token=TOKEN, stop=stop):
        got.append(line)
        stop.set()
    assert got == [TWEETS[3]]


def test_file_and_mock_sources(tmp_path: Path) -> None:
    p = tmp_path / "tweets.jsonl"
    p.write_bytes(b"\n".join([TWEETS[0], b"\xff\xfe", b"", TWEETS[1]]) + b"\r\n")
    reader = TweetReader()
    assert len(list(reader.read_all(iter_file(p)))) == 2
    assert dict(reader.rejects) == {"invalid_utf8": 1} and reader.blank == 1
    with pytest.raises(NotFoundError):
        list(iter_file(tmp_path / "nope.jsonl"))
    mocked = list(iter_mock(TweetMocker(default_universe("cn"), seed=1), 5))
    assert len(mocked) == 5 and all(orjson.loads(m)["data"]["id"] for m in mocked)


def test_stop_event_between_keepalives(server: StreamServer) -> None:
    server.script[:] = [Connection([TWEETS[0] + b"\r\n"], end="hold")]
    stop = threading.Event()
    lines = stream_http(base_url=server.url, token=TOKEN, stop=stop)
    assert next(lines) == TWEETS[0]
    stop.set()
    assert list(lines) == []  # it ends at the next keep-alive, not at the next tweet
