"""WebSocket channels (protocol in :mod:`quantdesk.api.app`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from quantdesk.api.hub import CHANNELS, Client, Hub
from quantdesk.api.security import ws_principal
from quantdesk.auth import Principal

router = APIRouter()

AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
MAX_SUBSCRIPTION = 500


async def _authenticate(ws: WebSocket) -> Principal | None:
    """A ``token`` query parameter, else a first message ``{"token": "..."}``."""
    token = ws.query_params.get("token")
    if token:
        return ws_principal(ws, token)
    try:
        first = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S)
        msg = orjson.loads(first)
    except (TimeoutError, orjson.JSONDecodeError, KeyError):
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("token"), str):
        return None
    return ws_principal(ws, msg["token"])


def _strings(value: Any, name: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name}: a list of non-empty strings")
    if len(value) > MAX_SUBSCRIPTION:
        raise ValueError(f"{name}: at most {MAX_SUBSCRIPTION} entries")
    return frozenset(value)


def _handle(client: Client, text: str) -> dict[str, Any] | None:
    """A client message -> the reply to queue (or None)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"type": "error", "data": {"detail": "messages must be JSON objects"}}
    if not isinstance(msg, dict):
        return {"type": "error", "data": {"detail": "messages must be JSON objects"}}
    if "ping" in msg:
        return {"type": "pong", "data": msg["ping"]}
    if "subscribe" in msg and client.channel == "market":
        sub = msg["subscribe"]
        if not isinstance(sub, dict):
            return {"type": "error", "data": {"detail": "subscribe: an object"}}
        try:
            from quantdesk.domain import normalize_interval

            symbols = _strings(sub.get("symbols", []), "symbols")
            intervals = frozenset(
                normalize_interval(i) for i in _strings(sub.get("intervals", []), "intervals")
            )
        except Exception as exc:
            return {"type": "error", "data": {"detail": f"subscribe: {exc}"}}
        client.symbols = (client.symbols or frozenset()) | symbols
        client.intervals = (client.intervals or frozenset()) | intervals
        return {
            "type": "subscribed",
            "data": {"symbols": sorted(client.symbols), "intervals": sorted(client.intervals)},
        }
    if "unsubscribe" in msg and client.channel == "market":
        client.symbols = None
        client.intervals = None
        return {"type": "subscribed", "data": {"symbols": [], "intervals": []}}
    if "token" in msg:
        return None  # a repeated auth message: harmless
    return {"type": "error", "data": {"detail": f"unknown message on /ws/{client.channel}"}}


async def serve_channel(ws: WebSocket, channel: str) -> None:
    await ws.accept()
    user = await _authenticate(ws)
    if user is None:
        await ws.close(CLOSE_UNAUTHORIZED, "missing or invalid token")
        return
    if channel == "logs" and not user.is_admin:
        await ws.close(CLOSE_FORBIDDEN, "server logs need role admin")
        return
    hub: Hub = ws.app.state.hub
    client = hub.attach(ws, channel, user.username)
    client.push(
        orjson.dumps(
            {"type": "welcome", "data": {"channel": channel, "user": user.username}}
        ).decode()
    )
    sender = asyncio.create_task(client.run_sender())
    try:
        while True:
            receive = asyncio.ensure_future(ws.receive_text())
            done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:  # the socket failed while sending
                receive.cancel()
                break
            reply = _handle(client, receive.result())
            if reply is not None:
                client.push(orjson.dumps(reply).decode())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.detach(client)
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender


def _route(channel: str) -> None:
    async def endpoint(ws: WebSocket) -> None:
        await serve_channel(ws, channel)

    endpoint.__name__ = f"ws_{channel.replace('-', '_')}"
    router.add_api_websocket_route(f"/ws/{channel}", endpoint)


for _channel in CHANNELS:
    _route(_channel)
