"""A fake Finnhub on 127.0.0.1: a WebSocket server and a REST ``/stock/candle`` server.

The WebSocket server generates trades continuously on a simulated clock (the
ground truth, kept whether or not anybody is connected), sends them to every
connection that subscribed their symbol, sends pings, and can be told to
drop every connection abruptly, stall (stay open and send nothing), or send
raw frames (garbage, errors). The REST server answers candles computed from
the same ground truth, in Finnhub's shape, and can be scripted to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

_quiet = logging.getLogger("tests.fake_finnhub")
_quiet.propagate = False  # the fake's own logs (with the token in paths) stay out of caplog
_quiet.addHandler(logging.NullHandler())


class SimClock:
    """Simulated epoch ms running ``speed`` times faster than wall time."""

    def __init__(self, start_ms: int, speed: float = 60.0) -> None:
        self.start_ms = start_ms
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> int:
        return self.start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def restart(self) -> None:
        """Back to ``start_ms``, now (a slow set-up must not eat simulated minutes)."""
        self._t0 = time.monotonic()


@dataclass
class _Conn:
    ws: ServerConnection
    symbols: list[str] = field(default_factory=list)
    stalled: bool = False


class FakeFinnhub:
    """The fake WebSocket side plus the ground truth."""

    def __init__(
        self,
        clock: SimClock,
        symbols: list[str],
        token: str,
        *,
        trade_every_ms: int = 500,
        tick_seconds: float = 0.02,
        ping_seconds: float = 0.25,
        seed: int = 7,
    ) -> None:
        self.clock = clock
        self.symbols = symbols
        self.token = token
        self.trade_every_ms = trade_every_ms
        self.tick_seconds = tick_seconds
        self.ping_seconds = ping_seconds
        self.rng = random.Random(seed)
        self.truth: list[tuple[str, int, float, float]] = []
        self.lock = threading.Lock()
        self.conns: list[_Conn] = []
        self.subscriptions: list[list[str]] = []  # per connection, in order
        self.rejected = 0
        self.generating = True
        self._prices = {s: 100.0 + 10 * i for i, s in enumerate(symbols)}
        self._next_ts = clock()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_token,
            logger=_quiet,
            ping_interval=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = sock.getsockname()[1]
        self._tasks = [
            asyncio.create_task(self._generate()),
            asyncio.create_task(self._pings()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- controls ----------------------------------------------------------

    def pause(self) -> None:
        """Generate no trades until :meth:`resume` (the truth keeps no gap either)."""
        self.generating = False

    def resume(self) -> None:
        """Generate again from the clock's now."""
        self._next_ts = self.clock()
        self.generating = True

    def drop_all(self) -> None:
        """Abruptly kill every connection (no close frame)."""
        for c in list(self.conns):
            transport = c.ws.transport
            if transport is not None:
                transport.abort()

    def stall_all(self) -> None:
        """Current connections stay open and receive nothing more (not even pings)."""
        for c in self.conns:
            c.stalled = True

    async def send_raw(self, text: str) -> None:
        for c in list(self.conns):
            if not c.stalled:
                with contextlib.suppress(Exception):
                    await c.ws.send(text)

    # -- server --------------------------------------------------------------

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        token = parse_qs(urlparse(request.path).query).get("token", [""])[0]
        if token != self.token:
            self.rejected += 1
            return connection.respond(401, "invalid token\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = _Conn(ws)
        self.conns.append(conn)
        self.subscriptions.append(conn.symbols)
        try:
            async for msg in ws:
                obj = json.loads(msg)
                if obj.get("type") == "subscribe":
                    conn.symbols.append(obj["symbol"])
        except Exception:
            pass
        finally:
            self.conns.remove(conn)

    async def _generate(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            now = self.clock()
            if not self.generating:
                self._next_ts = now
                continue
            batch: list[tuple[str, int, float, float]] = []
            while self._next_ts <= now:
                t = self._next_ts
                for s in self.symbols:
                    p = round(self._prices[s] * (1 + self.rng.gauss(0, 0.001)), 4)
                    self._prices[s] = p
                    batch.append((s, t, p, float(self.rng.randint(1, 100))))
                self._next_ts += self.trade_every_ms
            if not batch:
                continue
            with self.lock:
                self.truth.extend(batch)
            for c in list(self.conns):
                if c.stalled:
                    continue
                data: list[dict[str, Any]] = []
                for s, t, p, v in batch:
                    if s in c.symbols:
                        item: dict[str, Any] = {"s": s, "p": p, "v": v, "t": t}
                        r = self.rng.random()
                        if r < 0.3:
                            item["c"] = ["1", "12"]
                        elif r < 0.6:
                            item["c"] = None
                        data.append(item)
                if data:
                    with contextlib.suppress(Exception):
                        await c.ws.send(json.dumps({"type": "trade", "data": data}))

    async def _pings(self) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            await self.send_raw('{"type":"ping"}')

    # -- ground truth ------------------------------------------------------------

    def candles(self, symbol: str, from_s: int, to_s: int) -> dict[str, Any]:
        """Finnhub's answer for 1m candles with ``from_s <= t <= to_s`` (seconds)."""
        with self.lock:
            rows = [r for r in self.truth if r[0] == symbol]
        minutes: dict[int, list[tuple[float, float]]] = {}
        for _, t, p, v in rows:
            m = t // 60_000 * 60
            if from_s <= m <= to_s:
                minutes.setdefault(m, []).append((p, v))
        if not minutes:
            return {"s": "no_data"}
        out: dict[str, Any] = {"c": [], "h": [], "l": [], "o": [], "s": "ok", "t": [], "v": []}
        for m in sorted(minutes):
            trades = minutes[m]
            prices = [p for p, _ in trades]
            out["t"].append(m)
            out["o"].append(prices[0])
            out["h"].append(max(prices))
            out["l"].append(min(prices))
            out["c"].append(prices[-1])
            out["v"].append(sum(v for _, v in trades))
        return out

    def minute_volumes(self, symbol: str, start_ms: int, end_ms: int) -> dict[int, float]:
        with self.lock:
            rows = [r for r in self.truth if r[0] == symbol and start_ms <= r[1] < end_ms]
        out: dict[int, float] = {}
        for _, t, _, v in rows:
            m = t // 60_000 * 60_000
            out[m] = out.get(m, 0.0) + v
        return out


class FakeRest:
    """``GET /stock/candle`` from a :class:`FakeFinnhub`'s ground truth; scriptable failures."""

    def __init__(self, fake: FakeFinnhub | None, token: str) -> None:
        self.fake = fake
        self.token = token
        #: next answers to give instead of the truth: (status, body, headers)
        self.script: list[tuple[int, str, dict[str, str]]] = []
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.requests.append(q)
                if url.path != "/api/v1/stock/candle":
                    return self._send(404, '{"error":"not found"}', {})
                if q.get("token") != outer.token:
                    return self._send(401, '{"error":"Invalid API key"}', {})
                if outer.script:
                    return self._send(*outer.script.pop(0))
                assert outer.fake is not None
                body = outer.fake.candles(q["symbol"], int(q["from"]), int(q["to"]))
                self._send(200, json.dumps(body), {})

            def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def __enter__(self) -> FakeRest:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def rest_server(fake: FakeFinnhub | None, token: str) -> Iterator[FakeRest]:
    with FakeRest(fake, token) as rest:
        yield rest
