"""A real HTTP server on 127.0.0.1 that speaks the Twitter API v2 filtered-stream format.

Each connection plays the next :class:`Connection` of the server's script: an
HTTP status, then (for 200) chunks of newline-delimited JSON, then an ending:
``finish`` (the response ends; the client reconnects), ``drop`` (the socket
is cut mid-stream) or ``hold`` (keep-alives every 50 ms until the server
stops, as Twitter sends them every 20 s). With the script used up it answers
429. A request without ``Authorization: Bearer <TOKEN>`` gets 401.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import orjson

TOKEN = "test-token-123"


def tweet_line(tweet_id: int, text: str, created_ms: int) -> bytes:
    """One filtered-stream line (no line end) of a tweet created at ``created_ms``."""
    created = dt.datetime.fromtimestamp(created_ms / 1000, tz=dt.UTC)
    data = {
        "id": str(tweet_id),
        "text": text,
        "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "author_id": "42",
        "edit_history_tweet_ids": [str(tweet_id)],
    }
    return orjson.dumps({"data": data, "matching_rules": [{"id": "1", "tag": "stocks"}]})


@dataclass
class Connection:
    """What one connection gets."""

    chunks: list[bytes] = field(default_factory=list)
    end: Literal["finish", "drop", "hold"] = "finish"
    status: int = 200


class StreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list[Connection] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script or [])  # what each successive connection does
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StreamServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._empty(401)
            return
        conn = self.server.script.pop(0) if self.server.script else Connection(status=429)
        if conn.status != 200:
            self._empty(conn.status)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in conn.chunks:
                self._chunk(data)
            if conn.end == "finish":
                self.wfile.write(b"0\r\n\r\n")
                return
            while conn.end == "hold" and not self.server.closing.wait(0.05):
                self._chunk(b"\r\n")  # a keep-alive
        except OSError:  # the client went away
            pass
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-stream


@contextlib.contextmanager
def stream_server(script: list[Connection] | None = None) -> Iterator[StreamServer]:
    """A running :class:`StreamServer`; held connections end when the block does."""
    srv = StreamServer(script)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.closing.set()
        srv.shutdown()
        srv.server_close()
