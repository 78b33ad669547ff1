"""The filtered-stream client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from quantdesk.errors import ConfigError, NotFoundError
from quantdesk.sentiment.ingest import (
    TOKEN_ENV,
    StreamStats,
    TweetReader,
    iter_file,
    iter_mock,
    stream_http,
)
from quantdesk.sentiment.mocker import TweetMocker
from quantdesk.sources.simulator.universe import default_universe

TOKEN = "test-token-123"
TWEETS = [orjson.dumps(t) for t in TweetMocker(default_universe("us"), seed=11).generate(6)]


class StreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script  # what each successive connection does
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StreamServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        step = self.server.script.pop(0) if self.server.script else "busy"
        if step == "busy":
            self.send_response(429)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if step == "drop":
            self.chunk(TWEETS[0] + b"\r\n\r\n")  # a tweet, then a keep-alive
            self.chunk(b"{malformed json\r\n" + TWEETS[1][:20])  # a line split across chunks
            self.chunk(TWEETS[1][20:] + b"\r\n\r\n" + TWEETS[2][:15])  # ... then a partial line
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-line
        elif step == "clean":
            for line in TWEETS[3:]:
                self.chunk(line + b"\r\n")
            self.chunk(b"\r\n")
            self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def server() -> Iterator[StreamServer]:
    srv = StreamServer([])
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_stream_with_keepalives_malformed_lines_and_a_drop(server: StreamServer) -> None:
    server.script[:] = ["drop", "clean"]
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
    server.script[:] = ["busy", "busy", "clean"]
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
    server.script[:] = ["clean"]
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert list(stream_http(base_url=server.url, max_reconnects=0)) == TWEETS[3:]
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        next(stream_http(base_url=server.url))


def test_stop_event(server: StreamServer) -> None:
    server.script[:] = ["clean"]
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
