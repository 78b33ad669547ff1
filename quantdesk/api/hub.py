"""The WebSocket hub: reads the output topics of the bus and fans them out to clients.

The bus is the only seam between processing and serving. The hub opens a
tail reader (:meth:`quantdesk.bus.base.Bus.tail`: every partition of every
output topic, in no consumer group) and forwards what it reads, so every API
process sees the output of every processing member: ``quantdesk run``'s own
runtime over the in-process bus, or any number of ``quantdesk worker``
processes over Kafka. *Decision:* an assign-all reader rather than one
consumer group per API process: nothing to join (a group's first JoinGroup
takes seconds), nothing to rebalance, no offsets committed, nothing left on
the broker when a process goes away; a reader starts at the end of each
partition, since a dashboard wants what happens from now on.

The reader runs on a thread of its own; it hands each batch to the event
loop, which turns every message into its WebSocket JSON once and stores it
once in the feed of each channel that carries it. Clients read the feeds
through cursors, within a shared send budget (:mod:`quantdesk.api.fanout`
explains why and how); a slow client never slows the pipeline, another
client or HTTP. When the loop falls behind, the reader waits (at most
:data:`MAX_INFLIGHT` batches are handed over and not yet fanned out) and the
bus's retention drops what is too old.

Channels and the message types they carry (``{"type": ..., "data": ...}``):

================  =========================================================
channel           types
================  =========================================================
enhanced          bar, factor, signal, tweet, dead_letter, stream_metrics,
                  pipeline_status, prediction, risk_alert, order, fill, job,
                  and any type registered on the bus later
stream-metrics    stream_metrics (every second)
pipeline-status   pipeline_status (every second), job (each scheduled run as it starts
                  and ends: :mod:`quantdesk.jobs.events`)
ai-predictions    prediction
risk-alerts       risk_alert (the paper account's risk engine)
orders            order (every change of an order), fill
market            bar, factor, signal, tweet for the subscribed symbols/intervals
logs              log (server log records; admin only)
================  =========================================================

A message type registered on the bus after this module was written
(:func:`quantdesk.bus.codec.register_message`) reaches ``enhanced`` with its
bus fields as ``data``; a channel of its own is one line in :data:`CHANNELS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Final

import orjson

from quantdesk.api.fanout import Client, Entry, Feed, SendBudget, Socket, Symbols
from quantdesk.api.logbook import LogRecord
from quantdesk.bus import Bus, BusError, Message, Subscription
from quantdesk.domain import Bar, FactorValue, ScoredTweet, Signal

log = logging.getLogger("quantdesk.api.hub")

#: Types every channel but the filtered ones may carry; ``enhanced`` takes all types.
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
            "job",
        }
    ),
    "stream-metrics": frozenset({"stream_metrics"}),
    "pipeline-status": frozenset({"pipeline_status", "job"}),
    "ai-predictions": frozenset({"prediction"}),
    "risk-alerts": frozenset({"risk_alert"}),
    "orders": frozenset({"order", "fill"}),
    "market": frozenset({"bar", "factor", "signal", "tweet"}),
    "logs": frozenset({"log"}),
}
#: Bus types that are not output (never forwarded).
_NOT_OUTPUT: Final = frozenset({"trades", "book", "clock", "control"})
#: Wire type on the bus -> message type on the WebSocket, where they differ.
_WS_TYPE: Final = {"deadletter": "dead_letter"}
#: Channels that carry types nobody listed (new bus types): ``enhanced`` only.
_OPEN_CHANNELS: Final = ("enhanced",)
TICK_SECONDS: Final = 1.0
#: Batches handed to the loop and not yet fanned out before the reader waits.
MAX_INFLIGHT: Final = 4
#: After a hand-over the reader gathers for 0.5 ms plus 20 us per client, at most
#: 4 ms: each hand-over wakes every client of the channels it touches, so with many
#: clients fewer, larger batches cost the loop less; with few, a message waits less.
COALESCE_BASE_S: Final = 0.0005
COALESCE_PER_CLIENT_S: Final = 0.00002
COALESCE_MAX_S: Final = 0.004
#: Loop time one dispatch step may take before it yields to other callbacks.
DISPATCH_SLICE_S: Final = 0.002


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


Converted = tuple[str, str, Symbols, str | None, Hashable | None]


def convert(raw: bytes) -> Converted | None:
    """A bus payload -> (ws type, ws JSON text, symbols, interval, conflation key).

    ``None`` for what is not output or not valid (counted by the caller).
    The WebSocket forms keep the API's conventions (ISO 8601 UTC times).
    """
    doc = orjson.loads(raw)
    if type(doc) is not dict:
        raise ValueError("not a JSON object")
    kind = doc.get("type")
    if not isinstance(kind, str) or kind in _NOT_OUTPUT:
        return None
    key: Hashable | None = None
    interval: str | None = None
    symbols: Symbols = None
    if kind == "bar":
        symbols, interval, t = doc["symbol"], doc["interval"], doc["time"]
        data: dict[str, Any] = {
            "symbol": symbols,
            "interval": interval,
            "time": iso(t),
            "open": doc["open"],
            "high": doc["high"],
            "low": doc["low"],
            "close": doc["close"],
            "volume": doc["volume"],
            "vwap": doc["vwap"],
            "trades": doc["trades"],
            "final": doc["final"],
        }
        key = ("bar", symbols, interval, t)
    elif kind == "factor":
        symbols, interval, name = doc["symbol"], doc["interval"], doc["name"]
        data = {
            "symbol": symbols,
            "ts": iso(doc["ts"]),
            "name": name,
            "value": doc["value"],
            "interval": interval,
        }
        key = ("factor", symbols, name, interval)
    elif kind == "signal":
        symbols = doc["symbol"]
        data = {
            "symbol": symbols,
            "ts": iso(doc["ts"]),
            "factor": doc["factor"],
            "value": doc["value"],
            "side": doc["side"],
            "rule_id": doc["rule_id"],
        }
    elif kind == "tweet":
        symbols = tuple(doc["symbols"])
        data = {
            "id": doc["id"],
            "version_id": doc.get("version_id") or doc["id"],
            "time": iso(doc["time"]),
            "time_ms": doc["time"],
            "author_id": doc.get("author_id"),
            "text": doc["text"],
            "symbols": list(symbols),
            "score": doc["score"],
            "label": doc["label"],
            "source": doc["source"],
        }
    elif kind == "deadletter":
        data = {"reason": doc["reason"], "topic": doc["topic"], "error": doc.get("error", "")}
    else:  # a type registered later: its bus fields as they are
        data = {k: v for k, v in doc.items() if k not in ("v", "type")}
        symbol = doc.get("symbol")
        symbols = symbol if isinstance(symbol, str) else None
    ws_kind = _WS_TYPE.get(kind, kind)
    return ws_kind, orjson.dumps({"type": ws_kind, "data": data}).decode(), symbols, interval, key


class Hub:
    """The clients, the feeds, the budget, and the reader of the bus's output topics."""

    def __init__(
        self,
        queue_size: int = 1_000,
        queue_bytes: int = 2 << 20,
        *,
        budget: SendBudget | None = None,
    ) -> None:
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.feeds: dict[str, Feed] = {ch: Feed(queue_size, queue_bytes) for ch in CHANNELS}
        self.budget = budget or SendBudget()
        self.clients: set[Client] = set()
        self.by_channel: dict[str, set[Client]] = {ch: set() for ch in CHANNELS}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.published = 0
        self.connections = 0
        self.bars_closed = 0
        self.bad_messages = 0
        self._drops_gone = 0  # drops of clients that left
        #: () -> dict for the periodic stream_metrics / pipeline_status messages
        self.metrics_source: Callable[[], dict[str, Any]] | None = None
        self.status_source: Callable[[], dict[str, Any]] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._log_handler: HubLogHandler | None = None
        self._bus: Bus | None = None
        self._reader: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._inflight = 0
        self._inflight_lock = threading.Lock()

    @property
    def drops(self) -> int:
        return self._drops_gone + sum(c.drops for c in list(self.clients))

    @property
    def lost(self) -> int:
        """Output messages the reader never saw (the bus dropped them first)."""
        return self._reader.lost if self._reader is not None else 0

    # -- the bus (event-loop thread) ---------------------------------------------

    def connect(self, bus: Bus | None) -> None:
        """Read the output topics of ``bus`` once :meth:`start` runs (or a client comes)."""
        self._bus = bus

    def start(self) -> None:
        """Open the tail reader and its thread (idempotent; needs the running loop)."""
        self.loop = asyncio.get_running_loop()
        if self._bus is None or self._thread is not None:
            return
        self._stop.clear()
        self._reader = self._bus.tail(self._bus.topics.outputs())
        self._thread = threading.Thread(
            target=self._read, args=(self._reader, self.loop), name="hub-reader", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader (waits for its thread, at most a poll's timeout)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)
        reader, self._reader = self._reader, None
        if reader is not None and (thread is None or not thread.is_alive()):
            with contextlib.suppress(BusError):
                reader.close()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _read(self, reader: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        stop = self._stop
        while not stop.is_set():
            try:
                messages = reader.poll(5_000, timeout=0.25)
            except BusError as exc:
                if not stop.is_set():
                    log.warning("hub: reading the output topics stopped: %s", exc)
                return
            if not messages:
                continue
            with self._inflight_lock:
                self._inflight += 1
            try:
                loop.call_soon_threadsafe(self._dispatch, messages)
            except RuntimeError:  # the loop is closed: the server is gone
                return
            time.sleep(
                min(COALESCE_MAX_S, COALESCE_BASE_S + COALESCE_PER_CLIENT_S * len(self.clients))
            )
            while self._inflight >= MAX_INFLIGHT and not stop.is_set():
                time.sleep(0.005)

    def _dispatch(self, messages: list[Message], start: int = 0) -> None:
        """Fan a batch out, :data:`DISPATCH_SLICE_S` of loop time at a time."""
        if not self.clients:  # nobody to send to: only the closed-bar count
            self.bars_closed += sum(
                1
                for m in messages[start:]
                if b'"final":true' in m.value and b'"type":"bar"' in m.value
            )
            self._handed_over()
            return
        touched: set[str] = set()
        end = time.perf_counter() + DISPATCH_SLICE_S
        i = start
        n = len(messages)
        try:
            while i < n:
                m = messages[i]
                i += 1
                try:
                    converted = convert(m.value)
                except (ValueError, KeyError, TypeError):
                    self.bad_messages += 1
                    continue
                if converted is not None:
                    kind, text, symbols, interval, key = converted
                    if kind == "bar" and '"final":true' in text:
                        self.bars_closed += 1
                    self._put(kind, text, symbols, interval, key, touched)
                if i % 32 == 0 and time.perf_counter() > end:
                    break
            self._wake(touched)
        except Exception:  # never leave the reader waiting on a batch that failed
            log.exception("hub: fanning out a batch failed")
            i = n
        if i < n and self.loop is not None:  # the rest after whatever else is ready
            self.loop.call_soon(self._dispatch, messages, i)
        else:
            self._handed_over()

    def _handed_over(self) -> None:
        with self._inflight_lock:
            self._inflight -= 1

    def _put(
        self,
        kind: str,
        text: str,
        symbols: Symbols,
        interval: str | None,
        key: Hashable | None,
        touched: set[str],
    ) -> None:
        for channel, types in CHANNELS.items():
            if kind in types or (channel in _OPEN_CHANNELS and kind not in _KNOWN):
                if not self.by_channel[channel]:
                    continue
                # one entry per feed: each feed numbers its entries
                self.feeds[channel].put(Entry(kind, text, symbols, interval), key)
                touched.add(channel)
        self.published += 1

    def _wake(self, channels: set[str]) -> None:
        for channel in channels:
            for client in self.by_channel[channel]:
                client.wake.set()

    # -- clients (event-loop thread) ----------------------------------------------

    def attach(self, ws: Socket, channel: str, user: str = "") -> Client:
        self.start()
        client = Client(ws, channel, CHANNELS[channel], self.feeds[channel], self.budget, user)
        self.clients.add(client)
        self.by_channel[channel].add(client)
        self.connections += 1
        if self._ticker is None or self._ticker.done():
            assert self.loop is not None
            self._ticker = self.loop.create_task(self._tick(), name="hub-ticker")
        if channel == "logs" and self._log_handler is None:
            self._log_handler = HubLogHandler(self)
            logging.getLogger("quantdesk").addHandler(self._log_handler)
        return client

    def detach(self, client: Client) -> None:
        if client in self.clients:
            self._drops_gone += client.drops
        self.clients.discard(client)
        self.by_channel[client.channel].discard(client)
        if self._log_handler is not None and not self.by_channel["logs"]:
            logging.getLogger("quantdesk").removeHandler(self._log_handler)
            self._log_handler = None
        if not self.clients and self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def counts(self) -> dict[str, int]:
        return {channel: len(clients) for channel, clients in self.by_channel.items()}

    # -- server-side messages (any thread) ----------------------------------------

    def publish(
        self, kind: str, data: Any, symbol: str | None = None, interval: str | None = None
    ) -> None:
        """Publish one message of ``kind`` made in this process (logs), from any thread."""
        loop = self.loop
        if loop is None or not self.clients or loop.is_closed():
            return
        text = orjson.dumps({"type": kind, "data": data}, option=orjson.OPT_SERIALIZE_NUMPY)
        with contextlib.suppress(RuntimeError):  # loop closed meanwhile
            loop.call_soon_threadsafe(self._publish_local, kind, text.decode(), symbol, interval)

    def _publish_local(
        self, kind: str, text: str, symbol: str | None, interval: str | None
    ) -> None:
        touched: set[str] = set()
        key = (kind,) if kind in ("stream_metrics", "pipeline_status") else None
        self._put(kind, text, symbol, interval, key, touched)
        self._wake(touched)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                for kind, source, channel in (
                    ("stream_metrics", self.metrics_source, "stream-metrics"),
                    ("pipeline_status", self.status_source, "pipeline-status"),
                ):
                    if source is None:
                        continue
                    if not (self.by_channel[channel] or self.by_channel["enhanced"]):
                        continue
                    text = orjson.dumps({"type": kind, "data": source()}).decode()
                    self._publish_local(kind, text, None, None)
            except Exception:  # a failing source must not kill the ticker
                log.debug("hub tick failed", exc_info=True)


_KNOWN: Final = frozenset(t for types in CHANNELS.values() for t in types)


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
