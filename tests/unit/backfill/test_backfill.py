"""simulate_into: complete months written in key order, on a second thread, the same bars."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pytest

import quantdesk.backfill.run as backfill
from quantdesk.backfill.run import simulate_into
from quantdesk.bars import rollup_bars
from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS
from quantdesk.sources.simulator import SimulatorParams, default_universe, generate_history
from quantdesk.storage import Store, open_store
from quantdesk.storage.frames import prepare_bars

CAL = get_calendar("XSHG")
DAYS = CAL.last_trading_days(70, dt.date(2024, 4, 1))  # 2023-12 .. 2024-03


class RecordingStore:
    """Keeps every frame handed to ``upsert_bars`` (and the thread that wrote it)."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []
        self.threads: list[str] = []  # the thread that wrote each frame

    def upsert_bars(self, bars: pd.DataFrame) -> int:
        self.frames.append(bars)
        self.threads.append(threading.current_thread().name)
        return len(bars)

    def query_bars(
        self, symbol: str, interval: str, start: int | None = None, end: int | None = None
    ) -> list[tuple[object, ...]]:
        """The recorded bars of one series in ``[start, end)`` (what the periods read back)."""
        rows = pd.concat(self.frames, ignore_index=True) if self.frames else pd.DataFrame()
        if rows.empty:
            return []
        t = rows["time"]
        pick = rows[
            (rows["symbol"] == symbol)
            & (rows["interval"] == interval)
            & (t >= (start if start is not None else t.min()))
            & (t < (end if end is not None else t.max() + 1))
        ]
        return list(pick.sort_values("time")[list(BAR_COLUMNS)].itertuples(index=False))


def _months(frame: pd.DataFrame) -> set[int]:
    times = frame["time"].to_numpy(dtype=np.int64).astype("datetime64[ms]")
    return set(times.astype("datetime64[M]").astype(np.int64).tolist())


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    key = ["symbol", "interval", "time"]
    return frame.sort_values(key, ignore_index=True)[list(BAR_COLUMNS)]


@pytest.mark.parametrize("chunk_days", [7, 40])
def test_months_written_whole_in_key_order(
    monkeypatch: pytest.MonkeyPatch, chunk_days: int
) -> None:
    monkeypatch.setattr(backfill, "CHUNK_DAYS", chunk_days)
    monkeypatch.setattr(backfill, "WRITE_ROWS", 1)
    universe = default_universe("cn")[:3]
    store = RecordingStore()
    bars_1m, total, _ = simulate_into(
        cast(Store, store),
        universe,
        CAL,
        DAYS,
        seed=7,
        params=SimulatorParams(),
    )
    assert len(store.frames) > 1
    # the last two writes hold the weeks and the months, rolled up from the stored 1d bars
    by_month, periods = store.frames[:-2], store.frames[-2:]
    assert [set(f["interval"]) for f in periods] == [{"1w"}, {"1M"}]
    assert not any(set(f["interval"]) & {"1w", "1M"} for f in by_month)
    # the months are written by the writer thread
    assert threading.current_thread().name not in store.threads[:-2]
    seen: set[int] = set()
    for frame in by_month:
        months = _months(frame)
        assert not months & seen, "a month was written twice"
        assert min(months) > max(seen, default=-1), "months out of order"
        seen |= months
        # Already in key order: the store's own sort finds nothing to do.
        arrays = prepare_bars(frame)
        assert np.array_equal(arrays.time, frame["time"].to_numpy(dtype=np.int64))
    written = pd.concat(store.frames, ignore_index=True)
    assert (len(written), int((written["interval"] == "1m").sum())) == (total, bars_1m)
    # The same bars as one generation of the whole window, rolled up at once.
    minute, _ = generate_history(universe, CAL, DAYS, 7, params=SimulatorParams())
    whole = pd.concat([minute, rollup_bars(minute, calendar=CAL)], ignore_index=True)
    pd.testing.assert_frame_equal(_sorted(written), _sorted(whole), check_dtype=False)


def test_small_months_are_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "CHUNK_DAYS", 7)
    store = RecordingStore()
    universe = default_universe("cn")[:1]
    simulate_into(cast(Store, store), universe, CAL, DAYS, seed=7, params=SimulatorParams())
    # far below WRITE_ROWS: one write at the end, then the weeks and months
    assert [sorted(set(f["interval"]) & {"1w", "1M"}) for f in store.frames] == [[], ["1w"], ["1M"]]


def test_a_failed_write_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "WRITE_ROWS", 1)

    class Failing(RecordingStore):
        def upsert_bars(self, bars: pd.DataFrame) -> int:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        simulate_into(
            cast(Store, Failing()),
            default_universe("cn")[:2],
            CAL,
            DAYS,
            seed=7,
            params=SimulatorParams(),
        )


def test_backfill_twice_into_sqlite_never_duplicates(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(backfill, "WRITE_ROWS", 1)
    store = open_store(f"sqlite:///{(tmp_path / 'q.db').as_posix()}")
    store.migrate()
    universe = default_universe("cn")[:2]
    first = simulate_into(store, universe, CAL, DAYS, seed=7, params=SimulatorParams())
    count = store.count_bars()
    assert count == first[1]
    simulate_into(store, universe, CAL, DAYS, seed=7, params=SimulatorParams())
    assert store.count_bars() == count
    store.close()
