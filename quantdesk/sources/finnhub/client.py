"""The Finnhub WebSocket loop: connect, subscribe, receive, detect silence, reconnect.

:class:`FinnhubClient` owns no market logic; it reports to a
:class:`StreamHandler` (the source): ``on_connected`` once every symbol is
subscribed on a new connection, ``on_frame`` for every frame received,
``on_trades`` for every trade frame, ``on_disconnected`` when a connection
ends for any reason (closed by the server, dropped, or declared dead after
``silence`` seconds without a trade or a ping).

Reconnects wait ``min(backoff_max, backoff_base * 2**n)`` seconds with
"equal jitter" (half of it fixed, half uniform random), where ``n`` counts
failed attempts since the last healthy connection (one that received a
trade or a ping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from quantdesk.sources.finnhub.protocol import (
    Bad,
    Ping,
    ServerError,
    Trades,
    parse_frame,
    subscribe_message,
)

log = logging.getLogger("quantdesk.sources.finnhub")
#: Handed to the websockets library (its connection log); filtered like ours.
wire_log = logging.getLogger("quantdesk.sources.finnhub.wire")

#: Loggers that could see a URL with the token; :class:`RedactFilter` guards them.
GUARDED_LOGGERS = (
    "quantdesk.sources.finnhub",
    "quantdesk.sources.finnhub.wire",
    "quantdesk.sources.finnhub.candles",
    "websockets",
    "websockets.client",
    "httpx",
)


class RedactFilter(logging.Filter):
    """Replace a secret in every record of a logger with ``***``."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        msg = record.getMessage()
        if self.secret in msg:
            record.msg = msg.replace(self.secret, "***")
            record.args = None
        return True


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential back-off with equal jitter: in ``[d/2, d]``, ``d = min(cap, base * 2**n)``."""
    d = min(cap, base * (2.0 ** min(attempt, 62)))
    return d / 2 + rng.uniform(0, d / 2)


class StreamHandler(Protocol):
    async def on_connected(self) -> None: ...
    async def on_disconnected(self, reason: str) -> None: ...
    async def on_frame(self) -> None: ...
    async def on_trades(self, trades: Trades) -> None: ...


@dataclass(slots=True)
class ClientStats:
    connects: int = 0
    connect_failures: int = 0
    disconnects: Counter[str] = field(default_factory=Counter)
    subscriptions_sent: int = 0
    frames: int = 0
    trade_frames: int = 0
    pings: int = 0
    server_errors: int = 0
    bad_frames: Counter[str] = field(default_factory=Counter)
    bad_entries: int = 0


class FinnhubClient:
    """One logical Finnhub stream over successive WebSocket connections."""

    def __init__(
        self,
        ws_url: str,
        token: str,
        symbols: list[str],
        handler: StreamHandler,
        *,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        silence: float = 30.0,
        open_timeout: float = 10.0,
        gate: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        sep = "&" if "?" in ws_url else "?"
        self._url = f"{ws_url}{sep}token={token}" if token else ws_url
        self._token = token
        self.symbols = list(symbols)
        self.handler = handler
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.silence = silence
        self.open_timeout = open_timeout
        #: seconds until the market opens (0 = open); None = always connect
        self.gate = gate
        self.rng = rng or random.Random()
        self.stats = ClientStats()
        self.connected = False

    async def run(self, stop: asyncio.Event) -> None:
        """Connect and reconnect until ``stop`` is set."""
        attempt = 0
        while not stop.is_set():
            if self.gate is not None:
                wait = self.gate()
                if wait > 0:
                    log.info("finnhub: market closed, connecting in %.0f s", wait)
                    await _wait(stop, min(wait, 60.0))
                    continue
            healthy = await self._session(stop)
            if stop.is_set():
                break
            attempt = 0 if healthy else attempt + 1
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, self.rng)
            log.info("finnhub: reconnecting in %.2f s", delay)
            await _wait(stop, delay)

    async def _session(self, stop: asyncio.Event) -> bool:
        """One connection; True if it was healthy (a trade or a ping came)."""
        healthy = False
        subscribed = False
        reason = "closed"
        try:
            async with connect(
                self._url,
                logger=wire_log,
                open_timeout=self.open_timeout,
                proxy=None,
                max_size=2**24,
            ) as ws:
                self.stats.connects += 1
                for symbol in self.symbols:
                    await ws.send(subscribe_message(symbol))
                self.stats.subscriptions_sent += len(self.symbols)
                subscribed = self.connected = True
                await self.handler.on_connected()
                log.info("finnhub: connected, %d symbols subscribed", len(self.symbols))
                reason, healthy = await self._receive(ws, stop)
        except (OSError, TimeoutError, WebSocketException) as exc:
            if not subscribed:
                self.stats.connect_failures += 1
            reason = "dropped" if subscribed else "connect_failed"
            log.warning("finnhub: connection %s (%s)", reason, redact(_describe(exc), self._token))
        finally:
            self.connected = False
            if subscribed:
                self.stats.disconnects[reason] += 1
                await self.handler.on_disconnected(reason)
        return healthy

    async def _receive(self, ws: ClientConnection, stop: asyncio.Event) -> tuple[str, bool]:
        healthy = False
        alive_at = time.monotonic()
        while not stop.is_set():
            if self.gate is not None and self.gate() > 0:
                await ws.close()
                return "market_closed", healthy
            remaining = self.silence - (time.monotonic() - alive_at)
            if remaining <= 0:
                log.warning("finnhub: no trade or ping for %.1f s, reconnecting", self.silence)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)
                return "silent", healthy
            try:
                raw = await asyncio.wait_for(ws.recv(), min(remaining, 0.25))
            except TimeoutError:
                continue
            self.stats.frames += 1
            await self.handler.on_frame()
            frame = parse_frame(raw)
            if isinstance(frame, Trades):
                self.stats.trade_frames += 1
                self.stats.bad_entries += frame.bad_entries
                alive_at = time.monotonic()
                healthy = True
                await self.handler.on_trades(frame)
            elif isinstance(frame, Ping):
                self.stats.pings += 1
                alive_at = time.monotonic()
                healthy = True
            elif isinstance(frame, ServerError):
                self.stats.server_errors += 1
                log.warning("finnhub: server error: %s", redact(frame.msg, self._token))
            else:
                assert isinstance(frame, Bad)
                self.stats.bad_frames[frame.reason] += 1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 1.0)
        return "stopped", healthy


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
