"""Tweet sources: the mocker, a JSON-lines file, and the Twitter API v2 filtered stream.

Every source yields raw lines (``bytes``); :class:`TweetReader` validates them
with :func:`~quantdesk.sentiment.tweets.parse_tweet`, counts rejects by
reason and never raises on bad input.

The HTTP source speaks the real filtered-stream protocol: ``GET
{base_url}/2/tweets/search/stream`` with ``Authorization: Bearer <token>``,
a long-lived response of newline-delimited JSON (``\\r\\n``) with blank
keep-alive lines. The token comes from ``QUANTDESK_TWITTER_BEARER_TOKEN``
unless given; the base URL defaults to ``https://api.twitter.com`` (env
``QUANTDESK_TWITTER_BASE_URL``). When the connection drops (or the server
ends the response) it reconnects with exponential back-off, up to
``max_reconnects`` times (None: forever); a partial last line of a dropped
connection is discarded and counted. ``max_reconnects`` counts every
reconnect of the call; the back-off restarts after a connection that
delivered data. HTTP 401/403 raise
:class:`~quantdesk.errors.ConfigError` (bad token); 429 and 5xx back off and retry.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx
import orjson

from quantdesk.errors import ConfigError, NotFoundError
from quantdesk.sentiment.mocker import TweetMocker
from quantdesk.sentiment.tweets import MAX_LINE_BYTES, Tweet, TweetError, parse_tweet

__all__ = [
    "BASE_URL_ENV",
    "TOKEN_ENV",
    "StreamStats",
    "TweetReader",
    "bearer_token",
    "iter_file",
    "iter_mock",
    "stream_http",
    "stream_url",
]

TOKEN_ENV: Final = "QUANTDESK_TWITTER_BEARER_TOKEN"
BASE_URL_ENV: Final = "QUANTDESK_TWITTER_BASE_URL"
DEFAULT_BASE_URL: Final = "https://api.twitter.com"
STREAM_PATH: Final = "/2/tweets/search/stream"
TWEET_FIELDS: Final = "created_at,author_id,edit_history_tweet_ids"


@dataclass
class TweetReader:
    """Validates raw lines into tweets; ``rejects`` counts bad lines by reason.

    ``on_reject(line, error)``, when given, is called with every rejected line
    (to set it aside, e.g. as a dead letter).
    """

    require_time: bool = False
    accepted: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    blank: int = 0
    on_reject: Callable[[bytes | str, TweetError], None] | None = None

    def read(self, line: bytes | str) -> Tweet | None:
        """A tweet, or None for a blank (keep-alive) or rejected line."""
        if not line.strip():
            self.blank += 1
            return None
        try:
            tweet = parse_tweet(line, require_time=self.require_time)
        except TweetError as exc:
            self.rejects[exc.reason] += 1
            if self.on_reject is not None:
                self.on_reject(line, exc)
            return None
        self.accepted += 1
        return tweet

    def read_all(self, lines: Iterable[bytes | str]) -> Iterator[Tweet]:
        for line in lines:
            tweet = self.read(line)
            if tweet is not None:
                yield tweet


def iter_mock(mocker: TweetMocker, count: int | None = None) -> Iterator[bytes]:
    """``count`` mocked tweets (None: forever) as JSON lines."""
    n = 0
    while count is None or n < count:
        yield orjson.dumps(mocker.next_labeled().tweet)
        n += 1


def iter_file(path: str | Path) -> Generator[bytes, None, None]:
    """The lines of a JSON-lines file, as bytes (invalid UTF-8 is left to the reader)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"tweet file {p} does not exist")
    with p.open("rb") as f:
        for line in f:
            yield line.rstrip(b"\r\n")


def bearer_token(token: str | None = None) -> str:
    """``token``, else ``QUANTDESK_TWITTER_BEARER_TOKEN``; :class:`ConfigError` if neither."""
    token = token if token is not None else os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(f"no Twitter bearer token: set {TOKEN_ENV}")
    return token


def stream_url(base_url: str | None = None) -> str:
    """The filtered-stream URL: ``base_url``, else ``QUANTDESK_TWITTER_BASE_URL``, else Twitter."""
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    return base + STREAM_PATH


@dataclass
class StreamStats:
    """What the HTTP source saw: connections, drops, keep-alives, discarded partial lines."""

    connections: int = 0
    disconnects: int = 0
    keepalives: int = 0
    partial_lines: int = 0
    lines: int = 0
    retries_after_status: Counter[int] = field(default_factory=Counter)


def stream_http(
    *,
    base_url: str | None = None,
    token: str | None = None,
    max_reconnects: int | None = None,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    timeout_s: float = 30.0,
    stats: StreamStats | None = None,
    stop: threading.Event | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """Yield the non-blank lines of the filtered stream, reconnecting on drops.

    ``timeout_s`` is the read timeout: Twitter sends a keep-alive every 20 s,
    so a silent connection is treated as dropped. ``stop`` is checked after
    every line and keep-alive, and before each reconnect.
    """
    token = bearer_token(token)
    url = stream_url(base_url)
    stats = stats if stats is not None else StreamStats()
    own = client is None
    http = (
        client if client is not None else httpx.Client(timeout=httpx.Timeout(10.0, read=timeout_s))
    )
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "quantdesk"}
    attempts = 0
    delay = backoff_s
    try:
        while stop is None or not stop.is_set():
            got_data = False
            try:
                with http.stream(
                    "GET", url, headers=headers, params={"tweet.fields": TWEET_FIELDS}
                ) as resp:
                    if resp.status_code in (401, 403):
                        raise ConfigError(
                            f"Twitter stream at {url} refused the bearer token "
                            f"(HTTP {resp.status_code}); check {TOKEN_ENV}"
                        )
                    if resp.status_code != 200:
                        stats.retries_after_status[resp.status_code] += 1
                    else:
                        stats.connections += 1
                        buf = b""
                        try:
                            for chunk in resp.iter_bytes():
                                buf += chunk
                                *lines, buf = buf.split(b"\n")
                                for line in lines:
                                    line = line.rstrip(b"\r")
                                    if not line.strip():
                                        stats.keepalives += 1
                                        if stop is not None and stop.is_set():
                                            return
                                        continue
                                    got_data = True
                                    stats.lines += 1
                                    yield line
                                    if stop is not None and stop.is_set():
                                        return
                                if len(buf) > MAX_LINE_BYTES:
                                    stats.partial_lines += 1  # an endless line: skip it
                                    buf = b""
                        finally:
                            if buf.strip():
                                stats.partial_lines += 1
            except (httpx.TransportError, httpx.StreamError):
                pass
            stats.disconnects += 1
            if got_data:
                delay = backoff_s
            attempts += 1
            if max_reconnects is not None and attempts > max_reconnects:
                return
            if stop is not None and stop.is_set():
                return
            sleep(delay)
            delay = min(max_backoff_s, delay * 2)
    finally:
        if own:
            http.close()
