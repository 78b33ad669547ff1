"""Finnhub message parsing, candle parsing, back-off, minute helpers, token."""

from __future__ import annotations

import random

import pytest

from quantdesk.errors import ConfigError
from quantdesk.sources.finnhub.client import RedactFilter, backoff_delay, redact
from quantdesk.sources.finnhub.protocol import (
    SOURCE_REST,
    Bad,
    CandleFormatError,
    Ping,
    ServerError,
    Trades,
    parse_candles,
    parse_frame,
    subscribe_message,
)
from quantdesk.sources.finnhub.source import (
    finnhub_token,
    minutes_between,
    parse_symbols,
    runs,
)


def test_trade_frame_with_and_without_conditions() -> None:
    raw = (
        '{"type":"trade","data":['
        '{"s":"AAPL","p":189.5,"v":100,"t":1700000000000,"c":["1","12"]},'
        '{"s":"AAPL","p":189.51,"v":20,"t":1700000000004,"c":null},'
        '{"s":"TSLA","p":240,"v":5,"t":1700000000001}]}'
    )
    frame = parse_frame(raw)
    assert isinstance(frame, Trades)
    assert frame.bad_entries == 0
    aapl = frame.by_symbol["AAPL"]
    assert aapl.ts == [1700000000000, 1700000000004]
    assert aapl.price == [189.5, 189.51]
    assert aapl.size == [100.0, 20.0]
    assert frame.by_symbol["TSLA"].price == [240.0]


def test_bad_entries_are_dropped_and_counted() -> None:
    raw = (
        '{"type":"trade","data":['
        '{"s":"AAPL","p":1.0,"v":1,"t":1},'
        '{"s":"AAPL","p":"x","v":1,"t":2},'
        '{"s":"AAPL","p":1.0,"v":1,"t":true},'
        '{"p":1.0,"v":1,"t":3},'
        '{"s":"AAPL","p":1.0,"v":1,"t":4,"c":"notalist"},'
        "7]}"
    )
    frame = parse_frame(raw)
    assert isinstance(frame, Trades)
    assert frame.by_symbol["AAPL"].ts == [1]
    assert frame.bad_entries == 5


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ("[1,2]", "not_object"),
        ('{"type":"news"}', "unknown_type"),
        ('{"data":[]}', "unknown_type"),
        ('{"type":"trade","data":"x"}', "bad_trades"),
        ('{"type":"trade","data":[{"s":1}]}', "bad_trades"),
    ],
)
def test_garbage_frames(raw: str | bytes, reason: str) -> None:
    assert parse_frame(raw) == Bad(reason)


def test_ping_error_and_subscribe() -> None:
    assert parse_frame('{"type":"ping"}') == Ping()
    assert parse_frame('{"type":"error","msg":"Invalid symbol"}') == ServerError("Invalid symbol")
    assert subscribe_message("AAPL") == '{"type":"subscribe","symbol":"AAPL"}'
    empty = parse_frame('{"type":"trade","data":[]}')
    assert isinstance(empty, Trades) and not empty.by_symbol


def test_candles() -> None:
    body = {
        "c": [10.5, 11.0],
        "h": [11.0, 11.5],
        "l": [10.0, 10.5],
        "o": [10.2, 10.6],
        "s": "ok",
        "t": [1700000040, 1700000100],
        "v": [300, 200],
    }
    bars = parse_candles(body, "AAPL")
    assert [b.time for b in bars] == [1700000040000, 1700000100000]
    b = bars[0]
    assert (b.open, b.high, b.low, b.close, b.volume) == (10.2, 11.0, 10.0, 10.5, 300.0)
    assert b.vwap == pytest.approx((11.0 + 10.0 + 10.5) / 3)
    assert b.trades == 0 and b.source == SOURCE_REST and b.interval == "1m"
    assert parse_candles({"s": "no_data"}, "AAPL") == []
    for bad in (
        [],
        {"s": "error"},
        {**body, "v": [1]},
        {**body, "c": None},
        {**body, "o": ["x", 1]},
    ):
        with pytest.raises(CandleFormatError):
            parse_candles(bad, "AAPL")


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(1)
    for attempt, full in [(0, 1.0), (1, 2.0), (3, 8.0), (10, 30.0), (500, 30.0)]:
        for _ in range(20):
            d = backoff_delay(attempt, 1.0, 30.0, rng)
            assert full / 2 <= d <= full
    assert len({backoff_delay(2, 1.0, 30.0, rng) for _ in range(10)}) > 1


def test_minutes_and_runs() -> None:
    assert minutes_between(59_000, 121_000) == [0, 60_000, 120_000]
    assert minutes_between(60_000, 60_000) == [60_000]
    mins = [0, 60_000, 120_000, 300_000]
    assert runs(mins) == [(0, 180_000), (300_000, 360_000)]
    assert runs(mins, cap=2) == [(0, 120_000), (120_000, 180_000), (300_000, 360_000)]


def test_token_and_symbols() -> None:
    with pytest.raises(ConfigError, match=r"^FINNHUB_TOKEN: ") as err:
        finnhub_token({})
    assert "\n" not in str(err.value)
    assert finnhub_token({"FINNHUB_TOKEN": " abc "}) == "abc"
    assert parse_symbols("aapl, GOOGL,,TSLA,aapl") == ["AAPL", "GOOGL", "TSLA"]
    with pytest.raises(ConfigError, match="--symbols"):
        parse_symbols(" , ")


def test_redaction() -> None:
    import logging

    assert redact("wss://x?token=s3cr3t", "s3cr3t") == "wss://x?token=***"
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "GET %s", ("/?token=s3cr3t",), None)
    RedactFilter("s3cr3t").filter(rec)
    assert rec.getMessage() == "GET /?token=***"
