"""Wire format of every message on the bus: JSON (UTF-8, encoded with orjson).

Any program that reads JSON can read the topics. Every message is one JSON
object with a schema version ``v`` and a ``type``; readers must ignore fields
they do not know (new optional fields do not bump ``v``; a change that breaks
old readers does). Times are integers, epoch milliseconds UTC; prices and sizes
are numbers. Non-finite floats (NaN, ±inf) travel as ``null`` and decode as
NaN. Messages are keyed by symbol on the bus, so one symbol stays in order on
one partition.

======================  ==========  ================================================
type                    topic       fields (besides ``v`` and ``type``)
======================  ==========  ================================================
``trades``              trades      ``symbol``, ``source``, columns ``ts`` [int],
                                    ``price`` [number], ``size`` [number], and
                                    ``id`` [string or null] or ``null``/absent;
                                    all columns the same length (one or more)
``book``                quotes      ``symbol``, ``source``, ``ts``, ``bids`` and
                                    ``asks``: [[price, size], ...], best first
``bar``                 bars        ``symbol``, ``interval``, ``time`` (bar start),
                                    ``open``, ``high``, ``low``, ``close``,
                                    ``volume``, ``vwap``, ``trades`` (count),
                                    ``source``, ``final`` (false = still forming)
``factor``              factors     ``symbol``, ``ts``, ``name``, ``value``,
                                    ``interval`` ("" for tick factors)
``signal``              signals     ``symbol``, ``ts``, ``factor``, ``value``,
                                    ``side`` ("buy"/"sell"), ``rule_id``
``clock``               trades      ``symbol``, ``ts``: the source's event time has
                                    reached ``ts`` (a heartbeat, so bars close at
                                    a session's end even when no trade follows)
``deadletter``          deadletter  ``reason``, ``topic`` (where it came from),
                                    ``encoding`` ("utf-8" or "base64"), ``raw``
                                    (the rejected payload), ``error`` (text)
``order``               orders      ``id``, ``client_order_id``, ``symbol``, ``side``
                                    ("buy"/"sell"), ``order_type`` ("market"/"limit"),
                                    ``quantity``, ``limit_price`` (number or null),
                                    ``time_in_force``, ``status``, ``reason``,
                                    ``created``, ``updated``, ``filled_quantity``,
                                    ``filled_value``, ``commission``
``fill``                fills       ``id``, ``order_id``, ``time``, ``symbol``,
                                    ``side``, ``quantity``, ``price``,
                                    ``commission``, ``stamp_duty``, ``transfer_fee``
``risk_alert``          alerts      ``id``, ``time``, ``kind`` (breach, drawdown,
                                    denied, state), ``message``, ``symbol``,
                                    ``order_id``, ``state`` (active, reducing, halted)
``tweet``               tweets      ``id``, ``version_id``, ``time``, ``text``,
                                    ``symbols`` [string], ``score``, ``label``,
                                    ``source``, ``author_id`` (string or null)
``prediction``          predictions ``symbol``, ``target_day`` ("YYYY-MM-DD"), ``model``,
                                    ``version``, ``alias`` ("champion", "challenger"
                                    or ""), ``made_at``, ``predicted_open`` (number
                                    or null), ``predicted_close`` (number or null),
                                    ``predicted_return``, ``reference``
``control``             control     ``target`` (e.g. "signal_rule"), ``id``,
                                    ``action`` ("upsert"/"delete"), ``body``
                                    (object or null), ``ts`` (when it was issued),
                                    ``origin`` (who issued it, text)
======================  ==========  ================================================

Money and prices of orders and fills are exact decimals in quantdesk
(:mod:`quantdesk.domain.trading`); on the wire they are JSON numbers written
from the shortest float repr (``12.34``), and a reader gets the same decimal
back by rounding to the cent (money) or to 1/10,000 (prices): exact for
amounts of up to 15 significant digits. Quantities are integers.


Adding a message type is one :func:`register_message` call (its type name,
class, topic, body encoder and decoder, optionally its key) plus the topic
on :class:`~quantdesk.bus.base.Topics`; :func:`encode`, :func:`decode`,
``Bus.send`` and the API's WebSocket hub then know it. The field readers
(:func:`field_str`, :func:`field_int`, :func:`field_float`,
:func:`field_bool`, :func:`field_value`) give a decoder the same one-line
:class:`MessageError` as the built-in types.

Trades travel as **columnar batches per symbol**, so that decoding a batch of a
thousand trades is one JSON parse and three NumPy conversions, not a thousand
Python objects::

    {"v": 1, "type": "trades", "symbol": "AAPL", "source": "finnhub",
     "ts": [1700000000000, 1700000000004], "price": [189.5, 189.51],
     "size": [100.0, 20.0], "id": null}

    {"v": 1, "type": "book", "symbol": "600000.SH", "source": "simulator",
     "ts": 1700000000000, "bids": [[10.01, 300.0], [10.0, 1200.0]],
     "asks": [[10.02, 500.0]]}

    {"v": 1, "type": "bar", "symbol": "AAPL", "interval": "1m",
     "time": 1699999980000, "open": 189.4, "high": 189.6, "low": 189.3,
     "close": 189.5, "volume": 5400.0, "vwap": 189.47, "trades": 38,
     "source": "finnhub", "final": true}

The codec guarantees structure and types only. Values (NaN, non-positive
prices, unknown symbols, clock skew) are checked by the stream operators. A
payload that cannot be decoded raises :class:`MessageError` whose ``reason`` is
one of ``bad_json``, ``missing_field``, ``bad_type``, ``unknown_type`` or
``bad_version``; the pipeline counts it and dead-letters the raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
import orjson

from quantdesk.domain.messages import (
    Bar,
    BookSnapshot,
    FactorValue,
    Prediction,
    ScoredTweet,
    Signal,
    Trade,
)
from quantdesk.domain.trading import (
    PRICE_QUANTUM,
    AlertKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RiskAlert,
    Side,
    TimeInForce,
    TradingState,
    money,
)
from quantdesk.errors import MessageError as MessageError

SCHEMA_VERSION: Final = 1

#: Every reason a :class:`MessageError` can carry.
REASONS: Final = ("bad_json", "missing_field", "bad_type", "unknown_type", "bad_version")


class TradeBatch:
    """Trades of one symbol from one source, as columns (NumPy arrays).

    ``ts`` is int64 epoch ms UTC; ``price`` and ``size`` are float64 (lists or
    arrays are converted); ``ids`` is ``None`` or one trade id (or ``None``)
    per trade.
    """

    __slots__ = ("ids", "price", "size", "source", "symbol", "ts")

    def __init__(
        self,
        symbol: str,
        ts: npt.ArrayLike,
        price: npt.ArrayLike,
        size: npt.ArrayLike,
        source: str = "simulator",
        ids: list[str | None] | None = None,
    ) -> None:
        self.symbol = symbol
        self.source = source
        self.ts: npt.NDArray[np.int64] = np.asarray(ts, dtype=np.int64)
        self.price: npt.NDArray[np.float64] = np.asarray(price, dtype=np.float64)
        self.size: npt.NDArray[np.float64] = np.asarray(size, dtype=np.float64)
        self.ids = ids
        n = len(self.ts)
        lengths = {len(self.price), len(self.size), n if ids is None else len(ids)}
        if lengths != {n}:
            raise ValueError(f"TradeBatch {symbol}: columns have different lengths")

    def __repr__(self) -> str:
        return f"TradeBatch({self.symbol!r}, {len(self)} trades, source={self.source!r})"

    def __len__(self) -> int:
        return len(self.ts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TradeBatch):
            return NotImplemented
        return (
            self.symbol == other.symbol
            and self.source == other.source
            and self.ids == other.ids
            and np.array_equal(self.ts, other.ts)
            and np.array_equal(self.price, other.price, equal_nan=True)
            and np.array_equal(self.size, other.size, equal_nan=True)
        )

    @classmethod
    def from_trades(cls, trades: Iterable[Trade]) -> list[TradeBatch]:
        """Group trades by (symbol, source), keeping their order within each group."""
        groups: dict[tuple[str, str], list[Trade]] = {}
        for t in trades:
            groups.setdefault((t.symbol, t.source), []).append(t)
        out = []
        for (symbol, source), ts in groups.items():
            ids = [t.trade_id for t in ts]
            out.append(
                cls(
                    symbol,
                    np.fromiter((t.ts for t in ts), np.int64, len(ts)),
                    np.fromiter((t.price for t in ts), np.float64, len(ts)),
                    np.fromiter((t.size for t in ts), np.float64, len(ts)),
                    source,
                    None if all(i is None for i in ids) else ids,
                )
            )
        return out

    def to_trades(self) -> list[Trade]:
        """The batch as :class:`Trade` objects (slow; not for the hot path)."""
        ids = self.ids if self.ids is not None else [None] * len(self)
        return [
            Trade(self.symbol, int(t), float(p), float(s), i, self.source)
            for t, p, s, i in zip(self.ts, self.price, self.size, ids, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A payload that could not be processed, with why and where it came from."""

    reason: str
    topic: str
    raw: bytes
    error: str = ""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The source's event time reached ``ts`` for ``symbol`` (no trade needed)."""

    symbol: str
    ts: int


