"""SIGKILL of `quantdesk run` at random moments, repeatedly, on SQLite and PostgreSQL.

Each backend gets one store and a series of `quantdesk run --speed 600 --no-api`
processes (simulated A-shares in sessions, mocked tweets): each is killed with
SIGKILL at a random moment (start-up included), the store is read, and the next
one starts over the same store; the last one stops with SIGTERM. Then:

* no stored bar that was final at a kill (a later minute of its symbol was
  stored) ever changed afterwards;
* every stored 1m bar equals the minute the simulator generated for that seed
  (an uninterrupted simulator from the first live minute, its trades summed
  per minute): same open, high, low, close, trade count and volume, so no
  trade was counted twice or lost;
* every larger bar (5m ... 1d) equals the roll-up of its stored 1m bars.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantdesk.bars import rollup_bars, rollup_periods
from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS, INTERVALS, PERIOD_INTERVALS, SESSION_INTERVALS, Trade
from quantdesk.sources.simulator import MarketSimulator, SimulatorParams, default_universe
from quantdesk.storage import open_store

SEED = 20_240_318
KILLS = 4
MIN = 60_000
XSHG = get_calendar("XSHG")
UNIVERSE = default_universe("cn")
KEY = ["symbol", "interval", "time"]
VALUES = ["open", "high", "low", "close", "volume", "vwap", "trades"]


def all_bars(url: str) -> pd.DataFrame:
    rows: list[Any] = []
    with open_store(url) as store:
        for meta in UNIVERSE:
            for interval in INTERVALS:
                rows += store.query_bars(meta.symbol, interval)
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    return frame.sort_values(KEY, ignore_index=True)


def final_at(frame: pd.DataFrame, ends: dict[tuple[str, str, int], int]) -> pd.DataFrame:
    """The bars of a snapshot that were final: a 1m bar of their symbol a minute past their
    end is stored (so trades after their end were processed and written)."""
    minutes = frame[frame.interval == "1m"].groupby("symbol")["time"].max().to_dict()
    keep = [
        ends.get((r.symbol, r.interval, r.time), 1 << 62) + MIN <= minutes.get(r.symbol, -1)
        for r in frame.itertuples()
    ]
    return frame[keep]


def bucket_ends(frame: pd.DataFrame) -> dict[tuple[str, str, int], int]:
    """An upper bound of each bar's end: the start of the next bar of its series (1m: +1m)."""
    ends: dict[tuple[str, str, int], int] = {}
    for (symbol, interval), group in frame.groupby(["symbol", "interval"]):
        times = group["time"].tolist()
        for a, b in zip(times, [*times[1:], 1 << 62], strict=True):
            ends[(symbol, interval, a)] = a + MIN if interval == "1m" else b
    return ends


