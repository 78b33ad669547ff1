"""The wire format: round trips (Hypothesis), every error reason, arbitrary input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.bus.codec import (
    REASONS,
    DeadLetter,
    MessageError,
    TradeBatch,
    decode,
    decode_trades,
    encode,
    message_key,
)
from quantdesk.domain.messages import Bar, BookSnapshot, FactorValue, Signal, Trade
from quantdesk.errors import DataError

INT64 = st.integers(-(2**63), 2**63 - 1)
TS = st.integers(0, 4_102_444_800_000)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)


@st.composite
def trade_batches(draw: st.DrawFn) -> TradeBatch:
    n = draw(st.integers(1, 40))
    ids = draw(st.none() | st.lists(st.none() | TEXT, min_size=n, max_size=n))
    return TradeBatch(
        symbol=draw(TEXT),
        ts=np.array(draw(st.lists(INT64, min_size=n, max_size=n)), dtype=np.int64),
        price=np.array(draw(st.lists(FINITE, min_size=n, max_size=n)), dtype=np.float64),
        size=np.array(draw(st.lists(FINITE, min_size=n, max_size=n)), dtype=np.float64),
        source=draw(TEXT),
        ids=ids,
    )


LEVELS = st.lists(st.tuples(FINITE, FINITE), max_size=10).map(tuple)
BOOKS = st.builds(BookSnapshot, TEXT, INT64, LEVELS, LEVELS, TEXT)
BARS = st.builds(
    Bar,
    TEXT,
    TEXT,
    INT64,
    FINITE,
    FINITE,
    FINITE,
    FINITE,
    FINITE,
    FINITE,
    INT64,
    TEXT,
    st.booleans(),
)
FACTORS = st.builds(FactorValue, TEXT, INT64, TEXT, FINITE, TEXT)
SIGNALS = st.builds(Signal, TEXT, INT64, TEXT, FINITE, st.sampled_from(["buy", "sell"]), TEXT)
DEAD = st.builds(DeadLetter, TEXT, TEXT, st.binary(max_size=64) | TEXT.map(str.encode), TEXT)


@given(trade_batches())
def test_trade_batch_round_trip(batch: TradeBatch) -> None:
    out = decode_trades(encode(batch))
    assert out == batch
    assert out.ts.dtype == np.int64 and out.price.dtype == np.float64
    assert out.size.dtype == np.float64


@given(st.one_of(BOOKS, BARS, FACTORS, SIGNALS, DEAD))
def test_message_round_trip(obj: Any) -> None:
    assert decode(encode(obj)) == obj


def test_trades_are_columnar_json_readable_by_anyone() -> None:
    batch = TradeBatch("AAPL", [1, 2], [189.5, 189.51], [100.0, 20.0], "finnhub")
    doc = orjson.loads(encode(batch))
    assert doc == {
        "v": 1,
        "type": "trades",
        "symbol": "AAPL",
        "source": "finnhub",
        "ts": [1, 2],
        "price": [189.5, 189.51],
        "size": [100.0, 20.0],
        "id": None,
    }


def test_batch_of_one_and_integer_prices() -> None:
    raw = b'{"v":1,"type":"trades","symbol":"X","source":"s","ts":[5],"price":[10],"size":[3]}'
    batch = decode_trades(raw)
    assert len(batch) == 1 and batch.price.dtype == np.float64 and batch.price[0] == 10.0


def test_non_finite_floats_travel_as_null_and_decode_as_nan() -> None:
    batch = TradeBatch("X", [1, 2, 3], [math.nan, math.inf, 1.0], [1.0, -math.inf, 2.0], "s")
    doc = orjson.loads(encode(batch))
    assert doc["price"] == [None, None, 1.0]
    out = decode_trades(encode(batch))
    assert np.isnan(out.price[:2]).all() and out.price[2] == 1.0
    assert math.isnan(out.size[1])
    bar = decode(encode(Bar("X", "1m", 0, math.nan, 1, 1, 1, 1, 1, 1)))
    assert isinstance(bar, Bar) and math.isnan(bar.open)


def test_from_trades_groups_by_symbol_and_keeps_order() -> None:
    trades = [
        Trade("A", 1, 10.0, 1.0),
        Trade("B", 2, 20.0, 2.0, "b1"),
        Trade("A", 3, 11.0, 3.0),
        Trade("A", 4, 12.0, 4.0, source="finnhub"),
    ]
    batches = TradeBatch.from_trades(trades)
    assert [(b.symbol, b.source, b.ts.tolist()) for b in batches] == [
        ("A", "simulator", [1, 3]),
        ("B", "simulator", [2]),
        ("A", "finnhub", [4]),
    ]
    assert batches[1].ids == ["b1"] and batches[0].ids is None
    back = [t for b in batches for t in b.to_trades()]
    assert sorted(back, key=lambda t: t.ts) == trades


def test_message_key_is_the_symbol() -> None:
    assert message_key(FactorValue("AAPL", 1, "obi", 0.1)) == "AAPL"
    assert message_key(DeadLetter("bad_json", "t", b"x")) is None


def test_dead_letter_keeps_binary_payloads() -> None:
    raw = b"\xff\x00not utf-8"
    doc = orjson.loads(encode(DeadLetter("bad_json", "quantdesk.trades", raw, "boom")))
    assert doc["encoding"] == "base64"
    text = orjson.loads(encode(DeadLetter("bad_json", "quantdesk.trades", b"{oops")))
    assert text["encoding"] == "utf-8" and text["raw"] == "{oops"


# ---------------------------------------------------------------------------
# errors

GOOD: dict[str, dict[str, Any]] = {
    "trades": {"symbol": "A", "source": "s", "ts": [1], "price": [1.0], "size": [1.0]},
    "book": {"symbol": "A", "source": "s", "ts": 1, "bids": [[1.0, 2.0]], "asks": []},
    "bar": {
        "symbol": "A",
        "interval": "1m",
        "time": 0,
        "open": 1.0,
        "high": 1.0,
        "low": 1.0,
        "close": 1.0,
        "volume": 1.0,
        "vwap": 1.0,
        "trades": 1,
        "source": "s",
        "final": True,
    },
    "factor": {"symbol": "A", "ts": 1, "name": "obi", "value": 0.5, "interval": ""},
    "signal": {
        "symbol": "A",
        "ts": 1,
        "factor": "obi",
        "value": 0.5,
        "side": "buy",
        "rule_id": "r",
    },
    "deadletter": {"reason": "bad_json", "topic": "t", "encoding": "utf-8", "raw": "x"},
}


def _raw(kind: str, **changes: Any) -> bytes:
    doc = {"v": 1, "type": kind, **GOOD[kind]}
    for k, v in changes.items():
        if v is _DROP:
            del doc[k]
        else:
            doc[k] = v
    return orjson.dumps(doc)


_DROP = object()


def _reason(raw: bytes) -> str:
    with pytest.raises(MessageError) as info:
        decode(raw)
    assert info.value.raw == raw
    assert info.value.reason in REASONS
    return info.value.reason


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_good_messages_decode(kind: str) -> None:
    decode(_raw(kind))


@pytest.mark.parametrize(
    ("kind", "name"),
    [(kind, name) for kind, body in sorted(GOOD.items()) for name in body] + [("bar", "v")],
)
def test_every_required_field_is_required(kind: str, name: str) -> None:
    assert _reason(_raw(kind, **{name: _DROP})) == "missing_field"


def test_missing_type() -> None:
    assert _reason(b'{"v":1}') == "missing_field"


def test_id_column_is_optional() -> None:
    assert decode_trades(_raw("trades", id=None)).ids is None
    assert decode_trades(_raw("trades", id=["x"])).ids == ["x"]


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[1,", b'{"v":1,}', b"NaN"])
def test_bad_json(raw: bytes) -> None:
    assert _reason(raw) == "bad_json"


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"1",
        b'"trades"',
        b'{"v":"1","type":"bar"}',
        b'{"v":true,"type":"bar"}',
        b'{"v":1,"type":7}',
        _raw("trades", symbol=7),
        _raw("trades", source=None),
        _raw("trades", ts=[1.5]),
        _raw("trades", ts=["1"]),
        _raw("trades", ts=[None]),
        _raw("trades", ts=[True]),
        _raw("trades", ts=[2**63]),
        _raw("trades", ts=1),
        _raw("trades", price=["1.0"]),
        _raw("trades", price=[True]),
        _raw("trades", price=[None, "x"]),
        _raw("trades", price=[[1.0]]),
        _raw("trades", price=[[1.0], [1.0, 2.0]]),
        _raw("trades", price=[{}]),
        _raw("trades", size=[1.0, 2.0]),
        _raw("trades", price=[]),
        _raw("trades", id="abc"),
        _raw("trades", id=[1]),
        _raw("trades", id=["a", "b"]),
        _raw("book", ts=1.0),
        _raw("book", bids=[[1.0]]),
        _raw("book", bids=[1.0, 2.0]),
        _raw("book", asks=[["1", 2.0]]),
        _raw("book", asks={}),
        _raw("bar", final=1),
        _raw("bar", trades=1.0),
        _raw("bar", open="1"),
        _raw("bar", high=True),
        _raw("factor", value=[1]),
        _raw("signal", side=None),
        _raw("deadletter", encoding="latin-1"),
        _raw("deadletter", encoding="base64", raw="not base64!"),
        _raw("deadletter", error=3),
    ],
)
def test_bad_type(raw: bytes) -> None:
    assert _reason(raw) == "bad_type"


@pytest.mark.parametrize("kind", ["trade", "tweets", "", "TRADES"])
def test_unknown_type(kind: str) -> None:
    assert _reason(orjson.dumps({"v": 1, "type": kind})) == "unknown_type"


def test_decode_trades_rejects_other_types() -> None:
    with pytest.raises(MessageError) as info:
        decode_trades(_raw("bar"))
    assert info.value.reason == "unknown_type"


@pytest.mark.parametrize("v", [0, 2, -1, 99])
def test_bad_version(v: int) -> None:
    assert _reason(_raw("trades", v=v)) == "bad_version"


def test_message_error_is_a_data_error_with_one_line() -> None:
    with pytest.raises(DataError) as info:
        decode(_raw("trades", ts=[1.5]))
    err = info.value
    assert isinstance(err, MessageError) and err.field == "ts"
    assert "\n" not in str(err) and str(err).startswith("bad_type: ts must be")


def test_unknown_fields_are_ignored() -> None:
    assert decode_trades(_raw("trades", exchange="XNAS")).symbol == "A"


def test_columns_must_match_in_python_too() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        TradeBatch("A", [1, 2], [1.0], [1.0, 2.0])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_message_error(raw: bytes) -> None:
    try:
        decode(raw)
    except MessageError as exc:
        assert exc.reason in REASONS


FIELD_NAMES = sorted({name for body in GOOD.values() for name in body} | {"id", "v", "type"})


@given(st.sampled_from(sorted(GOOD)), st.dictionaries(st.sampled_from(FIELD_NAMES), JSON))
def test_any_json_fields_decode_or_raise_message_error(kind: str, fields: dict[str, Any]) -> None:
    doc = {"v": 1, "type": kind, **GOOD[kind], **fields}
    try:
        raw = orjson.dumps(doc)
    except orjson.JSONEncodeError:  # integers beyond 64 bits
        return
    try:
        decode(raw)
    except MessageError as exc:
        assert exc.reason in REASONS


# -- registered types: tweets, control messages, and one added from outside -------------


def test_tweet_and_control_round_trip() -> None:
    from quantdesk.bus import Control
    from quantdesk.bus.codec import message_key
    from quantdesk.domain import ScoredTweet

    tweet = ScoredTweet(
        "9",
        1_700_000_000_000,
        "$AAPL <b>up</b>",
        ("AAPL", "MSFT"),
        0.5,
        "positive",
        "mocker",
        author_id=None,
        version_id="10",
    )
    assert decode(encode(tweet)) == tweet
    assert message_key(tweet) == "AAPL"
    control = Control("signal_rule", "obi", "upsert", {"factor": "obi"}, 5, "admin")
    assert decode(encode(control)) == control
    assert message_key(control) == "signal_rule:obi"
    bad = orjson.dumps(
        {"v": 1, "type": "control", "target": "x", "id": "y", "action": "z", "body": [1], "ts": 1}
    )
    assert _reason(bad) == "bad_type"


def test_register_a_new_message_type() -> None:
    from dataclasses import dataclass

    from quantdesk.bus import Topics, register_message
    from quantdesk.bus.codec import field_float, field_str

    @dataclass(frozen=True)
    class Prediction:
        symbol: str
        value: float

    register_message(
        "test_prediction",
        Prediction,
        "predictions",
        lambda p: {"symbol": p.symbol, "value": p.value},
        lambda d: Prediction(field_str(d, "symbol"), field_float(d, "value")),
    )
    p = Prediction("AAPL", 1.5)
    assert decode(encode(p)) == p
    assert Topics().for_type("test_prediction") == "quantdesk.predictions"
    missing = orjson.dumps({"v": 1, "type": "test_prediction", "symbol": "A"})
    assert _reason(missing) == "missing_field"
