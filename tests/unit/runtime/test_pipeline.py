"""The stream processor: every operator in order, bad input set aside, checkpoints."""

from __future__ import annotations

import datetime as dt

import numpy as np

from quantdesk.bus import Heartbeat, TradeBatch, encode
from quantdesk.calendars import get_calendar
from quantdesk.domain import BookSnapshot
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.storage import checkpoints
from quantdesk.stream.signals import SignalRule

XSHG = get_calendar("XSHG")
(OPEN, M_CLOSE), _ = XSHG.day_segments(dt.date(2026, 11, 20))


def batch(ts, price, size=None, symbol="600036.SH", ids=None) -> bytes:
    n = len(ts)
    return encode(TradeBatch(symbol, ts, price, size if size is not None else [100.0] * n, ids=ids))


def book(ts: int, bid_size: float, ask_size: float, symbol="600036.SH") -> bytes:
    return encode(
        BookSnapshot(
            symbol, ts, ((10.0, bid_size), (9.99, 100.0)), ((10.01, ask_size), (10.02, 100.0))
        )
    )


def test_bad_input_never_stops_the_stream() -> None:
    p = StreamProcessor(XSHG, {"600036.SH"}, max_skew_ms=3_600_000)
    out = Output()
    p.handle("trades", b"{not json", out)
    p.handle("trades", b'{"v": 1, "type": "trades", "symbol": "600036.SH"}', out)
    p.handle("trades", batch([OPEN + 1_000, OPEN + 2_000], [10.0, float("nan")]), out)
    p.handle("trades", batch([OPEN + 3_000], [-1.0]), out)
    p.handle("trades", batch([OPEN + 4_000], [10.0], [0.0]), out)
    p.handle("trades", batch([OPEN + 5_000], [10.0], symbol="ZZZ"), out)
    p.handle("trades", batch([OPEN + 9 * 3_600_000], [10.0]), out)  # far beyond the skew
    p.handle("trades", batch([OPEN + 6_000, OPEN + 7_000], [10.0, 10.1], ids=["a", "a"]), out)
    p.handle("quotes", encode(BookSnapshot("600036.SH", OPEN, ((10.1, 1.0),), ((10.0, 1.0),))), out)
    assert p.rejects == {
        "bad_json": 1,
        "missing_field": 1,
        "not_finite": 1,
        "bad_price": 1,
        "bad_size": 1,
        "unknown_symbol": 1,
        "skew": 1,
        "duplicate_id": 1,
        "book_crossed": 1,
    }
    assert len(out.dead) == 9 and out.dead[0].raw == b"{not json"
    # the good trades made a bar
    p.flush(out)
    minute = [b for b in out.bars if b.interval == "1m" and b.final]
    assert minute and minute[-1].trades == 2  # the 1 s trade and the first "a"


def test_heartbeat_closes_the_session_bar() -> None:
    p = StreamProcessor(XSHG, grace_ms=1_000)
    out = Output()
    p.handle("trades", batch([M_CLOSE - 5_000], [10.0]), out)
    assert not [b for b in out.bars if b.final]
    p.handle("trades", encode(Heartbeat("600036.SH", M_CLOSE + 1_000)), out)
    finals = {(b.interval, b.time) for b in out.bars if b.final}
    assert ("1m", M_CLOSE - 60_000) in finals and ("120m", OPEN) in finals


def test_book_factors_and_signals() -> None:
    rule = SignalRule(id="obi", factor="obi", buy_above=0.6, sell_below=-0.6)
    p = StreamProcessor(XSHG, rules=[rule])
    out = Output()
    p.handle("quotes", book(OPEN, 100.0, 100.0), out)  # obi 0
    p.handle("quotes", book(OPEN + 3_000, 1_000.0, 10.0), out)  # obi up: buy
    p.handle("quotes", book(OPEN + 6_000, 10.0, 1_000.0), out)  # obi down: sell
    assert [s.side for s in out.signals] == ["buy", "sell"]
    assert {f.name for f in out.factors} >= {"obi", "obi_weighted", "microprice", "spread"}


def test_indicators_on_closed_bars() -> None:
    p = StreamProcessor(XSHG)
    out = Output()
    for k in range(40):
        p.handle("trades", batch([OPEN + k * 60_000 + 1_000], [10.0 + 0.01 * k]), out)
    p.flush(out)
    names = {f.name for f in out.factors if f.interval == "1m"}
    assert {"sma_20", "rsi_14", "macd", "obv", "vwap"} <= names
    sma = [f for f in out.factors if f.name == "sma_20" and f.interval == "1m"]
    assert abs(sma[0].value - np.mean([10.0 + 0.01 * k for k in range(20)])) < 1e-9


def test_snapshot_restore_continues_identically() -> None:
    msgs = [batch([OPEN + k * 20_000 + 500], [10.0 + 0.01 * (k % 7)]) for k in range(120)]
    whole = StreamProcessor(XSHG)
    out_whole = Output()
    for m in msgs:
        whole.handle("trades", m, out_whole)
    whole.flush(out_whole)

    first = StreamProcessor(XSHG)
    out = Output()
    for m in msgs[:50]:
        first.handle("trades", m, out)
    state = checkpoints.decode(checkpoints.encode(first.snapshot()))  # as stored
    second = StreamProcessor(XSHG)
    second.restore(state)
    for m in msgs[50:]:
        second.handle("trades", m, out)
    second.flush(out)

    def finals(o: Output) -> dict:
        return {(b.interval, b.time): b for b in o.bars if b.final}

    assert finals(out) == finals(out_whole)
    last = lambda o: {(f.name, f.interval, f.ts): f.value for f in o.factors}  # noqa: E731
    assert last(out) == last(out_whole)
