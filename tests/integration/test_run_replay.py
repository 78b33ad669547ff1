"""`quantdesk run --source replay:PATH`: a tick capture of a live run, replayed through the
same runner, gives the same bars as the live run did."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS, INTERVALS
from quantdesk.runtime import runner
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store

MIN = 60_000
T0 = 1_767_600_017_000
ROOT = Path(__file__).resolve().parents[2]


def bars(url: str, symbols: list[str]) -> pd.DataFrame:
    with open_store(url) as store:
        rows = [r for s in symbols for i in INTERVALS for r in store.query_bars(s, i)]
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS)).drop(columns="source")
    return frame.sort_values(["symbol", "interval", "time"], ignore_index=True)


@pytest.mark.timeout(120)
def test_a_replayed_capture_gives_the_bars_of_the_live_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "now_ms", lambda: T0)
    live_dir = tmp_path / "live"
    settings = load_settings(
        data_dir=live_dir, backfill_days=0, market="us", tweets="none", capture_ticks=True
    )
    store = open_store(settings.resolved_database_url)
    live = Runner(settings, store, test_mode=True, echo=lambda _m: None)
    live.prepare()
    for k in range(1, 21):
        asyncio.run(live.run_until(T0 + k * MIN - 11_000))
    asyncio.run(live.shutdown())  # completes the minute, flushes the capture
    store.close()
    symbols = [m.symbol for m in live.universe]
    live_url = settings.resolved_database_url

    replay_url = f"sqlite:///{(tmp_path / 'replay.db').as_posix()}"
    env = {
        **os.environ,
        "QUANTDESK_DATABASE_URL": replay_url,
        "QUANTDESK_DATA_DIR": str(tmp_path / "replay"),
        "QUANTDESK_TWEETS": "none",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "quantdesk", "run", "--source", f"replay:{live_dir / 'ticks'}"]
    cmd += ["--market", "us", "--test", "--no-api", "--speed", "100000"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Source: replay of" in done.stdout and "Source finished" in done.stdout
    assert "Stopped cleanly." in done.stdout

    a, b = bars(live_url, symbols), bars(replay_url, symbols)
    last = int(a[a.interval == "1m"].time.max())
    # every bar that closed before the live run's last minute is the same bar
    length = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60, "120m": 120, "1d": 1440}

    def closed(f: pd.DataFrame) -> pd.DataFrame:  # test mode: plain UTC buckets
        return f[f.time + f.interval.map(length) * MIN <= last].reset_index(drop=True)

    a, b = closed(a), closed(b)
    assert len(a) > 200 and set(a.interval) == {"1m", "5m", "15m"}
    pd.testing.assert_frame_equal(a.drop(columns="vwap"), b.drop(columns="vwap"), check_exact=True)
    assert np.allclose(a["vwap"], b["vwap"], rtol=1e-12, atol=0)
    with open_store(replay_url) as replayed:
        assert {r[10] for r in replayed.query_bars(symbols[0], "1m")} == {"replay"}
