"""Finnhub's WebSocket and REST message shapes: parsing only, no I/O.

WebSocket frames (JSON text):

* ``{"type": "trade", "data": [{"s": "AAPL", "p": 189.5, "v": 100, "t": 1700000000000,
  "c": ["1", "12"]}, ...]}``: trades; ``t`` is epoch ms, ``c`` (trade conditions)
  may be null or absent;
* ``{"type": "ping"}``: keep-alive from the server (no answer needed);
* ``{"type": "error", "msg": "..."}``: the server refused something (a bad
  symbol, too many subscriptions, an invalid token).

Anything else (not JSON, not an object, an unknown ``type``, a trade list of
the wrong shape) is a :class:`Bad` frame: ignored and counted. A trade entry
of the wrong shape inside an otherwise good frame is dropped and counted.

REST ``/stock/candle`` answers ``{"c": [...], "h": [...], "l": [...], "o": [...],
"s": "ok", "t": [...], "v": [...]}`` (``t`` in epoch **seconds**) or
``{"s": "no_data"}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

from quantdesk.domain import Bar
from quantdesk.errors import CandleFormatError as CandleFormatError

#: Source name of bars built from live trades, and of bars from REST candles (estimated).
SOURCE_LIVE = "finnhub"
SOURCE_REST = "finnhub:rest"


@dataclass(slots=True)
class Columns:
    """One symbol's trades of a frame, as columns."""

    ts: list[int] = field(default_factory=list)
    price: list[float] = field(default_factory=list)
    size: list[float] = field(default_factory=list)


@dataclass(slots=True)
class Trades:
    """A trade frame: columns per symbol, plus how many entries were malformed."""

    by_symbol: dict[str, Columns]
    bad_entries: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    """A server keep-alive."""


@dataclass(frozen=True, slots=True)
class ServerError:
    """``{"type": "error", "msg": ...}``."""

    msg: str


@dataclass(frozen=True, slots=True)
class Bad:
    """A frame that is not valid JSON or not of a known shape; ``reason`` says which."""

    reason: str


Frame: TypeAlias = Trades | Ping | ServerError | Bad


def subscribe_message(symbol: str) -> str:
    return orjson.dumps({"type": "subscribe", "symbol": symbol}).decode()


def unsubscribe_message(symbol: str) -> str:
    return orjson.dumps({"type": "unsubscribe", "symbol": symbol}).decode()


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one WebSocket frame."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Bad("bad_json")
    if not isinstance(obj, dict):
        return Bad("not_object")
    kind = obj.get("type")
    if kind == "ping":
        return Ping()
    if kind == "error":
        msg = obj.get("msg")
        return ServerError(msg if isinstance(msg, str) else str(msg))
    if kind != "trade":
        return Bad("unknown_type")
    data = obj.get("data")
    if not isinstance(data, list):
        return Bad("bad_trades")
    out = Trades({})
    for item in data:
        if not isinstance(item, dict):
            out.bad_entries += 1
            continue
        s, t = item.get("s"), item.get("t")
        p, v = _number(item.get("p")), _number(item.get("v"))
        c = item.get("c")
        if (
            not isinstance(s, str)
            or not s
            or isinstance(t, bool)
            or not isinstance(t, int)
            or p is None
            or v is None
            or (c is not None and not isinstance(c, list))
        ):
            out.bad_entries += 1
            continue
        cols = out.by_symbol.get(s)
        if cols is None:
            cols = out.by_symbol[s] = Columns()
        cols.ts.append(t)
        cols.price.append(p)
        cols.size.append(v)
    if not out.by_symbol and data:
        return Bad("bad_trades")
    return out


def parse_candles(obj: Any, symbol: str) -> list[Bar]:
    """1m bars (source ``finnhub:rest``) from a ``/stock/candle`` answer.

    ``"no_data"`` gives ``[]``. The provider gives no VWAP and no trade count:
    VWAP is estimated as the typical price ``(h + l + c) / 3`` and ``trades``
    is 0; the ``finnhub:rest`` source marks such estimated bars.
    """
    if not isinstance(obj, dict):
        raise CandleFormatError("candle answer is not a JSON object")
    status = obj.get("s")
    if status == "no_data":
        return []
    if status != "ok":
        raise CandleFormatError(f"candle answer status {status!r}")
    cols = {}
    for key in ("t", "o", "h", "l", "c", "v"):
        col = obj.get(key)
        if not isinstance(col, list):
            raise CandleFormatError(f"candle answer field {key!r} is not a list")
        cols[key] = col
    n = len(cols["t"])
    if any(len(col) != n for col in cols.values()):
        raise CandleFormatError("candle answer columns have different lengths")
    bars = []
    for i in range(n):
        t = cols["t"][i]
        o, h, lo, c, v = (_number(cols[k][i]) for k in ("o", "h", "l", "c", "v"))
        if isinstance(t, bool) or not isinstance(t, int | float):
            raise CandleFormatError(f"candle time {t!r} is not a number")
        if o is None or h is None or lo is None or c is None or v is None:
            raise CandleFormatError(f"candle {i} has a non-numeric value")
        bars.append(
            Bar(
                symbol,
                "1m",
                int(t) * 1000,
                o,
                h,
                lo,
                c,
                v,
                (h + lo + c) / 3.0,
                0,
                SOURCE_REST,
                True,
            )
        )
    return bars