@dataclass(frozen=True, slots=True)
class Control:
    """A change of live configuration for every processing member (topic ``control``).

    Not market data: the API publishes one when an operator changes something
    the workers apply (``target`` ``"signal_rule"``: ``action`` ``"upsert"`` with
    the rule as ``body``, or ``"delete"``). Keyed by ``target:id``, so the
    changes of one object stay in order on one partition. ``ts`` is the wall
    time it was issued (epoch ms), ``origin`` who issued it (for logs).
    """

    target: str
    id: str
    action: str
    body: dict[str, Any] | None = None
    ts: int = 0
    origin: str = ""

    @property
    def key(self) -> str:
        return f"{self.target}:{self.id}"


Encodable: TypeAlias = (
    TradeBatch
    | BookSnapshot
    | Bar
    | FactorValue
    | Signal
    | DeadLetter
    | Heartbeat
    | Order
    | Fill
    | RiskAlert
    | ScoredTweet
    | Control
    | Prediction
)

#: Message ``type`` -> attribute of :class:`~quantdesk.bus.base.Topics` it travels on.
TYPE_TOPIC: Final = {
    "trades": "trades",
    "book": "quotes",
    "bar": "bars",
    "factor": "factors",
    "signal": "signals",
    "deadletter": "deadletter",
    "clock": "trades",
    "order": "orders",
    "fill": "fills",
    "risk_alert": "alerts",
}

