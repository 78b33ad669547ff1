"""A local server that speaks Alpaca's trading protocol, on 127.0.0.1.

REST (``/v2/account``, ``/v2/positions``, ``/v2/orders`` ..., the FILL
activities, the latest quote of the data API) on one port, and the
``trade_updates`` WebSocket (auth, listen, binary frames) on another. A market
order fills at once at the symbol's price (an order over 100 shares in two
executions: a partial fill of 100, then the rest); a marketable limit order
too, other limit orders rest until cancelled. It can drop every stream
connection and refuse new ones for a while (to test the reconnect catch-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import Server, ServerConnection, serve


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


class FakeAlpaca:
    def __init__(self, key: str = "key-1", secret: str = "secret-1", cash: str = "100000") -> None:
        self.key, self.secret = key, secret
        self.cash = Decimal(cash)
        self.prices = {"AAPL": Decimal("190.00"), "MSFT": Decimal("420.00")}
        self.positions: dict[str, list[Decimal]] = {}  # symbol -> [qty, cost]
        self.orders: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.refuse_streams = False
        self._conns: set[ServerConnection] = set()
        self._seq = itertools.count(1)
        self.loop = asyncio.new_event_loop()
        self._ws_server: Server | None = None
        started = threading.Event()

        def run_loop() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                self._ws_server = await serve(self._stream, "127.0.0.1", 0)
                started.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self._loop_thread = threading.Thread(target=run_loop, daemon=True)
        self._loop_thread.start()
        started.wait(5)
        assert self._ws_server is not None
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _authorized(self) -> bool:
                ok = (
                    self.headers.get("APCA-API-KEY-ID") == fake.key
                    and self.headers.get("APCA-API-SECRET-KEY") == fake.secret
                )
                if not ok:
                    self._answer(401, {"message": "unauthorized."})
                return ok

            def do_GET(self) -> None:
                if self._authorized():
                    self._answer(*fake.get(self.path))

            def do_POST(self) -> None:
                if self._authorized():
                    n = int(self.headers.get("Content-Length", 0))
                    self._answer(*fake.post(self.path, json.loads(self.rfile.read(n) or b"{}")))

            def do_DELETE(self) -> None:
                if self._authorized():
                    self._answer(*fake.delete(self.path))

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http_port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/stream"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

        async def stop() -> None:
            assert self._ws_server is not None
            self._ws_server.close()
            await self._ws_server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)

    # -- the stream ---------------------------------------------------------------------

    async def _stream(self, ws: ServerConnection) -> None:
        if self.refuse_streams:
            await ws.close()
            return
        msg = json.loads(await ws.recv())
        ok = msg.get("action") == "auth" and msg.get("key") == self.key
        ok = ok and msg.get("secret") == self.secret
        status = "authorized" if ok else "unauthorized"
        reply = {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}
        await ws.send(json.dumps(reply).encode())
        if not ok:
            await ws.close()
            return
        listen = json.loads(await ws.recv())
        streams = listen.get("data", {}).get("streams", [])
        await ws.send(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
        self._conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self._conns.discard(ws)

    def _publish(self, data: dict[str, Any]) -> None:
        raw = json.dumps({"stream": "trade_updates", "data": data}).encode()

        async def send() -> None:
            for ws in list(self._conns):
                with contextlib.suppress(Exception):
                    await ws.send(raw)

        asyncio.run_coroutine_threadsafe(send(), self.loop)

    def drop_streams(self, refuse: bool = True) -> None:
        self.refuse_streams = refuse

        async def drop() -> None:
            for ws in list(self._conns):
                await ws.close()

        asyncio.run_coroutine_threadsafe(drop(), self.loop).result(5)

    # -- REST ---------------------------------------------------------------------------

    def _account(self) -> dict[str, Any]:
        mv = sum((q * self.prices[s] for s, (q, _) in self.positions.items()), Decimal(0))
        held = sum(
            (
                Decimal(o["qty"]) * Decimal(o["limit_price"])
                for o in self.orders.values()
                if o["status"] == "new" and o["side"] == "buy" and o["limit_price"]
            ),
            Decimal(0),
        )
        bp = self.cash - held
        return {
            "id": "acct-1",
            "status": "ACTIVE",
            "currency": "USD",
            "cash": str(self.cash),
            "equity": str(self.cash + mv),
            "long_market_value": str(mv),
            "buying_power": str(bp),
            "non_marginable_buying_power": str(bp),
        }

    def get(self, path: str) -> tuple[int, Any]:
        url = urlparse(path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            if url.path == "/v2/account":
                return 200, self._account()
            if url.path == "/v2/positions":
                return 200, [
                    {
                        "symbol": s,
                        "qty": str(qty),
                        "qty_available": str(qty),
                        "avg_entry_price": str((cost / qty).quantize(Decimal("0.0001"))),
                        "current_price": str(self.prices[s]),
                        "unrealized_pl": str(qty * self.prices[s] - cost),
                        "side": "long",
                    }
                    for s, (qty, cost) in sorted(self.positions.items())
                    if qty
                ]
            if url.path == "/v2/orders":
                status = q.get("status", "open")
                out = [
                    o
                    for o in self.orders.values()
                    if status == "all" or (status == "open") == (o["status"] == "new")
                ]
                return 200, out
            if url.path == "/v2/orders:by_client_order_id":
                for o in self.orders.values():
                    if o["client_order_id"] == q.get("client_order_id"):
                        return 200, o
                return 404, {"message": "order not found"}
            if url.path.startswith("/v2/orders/"):
                o = self.orders.get(url.path.rsplit("/", 1)[1])
                return (200, o) if o else (404, {"message": "order not found"})
            if url.path == "/v2/account/activities/FILL":
                return 200, list(self.activities)
            if url.path.startswith("/v2/stocks/") and url.path.endswith("/quotes/latest"):
                sym = url.path.split("/")[3]
                if sym not in self.prices:
                    return 404, {"message": "not found"}
                p = self.prices[sym]
                quote = {"ap": float(p + Decimal("0.01")), "bp": float(p), "t": _now_iso()}
                return 200, {"symbol": sym, "quote": quote}
        return 404, {"message": "not found"}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path != "/v2/orders":
            return 404, {"message": "not found"}
        with self.lock:
            cid = body.get("client_order_id") or str(uuid.uuid4())
            if any(o["client_order_id"] == cid for o in self.orders.values()):
                return 422, {"code": 40010001, "message": "client_order_id must be unique"}
            sym, side = body["symbol"], body["side"]
            qty = Decimal(body["qty"])
            if sym not in self.prices or qty <= 0:
                return 422, {"code": 40010001, "message": "invalid order"}
            price = self.prices[sym]
            limit = Decimal(body["limit_price"]) if body.get("limit_price") else None
            cost = qty * (limit or price)
            if side == "buy" and cost > Decimal(self._account()["buying_power"]):
                return 403, {"code": 40310000, "message": "insufficient buying power"}
            held = self.positions.get(sym, [Decimal(0), Decimal(0)])[0]
            if side == "sell" and qty > held:
                return 403, {"code": 40310000, "message": "insufficient qty available for order"}
            now = _now_iso()
            order = {
                "id": str(uuid.uuid4()),
                "client_order_id": cid,
                "created_at": now,
                "updated_at": now,
                "submitted_at": now,
                "symbol": sym,
                "qty": str(qty),
                "filled_qty": "0",
                "filled_avg_price": None,
                "order_type": body["type"],
                "type": body["type"],
                "side": side,
                "time_in_force": body.get("time_in_force", "day"),
                "limit_price": body.get("limit_price"),
                "status": "new",
            }
            self.orders[order["id"]] = order
            marketable = limit is None or (limit >= price if side == "buy" else limit <= price)
            answer = dict(order)
        self._publish({"event": "new", "order": answer, "timestamp": now})
        if marketable:
            self._execute(order["id"])
        return 200, answer

    def _execute(self, oid: str) -> None:
        with self.lock:
            o = self.orders[oid]
            total = Decimal(o["qty"])
            price = self.prices[o["symbol"]]
            parts = [Decimal(100), total - 100] if total > 100 else [total]
            events = []
            for part in parts:
                filled = Decimal(o["filled_qty"]) + part
                o["filled_qty"] = str(filled)
                o["filled_avg_price"] = str(price)
                o["status"] = "filled" if filled == total else "partially_filled"
                o["updated_at"] = _now_iso()
                sign = 1 if o["side"] == "buy" else -1
                self.cash -= sign * part * price
                pos = self.positions.setdefault(o["symbol"], [Decimal(0), Decimal(0)])
                if sign > 0:
                    pos[0] += part
                    pos[1] += part * price
                else:
                    pos[1] -= pos[1] * part / pos[0]
                    pos[0] -= part
                exec_id = str(uuid.uuid4())
                self.activities.append(
                    {
                        "id": f"{time.strftime('%Y%m%d%H%M%S')}{next(self._seq):03d}::{exec_id}",
                        "activity_type": "FILL",
                        "transaction_time": o["updated_at"],
                        "type": "fill" if o["status"] == "filled" else "partial_fill",
                        "price": str(price),
                        "qty": str(part),
                        "side": o["side"],
                        "symbol": o["symbol"],
                        "order_id": oid,
                        "cum_qty": o["filled_qty"],
                        "leaves_qty": str(total - filled),
                    }
                )
                events.append(
                    {
                        "event": "fill" if o["status"] == "filled" else "partial_fill",
                        "execution_id": exec_id,
                        "order": dict(o),
                        "timestamp": o["updated_at"],
                        "price": str(price),
                        "qty": str(part),
                        "position_qty": str(pos[0]),
                    }
                )
        for e in events:
            self._publish(e)

    def delete(self, path: str) -> tuple[int, Any]:
        oid = path.rsplit("/", 1)[1]
        with self.lock:
            o = self.orders.get(oid)
            if o is None:
                return 404, {"message": "order not found"}
            if o["status"] not in ("new", "partially_filled"):
                return 422, {"code": 42210000, "message": "order is not cancelable"}
            o["status"] = "canceled"
            o["updated_at"] = _now_iso()
            doc = dict(o)
        self._publish({"event": "canceled", "order": doc, "timestamp": doc["updated_at"]})
        return 204, None
