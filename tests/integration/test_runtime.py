"""The embedded runtime: backfill on an empty store, live bars, restart without loss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd

from quantdesk.bars import rollup_bars
from quantdesk.config import load_settings
from quantdesk.domain import BAR_COLUMNS
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store

MIN = 60_000


def make_runtime(tmp: Path, name: str) -> Runner:
    settings = load_settings(data_dir=tmp / name, backfill_days=2, seed=7)
    store = open_store(settings.resolved_database_url)
    return Runner(settings, store, echo=lambda _msg: None)


def live_bars(rt: Runner, since: int) -> pd.DataFrame:
    rows = []
    for meta in rt.universe:
        for interval in ("1m", "5m", "60m", "1d"):
            rows += rt.store.query_bars(meta.symbol, interval, since, None, 10_000)
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS)).sort_values(
        ["symbol", "interval", "time"], ignore_index=True
    )


def test_restart_loses_nothing(tmp_path: Path) -> None:
    # One uninterrupted run of 40 simulated minutes ...
    a = make_runtime(tmp_path, "a")
    a.prepare()
    start = a.clock.start
    assert a.store.count_bars() > 0  # backfilled on the empty store

    async def uninterrupted() -> None:
        for k in range(1, 41):
            await a.run_until(start + k * MIN - 17_000)
        await a.shutdown()

    asyncio.run(uninterrupted())

    # ... equals two runs of 20 minutes with a stop (mid-minute) in between.
    b = make_runtime(tmp_path, "b")
    b.prepare()
    assert b.clock.start == start

    async def first_half() -> None:
        for k in range(1, 21):
            await b.run_until(start + k * MIN - 17_000)
        await b.shutdown()

    asyncio.run(first_half())
    b.store.close()
    b2 = make_runtime(tmp_path, "b")
    b2.prepare()
    resumed = b2.clock.start
    assert resumed > start

    async def second_half() -> None:
        for k in range(1, 41):
            t = start + k * MIN - 17_000
            if t > resumed:
                await b2.run_until(t)
        await b2.shutdown()

    asyncio.run(second_half())
    got_a, got_b = live_bars(a, start), live_bars(b2, start)
    minutes_a = got_a[got_a.interval == "1m"]
    minutes_b = got_b[got_b.interval == "1m"]
    # no lost and no doubled minute: every symbol has every minute once, on both runs
    for minutes in (minutes_a, minutes_b):
        per_symbol = minutes.groupby("symbol")["time"]
        assert (per_symbol.nunique() == per_symbol.size()).all()
        assert (per_symbol.diff().dropna() == MIN).all()
        assert per_symbol.size().min() >= 39
    # before the stop both runs are the same market
    before = minutes_a[minutes_a.time < resumed - MIN]
    same = minutes_b[minutes_b.time < resumed - MIN]
    pd.testing.assert_frame_equal(before, same, check_dtype=False)
    # across the restart every larger bar still equals the roll-up of its 1m bars
    rolled = rollup_bars(minutes_b, ["5m", "60m", "1d"], calendar=b2.calendar)
    stored = got_b[got_b.interval != "1m"]
    merged = stored.merge(rolled, on=["symbol", "interval", "time"], suffixes=("", "_r"))
    assert len(merged) == len(stored) == len(rolled)
    for col in ("open", "high", "low", "close", "volume", "trades"):
        assert (merged[col] == merged[col + "_r"]).all(), col
    # the simulator state was saved and the market status recorded
    assert b2.store.load_states()
    assert b2.store.get_market_status("cn") is not None
