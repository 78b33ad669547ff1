"""The WebSocket hub: fans the pipeline's output out to connected clients.

Publishing never blocks the publisher. The runtime thread calls
:meth:`Hub.publish_output` (or :meth:`Hub.publish`), which only schedules the
fan-out on the event loop with ``loop.call_soon_threadsafe``; the loop turns
each item into JSON once and appends it to every interested client's queue.
A queue is a ``deque`` bounded at ``queue_size`` messages: when a client
reads too slowly the *oldest* messages are dropped and counted
(:attr:`Client.drops`, :attr:`Hub.drops`); each client has its own sender
task, so one slow socket delays nobody else.

Channels and the message types they carry (``{"type": ..., "data": ...}``):

================  =========================================================
channel           types
================  =========================================================
enhanced          bar, factor, signal, tweet, dead_letter, stream_metrics,
                  pipeline_status, prediction, risk_alert, order, fill
stream-metrics    stream_metrics (every second)
pipeline-status   pipeline_status (every second)
ai-predictions    prediction (none until models exist)
risk-alerts       risk_alert (the paper account's risk engine)
orders            order (every change of an order), fill
market            bar, factor, signal, tweet for the subscribed symbols/intervals
logs              log (server log records; admin only)
================  =========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import orjson

from quantdesk.api.logbook import LogRecord
from quantdesk.domain import Bar, FactorValue, ScoredTweet, Signal

log = logging.getLogger("quantdesk.api.hub")

CHANNELS: Final[dict[str, frozenset[str]]] = {
    "enhanced": frozenset(
        {
            "bar",
            "factor",
            "signal",
            "tweet",
            "dead_letter",
            "stream_metrics",
            "pipeline_status",
            "prediction",
            "risk_alert",
            "order",
            "fill",
        }
    ),
    "stream-metrics": frozenset({"stream_metrics"}),
    "pipeline-status": frozenset({"pipeline_status"}),
    "ai-predictions": frozenset({"prediction"}),
    "risk-alerts": frozenset({"risk_alert"}),
    "orders": frozenset({"order", "fill"}),
    "market": frozenset({"bar", "factor", "signal", "tweet"}),
    "logs": frozenset({"log"}),
}
#: Types that carry a symbol (and maybe an interval): the market channel filters these.
_FILTERED: Final = frozenset({"bar", "factor", "signal", "tweet"})
TICK_SECONDS: Final = 1.0
#: The symbol(s) a message is about: one, several (a tweet) or none.
Symbols = str | tuple[str, ...] | None


class Socket(Protocol):
    """What a client needs of a WebSocket (Starlette's fits)."""

    async def send_text(self, data: str) -> None: ...


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def bar_data(b: Bar) -> dict[str, Any]:
    return {
        "symbol": b.symbol,
        "interval": b.interval,
        "time": iso(b.time),
        "open": b.open,
        "high": b.high,
        "low": b.low,
        "close": b.close,
        "volume": b.volume,
        "vwap": b.vwap,
        "trades": b.trades,
        "final": b.final,
    }


def factor_data(f: FactorValue) -> dict[str, Any]:
    value = f.value if f.value == f.value and abs(f.value) != float("inf") else None
    return {
        "symbol": f.symbol,
        "ts": iso(f.ts),
        "name": f.name,
        "value": value,
        "interval": f.interval,
    }


def tweet_data(t: ScoredTweet) -> dict[str, Any]:
    """A scored tweet as an API row (``/api/tweets``) and as a ``tweet`` message."""
    return {
        "id": t.id,
        "version_id": t.version_id or t.id,
        "time": iso(t.time),
        "time_ms": t.time,
        "author_id": t.author_id,
        "text": t.text,
        "symbols": list(t.symbols),
        "score": t.score,
        "label": t.label,
        "source": t.source,
    }


def signal_data(s: Signal) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "ts": iso(s.ts),
        "factor": s.factor,
        "value": s.value,
        "side": s.side,
        "rule_id": s.rule_id,
    }


class Client:
    """One connected socket: a channel, an optional subscription, a bounded queue."""

    def __init__(self, ws: Socket, channel: str, queue_size: int, user: str = "") -> None:
        self.ws = ws
        self.channel = channel
        self.types = CHANNELS[channel]
        self.user = user
        self.queue: deque[str] = deque(maxlen=queue_size)
        self.wake = asyncio.Event()
        self.drops = 0
        self.sent = 0
        #: market channel: None = nothing subscribed yet
        self.symbols: frozenset[str] | None = None
        self.intervals: frozenset[str] | None = None
        self.hub: Hub | None = None

    def wants(self, kind: str, symbol: Symbols, interval: str | None) -> bool:
        if kind not in self.types:
            return False
        if self.channel != "market" or kind not in _FILTERED:
            return True
        if self.symbols is None:
            return False
        if "*" not in self.symbols:
            # a tweet names several symbols: any one subscribed will do
            named = symbol if isinstance(symbol, tuple) else (symbol,)
            if self.symbols.isdisjoint(named):
                return False
        # factors of the order book have interval "" and pass any interval filter
        return not interval or not self.intervals or interval in self.intervals

    def push(self, text: str) -> None:
        """Queue a message (event-loop thread); drop the oldest when full."""
        if len(self.queue) == self.queue.maxlen:
            self.drops += 1
            if self.hub is not None:
                self.hub.drops += 1
        self.queue.append(text)
        self.wake.set()

    async def run_sender(self) -> None:
        """Send queued messages until the socket fails or the task is cancelled."""
        queue = self.queue
        while True:
            await self.wake.wait()
            self.wake.clear()
            while queue:
                await self.ws.send_text(queue.popleft())
                self.sent += 1


