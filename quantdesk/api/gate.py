"""The API gate: who is calling every ``/api/`` request, and whether they may call now.

A pure ASGI middleware in front of every ``/api/...`` HTTP request:

1. **Who.** ``X-API-Key: <key>`` is looked up (:class:`~quantdesk.auth.apikeys.ApiKeys`,
   cached), ``Authorization: Bearer <token>`` verified
   (:class:`~quantdesk.auth.TokenService`). The caller (a
   :class:`~quantdesk.auth.Principal`, or None when no credential came) is
   left in the request's state for the endpoints' dependencies
   (:mod:`quantdesk.api.security`), which only decide what it may do.
2. **May it call now.** One token bucket per API key (a valid one), else per
   client address (:class:`~quantdesk.api.ratelimit.RequestLimiter`); an
   empty bucket is a 429 with ``Retry-After``.
3. **Bad credentials are refused everywhere.** A credential that is sent
   but unknown, revoked, expired or malformed gets 401 even on a public
   endpoint (``/api/klines``): a client learns at once that its key was
   revoked, instead of silently reading as an anonymous caller. Sending
   both headers is a 400. The login form (``POST /api/auth/token``) ignores
   credentials.

The answers are one JSON line ``{"detail": "..."}`` like every other error.
"""

from __future__ import annotations

import logging

import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from quantdesk.api.ratelimit import RequestLimiter
from quantdesk.auth import Principal, TokenError, TokenService
from quantdesk.auth.apikeys import ApiKeys, principal_of

log = logging.getLogger("quantdesk.api")

#: the request state entry holding the caller (a Principal or None)
PRINCIPAL = "principal"
_LOGIN = "/api/auth/token"


class ApiGate:
    """Authenticate and rate-limit ``/api/`` requests (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, keys: ApiKeys, tokens: TokenService, limiter: RequestLimiter
    ) -> None:
        self.app = app
        self.keys = keys
        self.tokens = tokens
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        api_key = bearer = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1").strip()
            elif name == b"authorization":
                scheme, _, rest = value.decode("latin-1").strip().partition(" ")
                if scheme.lower() == "bearer":
                    bearer = rest.strip()
        principal: Principal | None = None
        refused = ""
        bucket = ""
        if scope["path"] == _LOGIN:
            pass
        elif api_key and bearer:
            refused = "send one credential: X-API-Key or Authorization, not both"
        elif api_key:
            hit, row = self.keys.cached(api_key)
            if not hit:
                row = await anyio.to_thread.run_sync(self.keys.lookup, api_key)
            if row is None:
                refused = "invalid API key: unknown or revoked (ask an admin for a new one)"
            else:
                principal = principal_of(row)
                bucket = "key:" + row.id
                if self.keys.due_touch(row):
                    try:
                        await anyio.to_thread.run_sync(self.keys.touch, row)
                    except Exception as exc:  # last_used is a hint; never fail the request
                        log.warning("API key %s: last_used not written: %s", row.id, exc)
        elif bearer:
            try:
                principal = self.tokens.verify(bearer)
            except TokenError as exc:
                refused = str(exc)
        if not bucket:
            client = scope.get("client")
            bucket = "ip:" + (client[0] if client else "?")
        wait = self.limiter.take(bucket)
        if wait:
            per = "API key" if bucket.startswith("key:") else "client address"
            await _answer(
                send,
                429,
                f"too many requests: at most {self.limiter.per_minute} a minute per {per}"
                f" (bursts of {self.limiter.burst}); try again in {wait} s",
                [(b"retry-after", str(wait).encode())],
            )
            return
        if refused:
            status = 400 if bearer and api_key else 401
            challenge = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await _answer(send, status, refused, challenge)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
