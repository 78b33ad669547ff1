"""WebSocket channels (protocol in :mod:`quantdesk.api.app`; fan-out in :mod:`quantdesk.api.hub`).

Limits that hold whoever the client is (issue 16, items 3 and 6):

* the token comes in the first message ``{"token": "<jwt>"}`` (within
  :data:`AUTH_TIMEOUT_S`) or an ``Authorization: Bearer`` header, never in the
  URL: URLs end up in access logs (uvicorn's, a proxy's). A ``?token=`` is
  refused with 4401 and a reason saying how to send it instead;
* a token whose user no longer exists is refused (4401); a socket closes
  with 4401 when its token expires, unless the client sent a fresher token
  meanwhile (``{"token": ...}`` again extends the session);
* an inbound message is at most ``QUANTDESK_WS_MAX_FRAME_BYTES`` (64 KiB;
  uvicorn refuses larger frames too, close code 1009);
* a market subscription holds at most :data:`MAX_SYMBOLS` symbols of at most
  :data:`MAX_SYMBOL_LENGTH` characters, so a ``subscribed`` reply (which
  lists them) stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any, Final

import jwt
import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from quantdesk.api.fanout import Client
from quantdesk.api.hub import CHANNELS, Hub
from quantdesk.auth import Principal, TokenError, TokenService
from quantdesk.auth.apikeys import PREFIX, ApiKeys, principal_of
from quantdesk.domain import normalize_interval
from quantdesk.storage.base import Store

router = APIRouter()

AUTH_TIMEOUT_S: Final = 10.0
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_TOO_BIG: Final = 1009
#: At most this many symbols (and entries per list in one message) per subscription.
MAX_SYMBOLS: Final = 200
MAX_SYMBOL_LENGTH: Final = 32
MAX_INTERVALS: Final = 16


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _json(msg: dict[str, Any]) -> str:
    return orjson.dumps(msg).decode()


def _error(detail: str) -> str:
    return _json({"type": "error", "data": {"detail": detail}})


def _expiry(token: str) -> float:
    """The ``exp`` of a token already verified (epoch seconds)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


async def _verify(ws: WebSocket, token: str) -> tuple[Principal, float]:
    """A principal and its token's expiry; :class:`_Refused` otherwise.

    An API key (``qdk_...``) works in a token's place; it does not expire (revoking it
    refuses the next connection).
    """
    if token.startswith(PREFIX):
        keys: ApiKeys = ws.app.state.apikeys
        row = await asyncio.to_thread(keys.lookup, token)
        if row is None:
            raise _Refused("unknown or revoked API key")
        return principal_of(row), math.inf
    tokens: TokenService = ws.app.state.tokens
    try:
        user = tokens.verify(token)
    except TokenError as exc:
        raise _Refused(str(exc)) from None
    store: Store = ws.app.state.store
    if await asyncio.to_thread(store.get_user, user.username) is None:
        raise _Refused(f"user {user.username!r} no longer exists")
    return user, _expiry(token)


async def _authenticate(ws: WebSocket, max_bytes: int) -> tuple[Principal, float]:
    """An ``Authorization: Bearer`` header, else a first message ``{"token": "..."}``."""
    if "token" in ws.query_params:
        raise _Refused(
            'tokens in the URL are refused (URLs are logged): send {"token": "<jwt>"} as the '
            "first message"
        )
    api_key = ws.headers.get("x-api-key", "")
    if api_key:
        return await _verify(ws, api_key.strip())
    header = ws.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return await _verify(ws, credentials.strip())
    try:
        first = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_S)
    except TimeoutError:
        raise _Refused("no token within 10 s") from None
    text = first.get("text")
    if first["type"] != "websocket.receive" or not isinstance(text, str):
        raise _Refused('the first message must be {"token": "<jwt>"}')
    if len(text) > max_bytes:
        raise _Refused("the first message is too large")
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        msg = None
    if not isinstance(msg, dict) or not isinstance(msg.get("token"), str):
        raise _Refused('the first message must be {"token": "<jwt>"}')
    return await _verify(ws, msg["token"])


def _strings(value: Any, name: str, max_items: int, max_length: int) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= max_length for v in value
    ):
        raise ValueError(f"{name}: a list of strings of 1 to {max_length} characters")
    if len(value) > max_items:
        raise ValueError(f"{name}: at most {max_items} entries")
    return value


