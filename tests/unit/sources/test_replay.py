"""Capture a simulated session to Parquet; replaying it gives the live run's bars."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from quantdesk.bus import Heartbeat, TradeBatch, encode
from quantdesk.bus.codec import Encodable
from quantdesk.calendars import get_calendar
from quantdesk.capture import TickCapture
from quantdesk.config import load_settings
from quantdesk.domain import Bar, BookSnapshot, Trade
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.sources.replay import ReplaySource, read_events
from quantdesk.sources.simulator import MarketSimulator, default_universe

XSHG = get_calendar("XSHG")
DAY = dt.date(2026, 11, 20)
(OPEN, M_CLOSE), (A_OPEN, A_CLOSE) = XSHG.day_segments(DAY)
UNIVERSE = default_universe("cn")[:3]
SYMBOLS = {m.symbol for m in UNIVERSE}


def topic_of(obj: Encodable) -> str:
    return "quotes" if isinstance(obj, BookSnapshot) else "trades"


class Feed:
    """Messages -> encoded -> a StreamProcessor; keeps every final bar (last version wins)."""

    def __init__(self) -> None:
        self.processor = StreamProcessor(XSHG, SYMBOLS)
        self.final: dict[tuple[str, str, int], tuple] = {}
        self.messages = 0

    def send(self, obj: Encodable) -> None:
        out = Output()
        self.processor.handle(topic_of(obj), encode(obj), out)
        self._keep(out.bars)
        self.messages += 1

    def finish(self) -> dict[tuple[str, str, int], tuple]:
        out = Output()
        self.processor.flush(out)
        self._keep(out.bars)
        return self.final

    def _keep(self, bars: list[Bar]) -> None:
        for b in bars:
            if b.final:
                self.final[(b.symbol, b.interval, b.time)] = b.as_row()


def live_session(capture: TickCapture, start: int, end: int, step: int) -> Feed:
    """Publish as the embedded runtime does (books, trade batches, heartbeats per slice)."""
    sim = MarketSimulator(UNIVERSE, XSHG, seed=11, start_ms=start)
    live = Feed()
    t = start
    while t < end:
        t = min(end, t + step)
        events = sim.advance(t)
        capture.write(events)
        by_symbol: dict[str, list[Trade]] = defaultdict(list)
        for ev in events:
            if isinstance(ev, Trade):
                by_symbol[ev.symbol].append(ev)
            else:
                live.send(ev)
        for trades in by_symbol.values():
            for batch in TradeBatch.from_trades(trades):
                live.send(batch)
        for meta in UNIVERSE:
            live.send(Heartbeat(meta.symbol, t))
    return live


def test_replay_gives_the_live_bars(tmp_path: Path) -> None:
    root = tmp_path / "ticks"
    # across the lunch break: 11:10 .. 13:20 (live slices of 45 s, replay slices of 60 s)
    start, end = M_CLOSE - 20 * 60_000, A_OPEN + 20 * 60_000
    with TickCapture(root, batch_rows=5_000, tz="Asia/Shanghai") as capture:
        live = live_session(capture, start, end, 45_000)
    live_bars = live.finish()
    assert capture.rows_written > 1_000 and capture.files_written > 3

    # the replay source, stepped as the runner steps a clocked source
    source = ReplaySource(root, load_settings(), "cn")
    assert {m.symbol for m in source.universe} == SYMBOLS
    assert source.calendar is not None and source.calendar.name == "XSHG"
    replayed = Feed()
    t = source.resume_time(None)
    assert t is not None and t >= start
    while not source.finished:
        t += 60_000
        by_symbol: dict[str, list[Trade]] = defaultdict(list)
        for ev in source.step(t):
            if isinstance(ev, Trade):
                by_symbol[ev.symbol].append(ev)
            else:
                replayed.send(ev)
        for trades in by_symbol.values():
            for batch in TradeBatch.from_trades(trades):
                replayed.send(batch)
        for symbol in sorted(SYMBOLS):
            replayed.send(Heartbeat(symbol, t))
    replay_bars = replayed.finish()

    assert len(live_bars) > 100
    assert {k[1] for k in live_bars} >= {"1m", "5m", "60m"}
    assert replay_bars.keys() == live_bars.keys()
    for key, row in live_bars.items():
        got = replay_bars[key]
        assert got[:8] + got[9:] == row[:8] + row[9:], key
        assert abs(got[8] - row[8]) <= 1e-12 * row[8]  # VWAP: float sums of other slices
    assert replayed.processor.rejects == live.processor.rejects


def test_a_restored_replay_continues_at_the_next_event(tmp_path: Path) -> None:
    root = tmp_path / "ticks"
    with TickCapture(root) as capture:
        live_session(capture, OPEN, OPEN + 5 * 60_000, 60_000)
    whole = ReplaySource(root, load_settings(), "cn")
    expected = whole.step(OPEN + 10 * 60_000)
    first = ReplaySource(root, load_settings(), "cn")
    got = first.step(OPEN + 150_000)
    state = first.snapshot()
    again = ReplaySource(root, load_settings(), "cn")
    again.restore(state)
    got += again.step(OPEN + 10 * 60_000)
    assert got == expected and again.finished


def test_capture_layout_and_event_order(tmp_path: Path) -> None:
    root = tmp_path / "ticks"
    with TickCapture(root, batch_rows=100) as capture:
        live_session(capture, OPEN, OPEN + 3 * 60_000, 60_000)
    parts = sorted(root.glob("trades/date=*/symbol=*/part-*.parquet"))
    books = sorted(root.glob("books/date=*/symbol=*/part-*.parquet"))
    assert parts and books
    day = DAY.isoformat()  # 09:30 Shanghai is still the same UTC date
    assert {p.parent.name for p in parts} == {f"symbol={s}" for s in SYMBOLS}
    assert {p.parent.parent.name for p in parts} == {f"date={day}"}
    table = pq.read_table(parts[0])
    assert table.column_names == ["symbol", "ts", "price", "size", "trade_id", "source"]
    events = list(read_events(root))
    ts = [e.ts for e in events]
    assert ts == sorted(ts)
    assert any(isinstance(e, BookSnapshot) for e in events)
    only = list(read_events(root / "trades", symbols={"600036.SH"}))
    assert only and all(isinstance(e, Trade) and e.symbol == "600036.SH" for e in only)


def test_cli_replay_stores_the_live_bars(tmp_path: Path, monkeypatch) -> None:
    """``quantdesk replay`` runs the capture through the runner (source ``replay``)."""
    from typer.testing import CliRunner

    from quantdesk.commands.capture import app
    from quantdesk.storage import open_store

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "ticks"
    with TickCapture(root) as capture:
        live = live_session(capture, OPEN, OPEN + 10 * 60_000, 60_000)
    live_bars = live.finish()
    env = {"QUANTDESK_DATA_DIR": str(tmp_path / "db"), "QUANTDESK_BUS": "memory"}
    res = CliRunner().invoke(app, ["replay", str(root), "--speed", "0"], env=env)
    assert res.exit_code == 0, res.output
    assert "replayed" in res.output
    store = open_store(f"sqlite:///{tmp_path / 'db' / 'quantdesk.db'}")
    stored = {
        (r[0], r[1], r[2]): r for s in SYMBOLS for i in ("1m", "5m") for r in store.query_bars(s, i)
    }
    store.close()
    want = {k: v for k, v in live_bars.items() if k[1] in ("1m", "5m")}
    assert stored.keys() >= want.keys() and len(want) > 30
    for key, row in want.items():
        got = stored[key]
        assert got[:8] + got[9:10] == row[:8] + row[9:10], key  # OHLCV and trades
        assert abs(got[8] - row[8]) <= 1e-12 * row[8]  # VWAP (float sums of other slices)
        assert got[10] == "replay"