Item = tuple[str, Symbols, str | None, Any]


class Hub:
    """Registry of clients plus the thread-safe publish path."""

    def __init__(self, queue_size: int = 1_000) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.drops = 0
        self.published = 0
        self.connections = 0
        self.bars_closed = 0
        self._ticker: asyncio.Task[None] | None = None
        #: () -> dict for the periodic stream_metrics / pipeline_status messages
        self.metrics_source: Callable[[], dict[str, Any]] | None = None
        self.status_source: Callable[[], dict[str, Any]] | None = None
        self._log_handler: HubLogHandler | None = None
        self._lock = threading.Lock()

    # -- clients (event-loop thread) --------------------------------------------

    def attach(self, ws: Socket, channel: str, user: str = "") -> Client:
        self.loop = asyncio.get_running_loop()
        client = Client(ws, channel, self.queue_size, user)
        client.hub = self
        self.clients.add(client)
        self.connections += 1
        if self._ticker is None or self._ticker.done():
            self._ticker = self.loop.create_task(self._tick(), name="hub-ticker")
        if channel == "logs" and self._log_handler is None:
            self._log_handler = HubLogHandler(self)
            logging.getLogger("quantdesk").addHandler(self._log_handler)
        return client

    def detach(self, client: Client) -> None:
        self.clients.discard(client)
        if self._log_handler is not None and not any(c.channel == "logs" for c in self.clients):
            logging.getLogger("quantdesk").removeHandler(self._log_handler)
            self._log_handler = None
        if not self.clients and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        for c in list(self.clients):
            out[c.channel] += 1
        return out

    # -- publishing (any thread, never blocks) ----------------------------------

    def publish_output(self, out: Any) -> None:
        """Hand a pipeline :class:`~quantdesk.runtime.pipeline.Output` to the clients."""
        if out.bars:
            self.bars_closed += sum(1 for b in out.bars if b.final)
        loop = self.loop
        if loop is None or not self.clients or loop.is_closed():
            return
        if not (out.bars or out.factors or out.signals or out.dead or out.tweets):
            return
        with contextlib.suppress(RuntimeError):  # loop closed meanwhile
            loop.call_soon_threadsafe(self._fanout_output, out)

    def publish(
        self, kind: str, data: Any, symbol: str | None = None, interval: str | None = None
    ) -> None:
        """Publish one message of ``kind`` from any thread."""
        loop = self.loop
        if loop is None or not self.clients or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._fanout, [(kind, symbol, interval, data)])

    # -- fan-out (event-loop thread) ---------------------------------------------

    def _fanout_output(self, out: Any) -> None:
        items: list[Item] = []
        items.extend(("bar", b.symbol, b.interval, b) for b in out.bars)
        items.extend(("factor", f.symbol, f.interval, f) for f in out.factors)
        items.extend(("signal", s.symbol, None, s) for s in out.signals)
        items.extend(("tweet", tuple(t.symbols), None, t) for t in out.tweets)
        items.extend(("dead_letter", None, None, d) for d in out.dead)
        self._fanout(items)

    def _fanout(self, items: Iterable[Item]) -> None:
        clients = list(self.clients)
        if not clients:
            return
        for kind, symbol, interval, obj in items:
            text: str | None = None
            for client in clients:
                if not client.wants(kind, symbol, interval):
                    continue
                if text is None:
                    text = _encode(kind, obj)
                client.push(text)
            self.published += 1

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                kinds = {t for c in self.clients for t in c.types}
                if "stream_metrics" in kinds and self.metrics_source is not None:
                    self._fanout([("stream_metrics", None, None, self.metrics_source())])
                if "pipeline_status" in kinds and self.status_source is not None:
                    self._fanout([("pipeline_status", None, None, self.status_source())])
            except Exception:  # a failing source must not kill the ticker
                log.debug("hub tick failed", exc_info=True)


def _encode(kind: str, obj: Any) -> str:
    if isinstance(obj, Bar):
        data: Any = bar_data(obj)
    elif isinstance(obj, FactorValue):
        data = factor_data(obj)
    elif isinstance(obj, Signal):
        data = signal_data(obj)
    elif isinstance(obj, ScoredTweet):
        data = tweet_data(obj)
    elif kind == "dead_letter":
        data = {"reason": obj.reason, "topic": obj.topic, "error": obj.error}
    else:
        data = obj
    return orjson.dumps({"type": kind, "data": data}, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class HubLogHandler(logging.Handler):
    """Feeds ``quantdesk.*`` log records to the ``logs`` channel (seed B's live logs)."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(logging.INFO)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("quantdesk.api.hub"):
            return  # never feed the hub's own records back into it
        try:
            self.hub.publish("log", LogRecord.of(record).data())
        except Exception:
            self.handleError(record)


def now_ms() -> int:
    return int(time.time() * 1000)
