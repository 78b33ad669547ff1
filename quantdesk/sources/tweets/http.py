"""``QUANTDESK_TWEETS=http``: the Twitter API v2 filtered stream, live (source ``twitter``).

A daemon reader thread runs :func:`~quantdesk.sources.tweets.readers.stream_http`
(bearer token from ``QUANTDESK_TWITTER_BEARER_TOKEN``, base URL from
``QUANTDESK_TWITTER_BASE_URL``; it reconnects with back-off after a drop) and
puts each line into a bounded queue; when the queue is full the reader waits
(back-pressure; Twitter drops a client that stays behind, and the reader
reconnects). Each step drains what has arrived and parses it; tweets keep
their ``created_at``, whatever the runtime's clock says.

:meth:`HttpFeed.close` sets the reader's stop event and waits at most
:data:`JOIN_SECONDS`: the reader ends at the next line or keep-alive (Twitter
sends one every 20 s), or at once while it waits to reconnect; being a daemon,
it never holds the process. A rejected token (HTTP 401/403) ends the reader;
the next step raises its :class:`~quantdesk.errors.ConfigError`.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Final

from quantdesk.errors import QuantdeskError
from quantdesk.sentiment.tweets import Tweet
from quantdesk.sources.base import SourceContext, no_argument
from quantdesk.sources.tweets.base import MAX_PER_STEP, TweetFeed
from quantdesk.sources.tweets.readers import StreamStats, bearer_token, stream_http, stream_url

log = logging.getLogger("quantdesk.runtime.tweets")

#: Lines the reader may queue before it waits for the runtime.
QUEUE_SIZE: Final = 10_000
#: How long :meth:`HttpFeed.close` waits for the reader thread.
JOIN_SECONDS: Final = 1.0
#: How often a reader waiting on a full queue checks its stop event.
_PUT_WAIT_S: Final = 0.2


class HttpFeed(TweetFeed):
    """The live filtered stream, read by a background thread, drained by each step."""

    name = "http"
    origin = "twitter"

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str | None = None,
        queue_size: int = QUEUE_SIZE,
        backoff_s: float = 1.0,
    ) -> None:
        super().__init__()
        token = bearer_token(token)  # no token: fail at start, not in the thread
        self.url = stream_url(base_url)
        self.stream_stats = StreamStats()
        self._queue: queue.Queue[bytes] = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(
            target=self._read_stream,
            args=(token, base_url, backoff_s),
            name="quantdesk-twitter-stream",
            daemon=True,
        )
        self._thread.start()

    @classmethod
    def open(cls, arg: str, ctx: SourceContext) -> HttpFeed:
        no_argument(cls.name, arg, "QUANTDESK_TWEETS")
        if ctx.virtual_clock:
            ctx.echo(
                "Tweets: real tweets are stamped in real time while the simulated market runs "
                "on a virtual clock, so their sentiment and signals will not line up with the "
                "simulated prices; use --clock wall to run both in real time"
            )
        return cls()

    def describe(self) -> str:
        return f"Twitter filtered stream at {self.url}"

    @property
    def reading(self) -> bool:
        """Whether the reader thread is still alive."""
        return self._thread.is_alive()

    def _read_stream(self, token: str, base_url: str | None, backoff_s: float) -> None:
        stop = self._stop

        def wait(seconds: float) -> None:  # a back-off that ends at once on stop
            stop.wait(seconds)

        try:
            for line in stream_http(
                base_url=base_url,
                token=token,
                stats=self.stream_stats,
                stop=stop,
                backoff_s=backoff_s,
                sleep=wait,
            ):
                while not stop.is_set():
                    try:
                        self._queue.put(line, timeout=_PUT_WAIT_S)
                        break
                    except queue.Full:
                        continue
        except Exception as exc:  # handed to the runtime by the next step
            self._error = exc

    def arrived(self, until: int) -> list[Tweet]:
        error, self._error = self._error, None
        if isinstance(error, QuantdeskError):
            raise error
        if error is not None:
            raise QuantdeskError(
                f"the Twitter stream reader ({self.url}) stopped: {type(error).__name__}: {error}"
            ) from error
        batch: list[Tweet] = []
        while len(batch) < MAX_PER_STEP:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            tweet = self.read(line)
            if tweet is not None:
                batch.append(tweet)
        return batch

    def close(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_SECONDS)
        if self._thread.is_alive():
            log.info("the Twitter stream reader ends at its next line or keep-alive")
