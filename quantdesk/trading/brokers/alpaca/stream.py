"""Alpaca's ``trade_updates`` stream: a WebSocket on a reader thread.

Protocol: connect, send ``{"action": "auth", "key": ..., "secret": ...}``, wait
for ``{"stream": "authorization", "data": {"status": "authorized"}}``, send
``{"action": "listen", "data": {"streams": ["trade_updates"]}}``; then every
order event arrives as ``{"stream": "trade_updates", "data": {"event": ...,
"order": {...}, ...}}`` (the paper endpoint sends binary frames, JSON inside).
A dropped connection is reconnected with a doubling back-off (1 s to 30 s);
missed events are caught up by the broker from the REST API after a reconnect.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from quantdesk.errors import ConfigError

__all__ = ["TradeUpdates"]

log = logging.getLogger("quantdesk.trading.alpaca")


class TradeUpdates:
    """Reads ``trade_updates`` and hands each event's ``data`` to ``on_event``."""

    def __init__(
        self,
        url: str,
        key_id: str,
        secret: str,
        on_event: Callable[[dict[str, Any]], None],
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self._key, self._secret = key_id, secret
        self.on_event = on_event
        self.on_connect = on_connect
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._ws: ClientConnection | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="alpaca-stream", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Connect and listen; raises the first connection's error (e.g. refused keys)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ConfigError(f"alpaca: no answer from the trade stream {self.url} in {timeout}s")
        if self.error is not None:
            raise self.error

    def _handshake(self, ws: ClientConnection) -> None:
        ws.send(json.dumps({"action": "auth", "key": self._key, "secret": self._secret}))
        msg = _decode(ws.recv(timeout=10))
        data = msg.get("data", {})
        if msg.get("stream") != "authorization" or data.get("status") != "authorized":
            raise ConfigError("alpaca: the trade stream refused the key or secret")
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        ack = _decode(ws.recv(timeout=10))
        if "trade_updates" not in ack.get("data", {}).get("streams", []):
            raise ConfigError("alpaca: the trade stream did not accept trade_updates")

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=10, close_timeout=2) as ws:
                    self._ws = ws
                    self._handshake(ws)
                    delay = 1.0
                    if self.on_connect is not None:
                        self.on_connect()
                    self._ready.set()
                    for raw in ws:
                        msg = _decode(raw)
                        if msg.get("stream") == "trade_updates":
                            self.on_event(dict(msg.get("data", {})))
            except ConfigError as exc:
                self.error = exc
                self._ready.set()
                return
            except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
                if not self._ready.is_set():
                    self.error = ConfigError(f"alpaca: cannot reach the trade stream ({exc})")
                    self._ready.set()
                    return
                log.warning("alpaca trade stream dropped (%s); reconnecting in %.0fs", exc, delay)
            finally:
                self._ws = None
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, 30.0)

    def close(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _decode(raw: str | bytes) -> dict[str, Any]:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    msg = json.loads(text)
    if isinstance(msg, list):  # some servers batch messages
        msg = msg[0] if msg else {}
    return msg if isinstance(msg, dict) else {}