def reference_minutes(first: int, end: int) -> pd.DataFrame:
    """What the simulator generated, uninterrupted: its trades summed per symbol-minute."""
    sim = MarketSimulator(UNIVERSE, XSHG, seed=SEED, start_ms=first, params=SimulatorParams())
    acc: dict[tuple[str, int], list[float]] = defaultdict(list)
    prices: dict[tuple[str, int], list[float]] = defaultdict(list)
    for ev in sim.advance(end):
        if isinstance(ev, Trade):
            key = (ev.symbol, ev.ts // MIN * MIN)
            acc[key].append(ev.size)
            prices[key].append(ev.price)
    rows = []
    for (symbol, minute), sizes in acc.items():
        p = prices[(symbol, minute)]
        volume = float(sum(sizes))
        vwap = float(np.dot(p, sizes) / volume)
        rows.append((symbol, minute, p[0], max(p), min(p), p[-1], volume, vwap, len(p)))
    cols = ["symbol", "time", "open", "high", "low", "close", "volume", "vwap", "trades"]
    return pd.DataFrame(rows, columns=cols).sort_values(["symbol", "time"], ignore_index=True)


def start_run(tmp: Path, url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QUANTDESK_DATA_DIR": str(tmp / "data"),
        "QUANTDESK_DATABASE_URL": url,
        "QUANTDESK_BACKFILL_DAYS": "0",
        "QUANTDESK_SEED": str(SEED),
        "QUANTDESK_MARKET": "cn",
        "QUANTDESK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "quantdesk", "run", "--speed", "600", "--no-api"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Run:
    """A `quantdesk run` process whose output is read as it comes."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.proc = start_run(tmp, url)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, "".join(self.lines)
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)

    def end(self, sig: signal.Signals) -> tuple[int, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self.reader.join(10)
        return code, "".join(self.lines)


def newest_minute(url: str) -> int:
    with open_store(url) as store:
        return store.last_bar_time("1m") or 0


def wait_progress(url: str, since: int, timeout: float = 60.0) -> None:
    """Until the run stores a minute after ``since`` (on a busy machine start-up is slow)."""
    deadline = time.monotonic() + timeout
    while newest_minute(url) <= since:
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.1)


def kill_repeatedly(tmp: Path, url: str) -> tuple[list[pd.DataFrame], str]:
    """KILLS runs killed at random moments (one in four during start-up, the others a
    random 0-4 s, up to 40 simulated minutes, after they stored a new minute), then one
    stopped with SIGTERM."""
    rng = random.Random(SEED)
    snapshots: list[pd.DataFrame] = []
    outputs: list[str] = []
    for k in range(KILLS):
        before = newest_minute(url)
        run = Run(tmp, url)
        if k % 4 == 1:
            time.sleep(rng.uniform(0.2, 1.5))  # within the start-up
        else:
            run.wait_for("Tweets:")  # the pipeline is up
            wait_progress(url, before)
            time.sleep(rng.uniform(0.0, 4.0))
        code, out = run.end(signal.SIGKILL)
        outputs.append(out)
        assert code == -signal.SIGKILL, out
        snapshots.append(all_bars(url))
    before = newest_minute(url)
    run = Run(tmp, url)
    run.wait_for("Tweets:")
    wait_progress(url, before)
    time.sleep(2.0)
    code, out = run.end(signal.SIGTERM)
    assert code == 0, out
    assert "Stopped cleanly." in out and "Checkpoint: continuing at" in out, out
    return snapshots, "\n".join([*outputs, out])


def check(snapshots: list[pd.DataFrame], final: pd.DataFrame) -> dict[str, int]:
    minutes = final[final.interval == "1m"]
    first, last = int(minutes.time.min()), int(minutes.time.max())
    assert minutes.groupby("symbol").size().min() >= 30  # half an hour of trading at least

    # 1. no stored final bar changed after a kill
    ends = bucket_ends(final)
    indexed = final.set_index(KEY)
    checked = 0
    for snap in snapshots:
        done = final_at(snap, ends).set_index(KEY)
        later = indexed.loc[done.index]
        pd.testing.assert_frame_equal(done[VALUES], later[VALUES], check_exact=True)
        checked += len(done)
    assert checked > 0

    # 2. every 1m bar is the simulator's minute: nothing lost, nothing counted twice
    truth = reference_minutes(first, last + MIN)
    got = minutes.sort_values(["symbol", "time"], ignore_index=True)
    assert len(got) == len(truth)
    for col in ("symbol", "time", "open", "high", "low", "close", "volume", "trades"):
        assert (got[col].to_numpy() == truth[col].to_numpy()).all(), col
    assert np.allclose(got["vwap"], truth["vwap"], rtol=1e-9, atol=0)

    # 3. every roll-up equals its 1m bars (weeks and months: their 1d bars)
    rolled = rollup_bars(minutes, [i for i in SESSION_INTERVALS if i != "1m"], XSHG)
    days = final[final.interval == "1d"]
    if not days.empty:
        periods = rollup_periods(days, list(PERIOD_INTERVALS), XSHG)
        stored_periods = final[final.interval.isin(PERIOD_INTERVALS)]
        rolled = pd.concat([rolled, periods[periods.time.isin(stored_periods.time)]])
    stored = final[final.interval != "1m"]
    merged = stored.merge(rolled, on=KEY, suffixes=("", "_r"))
    assert len(merged) == len(stored) == len(rolled)
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert (merged[col] == merged[col + "_r"]).all(), col
    assert np.allclose(merged["vwap"], merged["vwap_r"], rtol=1e-9, atol=0)
    return {
        "kills": len(snapshots),
        "minutes": int(minutes.groupby("symbol").size().min()),
        "final_bars_checked_across_kills": checked,
        "minute_bars_vs_simulator": len(got),
        "rollups_checked": len(merged),
    }


@pytest.mark.timeout(300)
def test_sigkill_rewrites_nothing_and_counts_nothing_twice_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'kill.db').as_posix()}"
    snapshots, _ = kill_repeatedly(tmp_path, url)
    print("sqlite", check(snapshots, all_bars(url)))


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_sigkill_rewrites_nothing_and_counts_nothing_twice_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    snapshots, _ = kill_repeatedly(tmp_path, pg_url)
    print("postgres", check(snapshots, all_bars(pg_url)))
