"""A backfill never rewrites stored bars (without --clear), on SQLite and PostgreSQL.

It continues the stored path from ``stock_state``, fills only what is
missing (the rest of a day a live run stopped in, later days), or refuses
with one line naming ``--clear``; and every roll-up still equals its 1m bars.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.backfill.run import run_backfill
from quantdesk.bars import aggregate_trades, rollup_bars
from quantdesk.calendars import get_calendar
from quantdesk.config import Settings, load_settings
from quantdesk.domain import BAR_COLUMNS, Trade
from quantdesk.errors import HistoryConflictError
from quantdesk.runtime import checkpoint
from quantdesk.sources.simulator import MarketSimulator, SimulatorParams, default_universe
from quantdesk.storage import Store

CAL = get_calendar("XSHG")
#: "now": Friday 2026-11-20 after the close (the window ends that day)
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)  # three trading days later


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path)


def _bars(store: Store, interval: str = "1m") -> pd.DataFrame:
    rows = [
        row
        for m in default_universe("cn")
        for row in store.query_bars(m.symbol, interval, None, None, None)
    ]
    return pd.DataFrame(rows, columns=list(BAR_COLUMNS))


def _all(store: Store) -> pd.DataFrame:
    return pd.concat([_bars(store, i) for i in ("1m", "5m", "30m", "60m", "1d")])


def _assert_rollups_match(store: Store) -> None:
    minute = _bars(store, "1m")
    expected = rollup_bars(minute, calendar=CAL).set_index(["symbol", "interval", "time"])
    for interval in ("5m", "15m", "30m", "60m", "120m", "1d"):
        stored = _bars(store, interval).set_index(["symbol", "interval", "time"])
        want = expected.loc[stored.index]
        for col in ("open", "high", "low", "close", "volume", "trades"):
            assert np.allclose(stored[col], want[col]), (interval, col)


def test_same_window_twice_changes_nothing(store: Store, settings: Settings) -> None:
    run_backfill(store, settings, days=3, now=NOW)
    before = _all(store)
    report = run_backfill(store, settings, days=3, now=NOW)
    assert (report.bars_1m, report.up_to_date) == (0, 10)
    pd.testing.assert_frame_equal(_all(store), before)
    one = run_backfill(store, settings, days=2, now=NOW, symbol="600036.SH")  # the case
    assert one.bars_1m == 0
    pd.testing.assert_frame_equal(_all(store), before)


def test_days_before_the_stored_history_are_refused(store: Store, settings: Settings) -> None:
    run_backfill(store, settings, days=2, now=NOW)
    before = _all(store)
    with pytest.raises(HistoryConflictError) as info:
        run_backfill(store, settings, days=4, now=NOW)
    message = str(info.value)
    assert "stored bars start on 2026-11-19" in message and "--clear" in message
    assert "\n" not in message
    pd.testing.assert_frame_equal(_all(store), before)
    checkpoint.save(store, "simulator", 1, {"position": 1})  # a run's resume point
    cleared = run_backfill(store, settings, days=4, now=NOW, clear=True)  # --clear replaces
    assert cleared.bars_1m == 4 * 240 * 10
    assert checkpoint.load(store, "simulator") is None  # a run restarts from the new bars


def test_later_days_continue_the_stored_path(store: Store, settings: Settings) -> None:
    run_backfill(store, settings, days=2, now=NOW)
    before = _all(store)
    last_close = _bars(store).groupby("symbol")["close"].last()
    report = run_backfill(store, settings, days=4, now=LATER)  # 2 stored + 3 later - 1 older
    assert report.continued == 10 and report.bars_1m == 3 * 240 * 10
    after = _all(store).set_index(["symbol", "interval", "time"])
    old = before.set_index(["symbol", "interval", "time"])
    pd.testing.assert_frame_equal(after.loc[old.index], old)  # nothing stored was rewritten
    first_new = (
        _bars(store)[lambda f: f["time"] > int(before["time"].max())]
        .groupby("symbol")["open"]
        .first()
    )
    jump = (first_new / last_close - 1).abs()
    assert float(jump.max()) < 0.12  # the path goes on (an overnight gap at most)
    _assert_rollups_match(store)


def test_the_rest_of_a_day_a_live_run_stopped_in(store: Store, settings: Settings) -> None:
    run_backfill(store, settings, days=2, now=NOW)
    universe = default_universe("cn")
    # a live run goes on from the stored state into Monday morning and stops at 10:17
    states = store.load_states()
    start = max(s.time for s in states.values()) + 60_000
    sim = MarketSimulator(
        universe,
        CAL,
        seed=settings.seed,
        params=SimulatorParams.from_settings(settings),
        states=states,
        start_ms=start,
    )
    stop = int(dt.datetime(2026, 11, 23, 2, 17, tzinfo=dt.UTC).timestamp() * 1000)  # 10:17
    trades = [e for e in sim.advance(stop) if isinstance(e, Trade)]
    frame = pd.DataFrame(
        {
            "symbol": [t.symbol for t in trades],
            "ts": [t.ts for t in trades],
            "price": [t.price for t in trades],
            "volume": [t.size for t in trades],
        }
    )
    live = aggregate_trades(frame, calendar=CAL).assign(source="simulator")
    store.upsert_bars(live[list(BAR_COLUMNS)])
    store.save_states(list(sim.states().values()))
    before = _all(store)
    morning = _bars(store)[lambda f: f["time"] >= stop - 47 * 60_000]
    assert len(morning) == 47 * 10  # 9:30 .. 10:16

    monday_close = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    report = run_backfill(store, settings, days=1, now=monday_close)
    assert report.continued == 10 and report.bars_1m == (240 - 47) * 10
    after = _all(store).set_index(["symbol", "interval", "time"])
    kept = before[before["time"] < stop - 60 * 60_000].set_index(["symbol", "interval", "time"])
    pd.testing.assert_frame_equal(after.loc[kept.index], kept)  # the morning bars stay
    minute = _bars(store)[lambda f: f["time"] >= stop - 47 * 60_000]
    assert len(minute) == 240 * 10  # the whole day, once
    pd.testing.assert_frame_equal(
        minute[minute["time"] < stop].reset_index(drop=True), morning.reset_index(drop=True)
    )
    _assert_rollups_match(store)  # the day's 1d, 60m ... bars include the morning


def test_bars_without_a_state_are_not_continued(store: Store, settings: Settings) -> None:
    open_ms = int(CAL.day_segments(dt.date(2026, 11, 19))[0][0])
    ohlc = (10.0, 10.5, 9.5, 10.2, 100.0, 10.1, 1, "import:x.csv")
    imported = [("600036.SH", "1m", open_ms + k * 60_000, *ohlc) for k in range(240)]
    store.upsert_bars(pd.DataFrame(imported, columns=list(BAR_COLUMNS)))
    with pytest.raises(HistoryConflictError, match="no simulator state continues"):
        run_backfill(store, settings, days=1, now=NOW, symbol="600036.SH")
    assert (
        run_backfill(
            store,
            settings,
            days=1,
            now=dt.datetime(2026, 11, 19, 9, tzinfo=dt.UTC),
            symbol="600036.SH",
        ).up_to_date
        == 1
    )
    assert set(_bars(store)["source"]) == {"import:x.csv"}
