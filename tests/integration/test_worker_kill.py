"""Scale-out for real: two `quantdesk worker` processes, one SIGKILLed mid-stream.

A producer publishes 30 minutes of simulated A-share trades and book
snapshots onto a real Kafka-protocol broker (Tansu) while two worker
processes share the partitions. One is killed with SIGKILL halfway; its
partitions move to the survivor, which continues from the dead worker's last
checkpoint. The stored bars must equal those of one uninterrupted
single-process run over the same messages: none lost, none doubled, none
wrong.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pandas as pd

from quantdesk.bus import Heartbeat, Topics, TradeBatch, encode
from quantdesk.bus.kafka import KafkaBus
from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS, INTERVALS, PERIOD_INTERVALS, BookSnapshot, Trade
from quantdesk.runtime.pipeline import Output, StreamProcessor
from quantdesk.sources.simulator import MarketSimulator, default_universe
from quantdesk.storage import open_store

XSHG = get_calendar("XSHG")
DAY = dt.date(2026, 11, 20)
(OPEN, M_CLOSE), (A_OPEN, CLOSE) = XSHG.day_segments(DAY)
MINUTES = 30
SLICE_MS = 5_000


def market_messages() -> list[tuple[str, str, bytes]]:
    """(topic kind, key, payload) in publish order: 5-second slices of the market."""
    universe = default_universe("cn")
    sim = MarketSimulator(universe, XSHG, seed=11, start_ms=OPEN)
    out: list[tuple[str, str, bytes]] = []
    t = OPEN
    while t < OPEN + MINUTES * 60_000:
        t += SLICE_MS
        trades: dict[str, list[Trade]] = {}
        for ev in sim.advance(t):
            if isinstance(ev, BookSnapshot):
                out.append(("quotes", ev.symbol, encode(ev)))
            else:
                trades.setdefault(ev.symbol, []).append(ev)
        for group in trades.values():
            for batch in TradeBatch.from_trades(group):
                out.append(("trades", batch.symbol, encode(batch)))
    for meta in universe:  # the day is over: every bar can close
        out.append(("trades", meta.symbol, encode(Heartbeat(meta.symbol, CLOSE + 5_000))))
    return out


def reference_bars(messages: list[tuple[str, str, bytes]]) -> pd.DataFrame:
    processor = StreamProcessor(XSHG, {m.symbol for m in default_universe("cn")})
    out = Output()
    for kind, _, raw in messages:
        processor.handle(kind, raw, out)
    # final bars, and the open week and month as of the day's close (never final here)
    latest = {
        (b.symbol, b.interval, b.time): b
        for b in out.bars
        if b.final or b.interval in PERIOD_INTERVALS
    }
    return frame([b.as_row() for b in latest.values()])


def frame(rows: list) -> pd.DataFrame:
    return (
        pd.DataFrame(rows, columns=list(BAR_COLUMNS))
        .sort_values(["symbol", "interval", "time"])
        .reset_index(drop=True)
    )


def stored_bars(url: str) -> pd.DataFrame:
    rows = []
    with open_store(url) as store:
        for meta in default_universe("cn"):
            for interval in INTERVALS:
                # a week or month starts at its first session, before OPEN at times
                rows += store.query_bars(
                    meta.symbol, interval, OPEN - 40 * 86_400_000, CLOSE, 10_000
                )
    return frame(rows)


def start_worker(env: dict[str, str], name: str, group: str) -> subprocess.Popen[str]:
    # a group of its own: members that earlier tests left in the default group
    # on the same broker would hold its rebalance until their sessions expire
    return subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "worker", "--group", group],
        env={**env, "QUANTDESK_WORKER_NAME": name},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_sigkill_mid_stream_loses_nothing(kafka_broker: str, pg_url: str) -> None:
    messages = market_messages()
    expected = reference_bars(messages)
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    topics = Topics.with_prefix(prefix)
    env = {
        **os.environ,
        "QUANTDESK_BUS": "kafka",
        "QUANTDESK_KAFKA_BOOTSTRAP": kafka_broker,
        "QUANTDESK_BUS_TOPIC_PREFIX": prefix,
        "QUANTDESK_DATABASE_URL": pg_url,
        "QUANTDESK_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "QUANTDESK_CHECKPOINT_SECONDS": "0.3",
        "QUANTDESK_LOG_LEVEL": "WARNING",
    }
    producer = KafkaBus(kafka_broker, topics=topics, session_timeout_ms=3000)
    producer.start()
    with open_store(pg_url) as store:
        store.migrate()
    a = start_worker(env, "a", f"{prefix}-stream")
    b = start_worker(env, "b", f"{prefix}-stream")
    try:
        time.sleep(4.0)  # both join the group and split the partitions
        done = threading.Event()

        def publish() -> None:
            chunk = max(1, len(messages) // 40)
            for i in range(0, len(messages), chunk):
                for kind, key, raw in messages[i : i + chunk]:
                    producer.publish(getattr(topics, kind), key, raw)
                producer.flush()
                time.sleep(0.15)
            done.set()

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        try:
            eventually(lambda: len(stored_bars(pg_url)) > 50, 30, "the workers store bars")
        except AssertionError:
            for proc in (a, b):
                proc.send_signal(signal.SIGTERM)
            logs = [proc.communicate(timeout=30)[0] for proc in (a, b)]
            raise AssertionError(f"no bars stored; worker logs: {logs}") from None
        a.send_signal(signal.SIGKILL)  # mid-stream, no goodbye, no final checkpoint
        a.wait(timeout=10)
        thread.join(timeout=60)
        assert done.is_set()

        def complete() -> bool:
            got = stored_bars(pg_url)
            return len(got) == len(expected) and bool(
                (
                    got[["volume", "trades"]].to_numpy()
                    == expected[["volume", "trades"]].to_numpy()
                ).all()
            )

        eventually(complete, 90, "the survivor finishes every bar")
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        out_b, _ = b.communicate(timeout=30)
        out_a, _ = a.communicate(timeout=10)
        producer.close()
    got = stored_bars(pg_url)
    assert b.returncode == 0, out_b
    assert "assigned" in out_a and "assigned" in out_b, (out_a, out_b)  # both had partitions
    pd.testing.assert_frame_equal(
        got.drop(columns="vwap"), expected.drop(columns="vwap"), check_dtype=False
    )
    assert (got["vwap"] - expected["vwap"]).abs().max() < 1e-9
    assert len(expected[expected.interval == "1m"]) == 10 * MINUTES
