"""Request body limit: 413 above ``QUANTDESK_MAX_BODY_BYTES`` (default 1 MiB), before buffering.

A pure ASGI middleware, outermost in the app, so nothing (authentication,
form or JSON parsing) reads a byte of an oversized body:

* a ``Content-Length`` above the limit is answered 413 at once, without
  reading the body at all;
* a body without a length (chunked) is counted as it arrives; the chunk
  that crosses the limit stops the request, which is answered 413 (the
  application has not answered yet: it was still reading).

The answer is one line ``{"detail": "..."}`` like every other error.
Hand-written (40 lines) rather than Starlette's ``RequestBodyLimitMiddleware``,
which only exists in Starlette releases newer than the FastAPI range
quantdesk supports, and answers in plain text.
"""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(HTTPException):
    """Raised from ``receive``: an HTTP 413, so a framework that catches body errors
    (FastAPI turns them into 400) still answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit, None))


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "Content-Length: not a number")
                    return
                if declared > limit:
                    await _answer(send, 413, _message(limit, declared))
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not started:
                await _answer(send, 413, _message(limit, None))


def _message(limit: int, got: int | None) -> str:
    size = f" (got {got:,} bytes)" if got is not None else ""
    return f"request body too large: at most {limit:,} bytes{size}"


async def _answer(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