def _subscribe(client: Client, sub: Any) -> str:
    if not isinstance(sub, dict):
        return _error("subscribe: an object")
    try:
        symbols = frozenset(
            _strings(sub.get("symbols", []), "symbols", MAX_SYMBOLS, MAX_SYMBOL_LENGTH)
        )
        intervals = frozenset(
            normalize_interval(i)
            for i in _strings(sub.get("intervals", []), "intervals", MAX_INTERVALS, 8)
        )
    except Exception as exc:
        return _error(f"subscribe: {exc}")
    merged = (client.symbols or frozenset()) | symbols
    if len(merged) > MAX_SYMBOLS:
        return _error(
            f"subscribe: at most {MAX_SYMBOLS} symbols per connection ({len(merged)} asked); "
            'send {"unsubscribe": true} first, or subscribe to ["*"]'
        )
    client.symbols = merged
    client.intervals = (client.intervals or frozenset()) | intervals
    return _json(
        {
            "type": "subscribed",
            "data": {"symbols": sorted(client.symbols), "intervals": sorted(client.intervals)},
        }
    )


def _handle(client: Client, text: str) -> str | None:
    """A client message -> the reply to send (or None)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _error("messages must be JSON objects")
    if not isinstance(msg, dict):
        return _error("messages must be JSON objects")
    if "ping" in msg:
        return _json({"type": "pong", "data": msg["ping"]})
    if "subscribe" in msg and client.channel == "market":
        return _subscribe(client, msg["subscribe"])
    if "unsubscribe" in msg and client.channel == "market":
        client.symbols = None
        client.intervals = None
        return _json({"type": "subscribed", "data": {"symbols": [], "intervals": []}})
    if "token" in msg:
        return None  # a fresher token: handled by the caller
    return _error(f"unknown message on /ws/{client.channel}")


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code, reason[:120])


async def serve_channel(ws: WebSocket, channel: str) -> None:
    await ws.accept()
    max_bytes: int = ws.app.state.settings.ws_max_frame_bytes
    try:
        user, expires = await _authenticate(ws, max_bytes)
    except _Refused as exc:
        await _close(ws, CLOSE_UNAUTHORIZED, exc.reason)
        return
    except WebSocketDisconnect:
        return
    if channel == "logs" and not user.is_admin:
        await _close(ws, CLOSE_FORBIDDEN, "server logs need role admin")
        return
    hub: Hub = ws.app.state.hub
    client = hub.attach(ws, channel, user.username)
    client.reply(_json({"type": "welcome", "data": {"channel": channel, "user": user.username}}))
    sender = asyncio.create_task(client.run_sender())
    expiry = asyncio.create_task(asyncio.sleep(max(0.0, expires - time.time())))
    receive: asyncio.Future[Any] | None = None
    try:
        while True:
            receive = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait(
                {receive, sender, expiry}, return_when=asyncio.FIRST_COMPLETED
            )
            if sender in done:  # the socket failed while sending
                break
            if expiry in done:
                await _close(ws, CLOSE_UNAUTHORIZED, "token expired: log in again")
                break
            message = receive.result()
            receive = None
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                client.reply(_error("send text frames (JSON)"))
                continue
            if len(text) > max_bytes:
                await _close(ws, CLOSE_TOO_BIG, f"messages are limited to {max_bytes} bytes")
                break
            reply = _handle(client, text)
            if reply is not None:
                client.reply(reply)
                continue
            token = orjson.loads(text).get("token")  # a fresher token extends the session
            if isinstance(token, str):
                try:
                    fresh, until = await _verify(ws, token)
                except _Refused:
                    continue
                if fresh.username == user.username and until > expires:
                    expires = until
                    expiry.cancel()
                    expiry = asyncio.create_task(asyncio.sleep(max(0.0, until - time.time())))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.detach(client)
        for task in (sender, expiry, receive):
            if task is not None:
                task.cancel()
        with contextlib.suppress(BaseException):
            await sender


def _route(channel: str) -> None:
    async def endpoint(ws: WebSocket) -> None:
        await serve_channel(ws, channel)

    endpoint.__name__ = f"ws_{channel.replace('-', '_')}"
    router.add_api_websocket_route(f"/ws/{channel}", endpoint)


for _channel in CHANNELS:
    _route(_channel)