_NUMBER_TYPES = (int, float)


# ---------------------------------------------------------------------------
# encoding


def message_type(obj: Encodable) -> str:
    """The wire ``type`` of a domain object."""
    try:
        return _TYPES[type(obj)]
    except KeyError:
        raise TypeError(f"cannot encode {type(obj).__name__} for the bus") from None


def message_key(obj: Encodable) -> str | None:
    """The bus key of a domain object: its symbol (dead letters and alerts may have none)."""
    if isinstance(obj, DeadLetter):
        return None
    if isinstance(obj, RiskAlert):
        return obj.symbol or None
    keyer = _KEYS.get(type(obj))
    if keyer is not None:
        return keyer(obj)
    return obj.symbol  # type: ignore[union-attr]


def encode(obj: Encodable) -> bytes:
    """Encode one domain object (or a :class:`TradeBatch`) as JSON bytes."""
    kind = message_type(obj)
    if isinstance(obj, TradeBatch):
        return encode_trades(obj)
    body: dict[str, Any]
    encoder = _ENCODERS.get(kind)
    if encoder is not None:
        body = encoder(obj)
    elif isinstance(obj, BookSnapshot):
        body = {
            "symbol": obj.symbol,
            "source": obj.source,
            "ts": obj.ts,
            "bids": obj.bids,
            "asks": obj.asks,
        }
    elif isinstance(obj, Bar):
        body = {
            "symbol": obj.symbol,
            "interval": obj.interval,
            "time": obj.time,
            "open": obj.open,
            "high": obj.high,
            "low": obj.low,
            "close": obj.close,
            "volume": obj.volume,
            "vwap": obj.vwap,
            "trades": obj.trades,
            "source": obj.source,
            "final": obj.final,
        }
    elif isinstance(obj, FactorValue):
        body = {
            "symbol": obj.symbol,
            "ts": obj.ts,
            "name": obj.name,
            "value": obj.value,
            "interval": obj.interval,
        }
    elif isinstance(obj, Heartbeat):
        body = {"symbol": obj.symbol, "ts": obj.ts}
    elif isinstance(obj, Signal):
        body = {
            "symbol": obj.symbol,
            "ts": obj.ts,
            "factor": obj.factor,
            "value": obj.value,
            "side": obj.side,
            "rule_id": obj.rule_id,
        }
    elif isinstance(obj, Order):
        body = order_body(obj)
    elif isinstance(obj, Fill):
        body = fill_body(obj)
    elif isinstance(obj, RiskAlert):
        body = alert_body(obj)
    else:
        assert isinstance(obj, DeadLetter)
        try:
            raw, encoding = obj.raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raw, encoding = base64.b64encode(obj.raw).decode("ascii"), "base64"
        body = {
            "reason": obj.reason,
            "topic": obj.topic,
            "encoding": encoding,
            "raw": raw,
            "error": obj.error,
        }
    return orjson.dumps({"v": SCHEMA_VERSION, "type": kind, **body})


