"""The runner: checkpoints that make a restart continue exactly, whatever was stored since."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS, INTERVALS
from quantdesk.errors import CheckpointError, ConfigError
from quantdesk.runtime import checkpoint, runner
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store

MIN = 60_000
T0 = 1_767_600_017_000  # 17 s into a minute
M0 = T0 - 17_000  # that minute


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty store's clock starts "now": the same instant for every run here."""
    monkeypatch.setattr(runner, "now_ms", lambda: T0)


def make(tmp: Path, name: str, **settings: object) -> Runner:
    s = load_settings(
        data_dir=tmp / name,
        backfill_days=0,
        seed=11,
        market="us",
        tweets="mock",
        sentiment_rate=0.5,
        checkpoint_seconds=3600.0,  # checkpoints only when the test takes them
        **settings,
    )
    rt = Runner(s, open_store(s.resolved_database_url), test_mode=True, echo=lambda _m: None)
    rt.prepare()
    return rt


def bars(rt: Runner) -> pd.DataFrame:
    rows = [
        row
        for meta in rt.universe
        for interval in INTERVALS
        for row in rt.store.query_bars(meta.symbol, interval)
    ]
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    return frame.sort_values(["symbol", "interval", "time"], ignore_index=True)


KEY = ["symbol", "interval", "time"]
LENGTH = {"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "30m": 30 * MIN, "60m": 60 * MIN}
LENGTH |= {"120m": 120 * MIN, "1d": 1440 * MIN, "1w": 7 * 1440 * MIN, "1M": 31 * 1440 * MIN}


def end(key: tuple[str, str, int]) -> int:
    """A bar's end (test mode: plain UTC buckets; weeks and months: an upper bound)."""
    return key[2] + LENGTH[key[1]]


def advance(rt: Runner, until: int) -> None:
    asyncio.run(rt.run_until(until))


def test_a_restart_rewrites_nothing_and_continues_exactly(tmp_path: Path) -> None:
    # the killed run: a checkpoint at P, then 14 more minutes stored, then SIGKILL (abandoned)
    killed = make(tmp_path, "k")
    start = killed.sim_time
    assert start == T0
    advance(killed, T0 + 9 * MIN + 13_000)
    killed.checkpoint()
    position = killed.sim_time
    advance(killed, T0 + 23 * MIN + 31_000)
    stored = bars(killed).set_index(KEY)
    tweets_before = len(killed.store.query_tweets(limit=5000))

    # the restart continues at P and, until it is past what was stored, changes no row
    again = make(tmp_path, "k")
    assert again.restored and again.sim_time == position
    assert again.catch_up_until == M0 + 24 * MIN  # the end of the newest stored minute
    t = position
    while t < M0 + 24 * MIN:
        t = min(t + 7_000, M0 + 24 * MIN)
        advance(again, t)
        now = bars(again).set_index(KEY).loc[stored.index]
        diff = (now != stored).any(axis=1)
        assert not diff.any(), (t, pd.concat([now[diff], stored[diff]]).to_string())
    advance(again, t + 1)
    assert again.catch_up_until is None  # past it: open bars are written again
    advance(again, T0 + 40 * MIN)
    asyncio.run(again.shutdown())
    restarted = bars(again)
    # the bars that were final at the kill never changed, not even in the last bit
    was_final = stored[[end(k) + MIN <= M0 + 23 * MIN for k in stored.index]]
    assert len(was_final) > 100
    now = restarted.set_index(KEY).loc[was_final.index]
    pd.testing.assert_frame_equal(now, was_final, check_exact=True)
    # the tweets made again are the same tweets (stored once, by id)
    assert len(again.store.query_tweets(limit=5000)) > tweets_before

    # ... and the result equals one uninterrupted run: the same trades in every bar (VWAP:
    # float sums over differently sliced trades may differ in the last bits)
    whole = make(tmp_path, "w")
    for k in range(1, 41):
        advance(whole, T0 + k * MIN - 23_000)
    advance(whole, T0 + 40 * MIN)
    asyncio.run(whole.shutdown())
    reference = bars(whole)
    pd.testing.assert_frame_equal(
        restarted.drop(columns="vwap"), reference.drop(columns="vwap"), check_exact=True
    )
    assert np.allclose(restarted["vwap"], reference["vwap"], rtol=1e-12, atol=0)
    assert again.store.query_tweets(limit=5000) == whole.store.query_tweets(limit=5000)
    for rt in (killed, again, whole):
        rt.store.close()


def test_a_checkpoint_of_another_run_is_ignored(tmp_path: Path) -> None:
    first = make(tmp_path, "x")
    advance(first, T0 + 5 * MIN)
    asyncio.run(first.shutdown())
    first.store.close()
    said: list[str] = []
    s = load_settings(data_dir=tmp_path / "x", backfill_days=0, seed=11, market="us")
    store = open_store(s.resolved_database_url)
    other = Runner(s, store, symbols=["AAPL", "MSFT"], test_mode=True, echo=said.append)
    other.prepare()
    assert not other.restored
    assert any(m.startswith("Checkpoint ignored: the last run had another") for m in said)
    store.close()


def test_the_checkpoint_is_data(tmp_path: Path) -> None:
    rt = make(tmp_path, "d")
    advance(rt, T0 + 3 * MIN)
    rt.checkpoint()
    saved = rt.store.load_checkpoint(checkpoint.GROUP, checkpoint.topic("simulator"), 0)
    assert saved is not None and saved[0] == rt.sim_time
    state = saved[1]
    assert state["v"] == 1 and state["position"] == rt.sim_time and state["spec"] == "simulator"
    assert set(state["processor"]) >= {"bars", "indicators", "signals", "sentiment"}
    with rt.store.engine.connect() as conn:  # JSON in the row, nothing that runs code
        raw = conn.exec_driver_sql("SELECT state FROM stream_checkpoints").scalar_one()
    assert bytes(raw).startswith(b'{"format":"quantdesk.checkpoint/1"')
    # a row of another format version is refused in one line (the run starts without it)
    rt.store.save_checkpoint(checkpoint.GROUP, checkpoint.topic("simulator"), 0, 1, {"v": 9})
    with pytest.raises(CheckpointError, match="another format version"):
        checkpoint.load(rt.store, "simulator")
    rt.store.close()


def test_bad_clock_and_speed_are_one_line(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path)
    store = open_store(s.resolved_database_url)
    with pytest.raises(ConfigError, match="--clock: use virtual or wall"):
        Runner(s, store, clock="sundial")
    with pytest.raises(ConfigError, match="--speed: must be >= 0"):
        Runner(s, store, speed=-1)
    with pytest.raises(ConfigError, match=r"--speed 0 .* needs --clock virtual"):
        Runner(s, store, speed=0, clock="wall")
    store.close()


def test_the_stream_runs_on_one_thread_of_its_own(tmp_path: Path) -> None:
    """Steps, checkpoints and the close all run on the runner's stream thread, never on
    the loop's shared executor (issue 16: its threads took turns at the stream's work,
    each with a malloc arena of its own, and the run's memory grew with every arena)."""
    rt = make(tmp_path, "t")
    threads: set[tuple[int, str]] = set()

    def where(*_args: object) -> None:
        t = threading.current_thread()
        threads.add((t.ident or 0, t.name))

    rt.output_listeners.append(where)
    checkpoint_then = rt.checkpoint

    def checkpoint_here() -> None:
        where()
        checkpoint_then()

    rt.checkpoint = checkpoint_here  # type: ignore[method-assign]

    async def go() -> None:
        # others at work on the loop's executor meanwhile
        busy = [asyncio.create_task(asyncio.to_thread(time.sleep, 0.05)) for _ in range(4)]
        for k in range(1, 6):
            await rt.run_until(T0 + k * MIN)
        await asyncio.gather(*busy)
        await rt.shutdown()

    asyncio.run(go())
    rt.store.close()
    assert len(threads) == 1
    ((ident, name),) = threads
    assert name.startswith("quantdesk-stream") and ident != threading.main_thread().ident