def order_body(o: Order) -> dict[str, Any]:
    """An order's wire body (also what the REST API answers, see quantdesk.api.trading)."""
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "order_type": o.type.value,
        "quantity": o.quantity,
        "limit_price": None if o.limit_price is None else float(o.limit_price),
        "time_in_force": o.time_in_force.value,
        "status": o.status.value,
        "reason": o.reason,
        "created": o.created,
        "updated": o.updated,
        "filled_quantity": o.filled_quantity,
        "filled_value": float(o.filled_value),
        "commission": float(o.commission),
    }


def fill_body(f: Fill) -> dict[str, Any]:
    """A fill's wire body (also the REST rows)."""
    return {
        "id": f.id,
        "order_id": f.order_id,
        "time": f.time,
        "symbol": f.symbol,
        "side": f.side.value,
        "quantity": f.quantity,
        "price": float(f.price),
        "commission": float(f.commission),
        "stamp_duty": float(f.stamp_duty),
        "transfer_fee": float(f.transfer_fee),
    }


def alert_body(a: RiskAlert) -> dict[str, Any]:
    """A risk alert's wire body (also the REST rows)."""
    return {
        "id": a.id,
        "time": a.time,
        "kind": a.kind.value,
        "message": a.message,
        "symbol": a.symbol,
        "order_id": a.order_id,
        "state": a.state.value,
    }


def encode_trades(batch: TradeBatch) -> bytes:
    """Encode a columnar trade batch (NumPy arrays are written directly by orjson)."""
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "type": "trades",
            "symbol": batch.symbol,
            "source": batch.source,
            "ts": np.ascontiguousarray(batch.ts),
            "price": np.ascontiguousarray(batch.price),
            "size": np.ascontiguousarray(batch.size),
            "id": batch.ids,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


# ---------------------------------------------------------------------------
# decoding


def decode(raw: bytes) -> Encodable:
    """Decode one payload into its domain object; raise :class:`MessageError` if invalid."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MessageError("bad_json", f"not valid JSON ({exc})", raw=raw) from None
    if type(doc) is not dict:
        raise MessageError("bad_type", "a message must be a JSON object", raw=raw)
    try:
        return _decode_doc(doc)
    except MessageError as exc:
        exc.raw = raw
        raise


def decode_trades(raw: bytes) -> TradeBatch:
    """Decode a payload that must be a ``trades`` batch."""
    msg = decode(raw)
    if not isinstance(msg, TradeBatch):
        raise MessageError("unknown_type", f"expected trades, got {message_type(msg)}", raw=raw)
    return msg


def _decode_doc(doc: dict[str, Any]) -> Encodable:
    version = _field(doc, "v")
    if type(version) is not int:
        raise MessageError("bad_type", f"v must be an integer (got {version!r})", field="v")
    if version != SCHEMA_VERSION:
        raise MessageError(
            "bad_version", f"schema version {version} (this reader knows {SCHEMA_VERSION})"
        )
    kind = _str(doc, "type")
    try:
        decoder = _DECODERS[kind]
    except KeyError:
        raise MessageError(
            "unknown_type", f"type {kind!r} is not one of {sorted(_DECODERS)}", field="type"
        ) from None
    return decoder(doc)


def _field(doc: dict[str, Any], name: str) -> Any:
    try:
        return doc[name]
    except KeyError:
        raise MessageError("missing_field", f"field {name!r} is missing", field=name) from None


def _bad(name: str, expected: str, value: Any) -> MessageError:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return MessageError("bad_type", f"{name} must be {expected} (got {shown})", field=name)


def _str(doc: dict[str, Any], name: str) -> str:
    value = _field(doc, name)
    if type(value) is not str:
        raise _bad(name, "a string", value)
    return value


def _int(doc: dict[str, Any], name: str) -> int:
    value = _field(doc, name)
    if type(value) is not int:
        raise _bad(name, "an integer", value)
    return value


def _num(value: Any, name: str) -> float:
    if value is None:
        return float("nan")
    if type(value) is float or type(value) is int:
        return float(value)
    raise _bad(name, "a number or null", value)


def _float(doc: dict[str, Any], name: str) -> float:
    return _num(_field(doc, name), name)


def _bool(doc: dict[str, Any], name: str) -> bool:
    value = _field(doc, name)
    if type(value) is not bool:
        raise _bad(name, "true or false", value)
    return value


def _column(doc: dict[str, Any], name: str) -> np.ndarray[Any, np.dtype[Any]]:
    value = _field(doc, name)
    if type(value) is not list:
        raise _bad(name, "a list", value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise _bad(name, "a flat list of numbers", value) from None
    if arr.ndim != 1:
        raise _bad(name, "a flat list of numbers", value)
    return arr


def _int_column(doc: dict[str, Any], name: str) -> npt.NDArray[np.int64]:
    arr = _column(doc, name)
    if arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    raise _bad(name, "a list of integers", doc[name])


def _float_column(doc: dict[str, Any], name: str) -> npt.NDArray[np.float64]:
    arr = _column(doc, name)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.astype(np.float64, copy=False)
    if kind == "i" or kind == "u":
        return arr.astype(np.float64)
    if kind == "O":
        # nulls (non-finite floats on the wire) mixed with numbers: the slow path.
        values = doc[name]
        for v in values:
            if v is not None and type(v) not in _NUMBER_TYPES:
                raise _bad(name, "a list of numbers or nulls", values)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    raise _bad(name, "a list of numbers or nulls", doc[name])


def _decode_trades(doc: dict[str, Any]) -> TradeBatch:
    symbol = _str(doc, "symbol")
    source = _str(doc, "source")
    ts = _int_column(doc, "ts")
    price = _float_column(doc, "price")
    size = _float_column(doc, "size")
    n = len(ts)
    if len(price) != n or len(size) != n:
        raise MessageError(
            "bad_type",
            f"columns differ in length (ts {n}, price {len(price)}, size {len(size)})",
            field="price" if len(price) != n else "size",
        )
    ids = doc.get("id")
    if ids is not None:
        if type(ids) is not list or len(ids) != n:
            raise _bad("id", f"null or a list of {n} strings", ids)
        for i in ids:
            if i is not None and type(i) is not str:
                raise _bad("id", "a list of strings or nulls", ids)
    return TradeBatch(symbol, ts, price, size, source, ids)


def _levels(doc: dict[str, Any], name: str) -> tuple[tuple[float, float], ...]:
    value = _field(doc, name)
    if type(value) is not list:
        raise _bad(name, "a list of [price, size] pairs", value)
    out = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise _bad(name, "a list of [price, size] pairs", level)
        out.append((_num(level[0], name), _num(level[1], name)))
    return tuple(out)


def _decode_book(doc: dict[str, Any]) -> BookSnapshot:
    return BookSnapshot(
        symbol=_str(doc, "symbol"),
        ts=_int(doc, "ts"),
        bids=_levels(doc, "bids"),
        asks=_levels(doc, "asks"),
        source=_str(doc, "source"),
    )


def _decode_bar(doc: dict[str, Any]) -> Bar:
    return Bar(
        symbol=_str(doc, "symbol"),
        interval=_str(doc, "interval"),
        time=_int(doc, "time"),
        open=_float(doc, "open"),
        high=_float(doc, "high"),
        low=_float(doc, "low"),
        close=_float(doc, "close"),
        volume=_float(doc, "volume"),
        vwap=_float(doc, "vwap"),
        trades=_int(doc, "trades"),
        source=_str(doc, "source"),
        final=_bool(doc, "final"),
    )


def _decode_factor(doc: dict[str, Any]) -> FactorValue:
    return FactorValue(
        symbol=_str(doc, "symbol"),
        ts=_int(doc, "ts"),
        name=_str(doc, "name"),
        value=_float(doc, "value"),
        interval=_str(doc, "interval"),
    )


def _decode_signal(doc: dict[str, Any]) -> Signal:
    return Signal(
        symbol=_str(doc, "symbol"),
        ts=_int(doc, "ts"),
        factor=_str(doc, "factor"),
        value=_float(doc, "value"),
        side=_str(doc, "side"),
        rule_id=_str(doc, "rule_id"),
    )


def _decode_clock(doc: dict[str, Any]) -> Heartbeat:
    return Heartbeat(_str(doc, "symbol"), _int(doc, "ts"))


def _decode_deadletter(doc: dict[str, Any]) -> DeadLetter:
    encoding = _str(doc, "encoding")
    text = _str(doc, "raw")
    if encoding == "utf-8":
        raw = text.encode("utf-8")
    elif encoding == "base64":
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise _bad("raw", "base64 text", text) from None
    else:
        raise _bad("encoding", '"utf-8" or "base64"', encoding)
    error = doc.get("error", "")
    if type(error) is not str:
        raise _bad("error", "a string", error)
    return DeadLetter(_str(doc, "reason"), _str(doc, "topic"), raw, error)


def _enum(doc: dict[str, Any], name: str, enum: type[Any]) -> Any:
    value = _str(doc, name)
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise _bad(name, f"one of {allowed}", value) from None


def _money(doc: dict[str, Any], name: str) -> Decimal:
    value = _field(doc, name)
    if type(value) is not float and type(value) is not int:
        raise _bad(name, "a number", value)
    if not math.isfinite(value):
        raise _bad(name, "a finite number", value)
    return money(value)


def _price(doc: dict[str, Any], name: str, *, nullable: bool = False) -> Decimal | None:
    value = _field(doc, name)
    if value is None and nullable:
        return None
    if type(value) is not float and type(value) is not int:
        raise _bad(name, "a number" + (" or null" if nullable else ""), value)
    if not math.isfinite(value):
        raise _bad(name, "a finite number", value)
    return Decimal(repr(value)).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def _decode_order(doc: dict[str, Any]) -> Order:
    return Order(
        id=_str(doc, "id"),
        client_order_id=_str(doc, "client_order_id"),
        symbol=_str(doc, "symbol"),
        side=_enum(doc, "side", Side),
        type=_enum(doc, "order_type", OrderType),
        quantity=_int(doc, "quantity"),
        limit_price=_price(doc, "limit_price", nullable=True),
        time_in_force=_enum(doc, "time_in_force", TimeInForce),
        status=_enum(doc, "status", OrderStatus),
        reason=_str(doc, "reason"),
        created=_int(doc, "created"),
        updated=_int(doc, "updated"),
        filled_quantity=_int(doc, "filled_quantity"),
        filled_value=_price(doc, "filled_value") or Decimal(0),
        commission=_money(doc, "commission"),
    )


def _decode_fill(doc: dict[str, Any]) -> Fill:
    px = _price(doc, "price")
    assert px is not None
    return Fill(
        id=_str(doc, "id"),
        order_id=_str(doc, "order_id"),
        time=_int(doc, "time"),
        symbol=_str(doc, "symbol"),
        side=_enum(doc, "side", Side),
        quantity=_int(doc, "quantity"),
        price=px,
        commission=_money(doc, "commission"),
        stamp_duty=_money(doc, "stamp_duty"),
        transfer_fee=_money(doc, "transfer_fee"),
    )


def _decode_risk_alert(doc: dict[str, Any]) -> RiskAlert:
    return RiskAlert(
        id=_str(doc, "id"),
        time=_int(doc, "time"),
        kind=_enum(doc, "kind", AlertKind),
        message=_str(doc, "message"),
        symbol=_str(doc, "symbol"),
        order_id=_str(doc, "order_id"),
        state=_enum(doc, "state", TradingState),
    )


_DECODERS: Final[dict[str, Callable[[dict[str, Any]], Encodable]]] = {
    "trades": _decode_trades,
    "book": _decode_book,
    "bar": _decode_bar,
    "factor": _decode_factor,
    "signal": _decode_signal,
    "deadletter": _decode_deadletter,
    "clock": _decode_clock,
    "order": _decode_order,
    "fill": _decode_fill,
    "risk_alert": _decode_risk_alert,
}

_TYPES: Final[dict[type, str]] = {
    TradeBatch: "trades",
    BookSnapshot: "book",
    Bar: "bar",
    FactorValue: "factor",
    Signal: "signal",
    DeadLetter: "deadletter",
    Heartbeat: "clock",
    Order: "order",
    Fill: "fill",
    RiskAlert: "risk_alert",
}


# ---------------------------------------------------------------------------
# registered message types (one call per type; see the module docstring)

#: Public field readers for the decoders of registered types.
field_value = _field
field_str = _str
field_int = _int
field_bool = _bool
field_float = _float

_ENCODERS: dict[str, Callable[[Any], dict[str, Any]]] = {}
_KEYS: dict[type, Callable[[Any], str | None]] = {}


def register_message(
    kind: str,
    cls: type,
    topic: str,
    encode_body: Callable[[Any], dict[str, Any]],
    decode_body: Callable[[dict[str, Any]], Any],
    *,
    key: Callable[[Any], str | None] | None = None,
) -> None:
    """Make ``cls`` a bus message of wire type ``kind`` travelling on ``topic``.

    ``topic`` is the attribute of :class:`~quantdesk.bus.base.Topics` (add the
    field there too). ``encode_body(obj)`` returns the JSON fields besides
    ``v`` and ``type``; ``decode_body(doc)`` builds the object back and raises
    :class:`MessageError` (the ``field_*`` readers do) on a bad document;
    ``key(obj)`` is its bus key (default: its ``symbol`` attribute).
    """
    known = _TYPES.get(cls)
    if known is not None and known != kind:
        raise ValueError(f"{cls.__name__} is already the bus type {known!r}")
    TYPE_TOPIC[kind] = topic
    _TYPES[cls] = kind
    _DECODERS[kind] = decode_body
    _ENCODERS[kind] = encode_body
    if key is not None:
        _KEYS[cls] = key


def _tweet_body(t: ScoredTweet) -> dict[str, Any]:
    return {
        "id": t.id,
        "version_id": t.version_id,
        "time": t.time,
        "text": t.text,
        "symbols": list(t.symbols),
        "score": t.score,
        "label": t.label,
        "source": t.source,
        "author_id": t.author_id,
    }


def _optional_str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and type(value) is not str:
        raise _bad(name, "a string or null", value)
    return value


def _decode_tweet(doc: dict[str, Any]) -> ScoredTweet:
    symbols = _field(doc, "symbols")
    if type(symbols) is not list or not all(type(s) is str for s in symbols):
        raise _bad("symbols", "a list of strings", symbols)
    return ScoredTweet(
        id=_str(doc, "id"),
        time=_int(doc, "time"),
        text=_str(doc, "text"),
        symbols=tuple(symbols),
        score=_float(doc, "score"),
        label=_str(doc, "label"),
        source=_str(doc, "source"),
        author_id=_optional_str(doc, "author_id"),
        version_id=_optional_str(doc, "version_id"),
    )


def _control_body(c: Control) -> dict[str, Any]:
    return {
        "target": c.target,
        "id": c.id,
        "action": c.action,
        "body": c.body,
        "ts": c.ts,
        "origin": c.origin,
    }


def _decode_control(doc: dict[str, Any]) -> Control:
    body = doc.get("body")
    if body is not None and type(body) is not dict:
        raise _bad("body", "an object or null", body)
    origin = doc.get("origin", "")
    if type(origin) is not str:
        raise _bad("origin", "a string", origin)
    return Control(
        _str(doc, "target"), _str(doc, "id"), _str(doc, "action"), body, _int(doc, "ts"), origin
    )


register_message(
    "tweet",
    ScoredTweet,
    "tweets",
    _tweet_body,
    _decode_tweet,
    key=lambda t: t.symbols[0] if t.symbols else None,
)
register_message("control", Control, "control", _control_body, _decode_control, key=lambda c: c.key)


def _prediction_body(p: Prediction) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "target_day": p.target_day,
        "model": p.model,
        "version": p.version,
        "alias": p.alias,
        "made_at": p.made_at,
        "predicted_open": p.predicted_open,
        "predicted_close": p.predicted_close,
        "predicted_return": p.predicted_return,
        "reference": p.reference,
    }


def _optional_float(doc: dict[str, Any], name: str) -> float | None:
    value = doc.get(name)
    return None if value is None else _num(value, name)


def _decode_prediction(doc: dict[str, Any]) -> Prediction:
    return Prediction(
        symbol=_str(doc, "symbol"),
        target_day=_str(doc, "target_day"),
        model=_str(doc, "model"),
        version=_int(doc, "version"),
        alias=_optional_str(doc, "alias") or "",
        made_at=_int(doc, "made_at"),
        predicted_open=_optional_float(doc, "predicted_open"),
        predicted_close=_optional_float(doc, "predicted_close"),
        predicted_return=_float(doc, "predicted_return"),
        reference=_float(doc, "reference"),
    )


register_message("prediction", Prediction, "predictions", _prediction_body, _decode_prediction)
