"""The Store contract, run against both backends (SQLite file, real PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.domain import BAR_COLUMNS, StockMeta, StockState
from quantdesk.errors import DataError
from quantdesk.storage import MarketStatus, PriceRow, Store, latest_version, open_store

from ._bars import MINUTE, T0, bar_frame, model_of

DAY = 86_400_000


def _table(store: Store) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """Every stored bar, read back through query_bars."""
    out: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for symbol in ("AAPL", "TSLA", "600519.SH", "茅台", "X"):
        for interval in ("1m", "5m", "1d"):
            for row in store.query_bars(symbol, interval):
                out[(row[0], row[1], row[2])] = tuple(row)
    return out


def test_migrate_is_idempotent(store_url: str) -> None:
    with open_store(store_url, migrate=False) as fresh:
        assert fresh.migrate() == latest_version()
        assert fresh.migrate() == latest_version()
    with open_store(store_url) as again:
        assert again.migrate() == latest_version()
        assert again.count_bars() == 0


def test_upsert_then_read_back(store: Store) -> None:
    frame = bar_frame(["AAPL", "TSLA"], 50)
    assert store.upsert_bars(frame) == 100
    assert _table(store) == model_of([frame])
    assert store.count_bars() == 100
    assert store.count_bars("AAPL") == 50
    assert store.count_bars("AAPL", "1m") == 50
    assert store.count_bars(interval="1m") == 100
    assert store.count_bars(interval="5m") == 0


def test_upsert_twice_is_idempotent(store: Store) -> None:
    frame = bar_frame(["AAPL", "TSLA"], 30)
    store.upsert_bars(frame)
    first = _table(store)
    assert store.upsert_bars(frame) == 60
    assert _table(store) == first
    assert store.count_bars() == 60


def test_update_replaces_values(store: Store) -> None:
    frame = bar_frame(["AAPL"], 20)
    store.upsert_bars(frame)
    changed = frame.iloc[5:15].copy()
    changed["close"] = changed["close"] * 2
    changed["vwap"] = np.nan
    changed["source"] = "finnhub"
    store.upsert_bars(changed)
    assert _table(store) == model_of([frame, changed])
    assert store.count_bars() == 20


def test_empty_frame_writes_nothing(store: Store) -> None:
    assert store.upsert_bars(pd.DataFrame(columns=list(BAR_COLUMNS))) == 0
    assert store.count_bars() == 0


def test_bad_frame_raises_data_error_and_writes_nothing(store: Store) -> None:
    frame = bar_frame(n=5)
    frame.loc[3, "close"] = np.nan
    with pytest.raises(DataError, match="close"):
        store.upsert_bars(frame)
    assert store.count_bars() == 0


def test_query_range_limit_and_order(store: Store) -> None:
    store.upsert_bars(bar_frame(["AAPL", "TSLA"], 100))
    store.upsert_bars(bar_frame(["AAPL"], 20, interval="5m", step=5 * MINUTE))
    times = [T0 + i * MINUTE for i in range(100)]

    def q(**kw: Any) -> list[int]:
        rows = store.query_bars("AAPL", "1m", **kw)
        assert all(r[0] == "AAPL" and r[1] == "1m" for r in rows)
        return [r[2] for r in rows]

    assert q() == times
    assert q(limit=10) == times[-10:]  # the newest 10, ascending
    assert q(start=times[10], end=times[20]) == times[10:20]  # start inclusive, end exclusive
    assert q(start=times[10], end=times[20], limit=3) == times[17:20]
    assert q(start=times[95]) == times[95:]
    assert q(end=times[3]) == times[:3]
    assert q(limit=0) == []
    assert q(limit=1000) == times
    assert q(start=times[-1] + 1) == []
    assert store.query_bars("NOPE", "1m") == []
    assert len(store.query_bars("AAPL", "5m")) == 20
    row = store.query_bars("AAPL", "1m", limit=1)[0]
    assert isinstance(row[2], int) and isinstance(row[9], int) and isinstance(row[3], float)


def test_bars_frame_has_utc_times(store: Store) -> None:
    store.upsert_bars(bar_frame(["AAPL"], 5))
    df = store.bars_frame("AAPL", "1m", limit=3)
    assert list(df.columns) == list(BAR_COLUMNS)
    assert str(df["time"].dt.tz) == "UTC"
    assert df["time"].iloc[-1] == pd.Timestamp(T0 + 4 * MINUTE, unit="ms", tz="UTC")


def test_last_bar_time_and_delete(store: Store) -> None:
    assert store.last_bar_time() is None
    store.upsert_bars(bar_frame(["AAPL"], 10))
    store.upsert_bars(bar_frame(["TSLA"], 30))
    store.upsert_bars(bar_frame(["X"], 3, interval="1d", step=DAY, start=T0 + 40 * DAY))
    assert store.last_bar_time("1m") == T0 + 29 * MINUTE
    assert store.last_bar_time("1m", "AAPL") == T0 + 9 * MINUTE
    assert store.last_bar_time("1d") == T0 + 42 * DAY
    assert store.last_bar_time("5m") is None
    assert store.last_bar_time("1m", "NOPE") is None
    assert store.delete_bars("TSLA") == 30
    assert store.last_bar_time("1m") == T0 + 9 * MINUTE
    assert store.delete_bars("TSLA") == 0
    assert store.delete_bars() == 13
    assert store.count_bars() == 0


def test_bars_across_months_and_series(store: Store) -> None:
    frames = [
        bar_frame(["AAPL", "茅台"], 90, step=DAY // 2, seed=1),  # Jan .. mid-Feb
        bar_frame(["600519.SH"], 5, interval="1d", step=40 * DAY, seed=2),  # 5 months
        bar_frame(["AAPL"], 12, interval="5m", start=T0 + 50 * DAY, step=5 * MINUTE, seed=3),
    ]
    for frame in frames:
        store.upsert_bars(frame)
    assert _table(store) == model_of(frames)


def test_large_frame_of_mixed_runs(store: Store) -> None:
    """Many rows per series (the bulk paths), a series whose source changes, a shuffle."""
    frame = pd.concat(
        [
            bar_frame(["AAPL"], 450, seed=1),
            bar_frame(["TSLA"], 400, seed=2, source="finnhub"),
            bar_frame(["X"], 7, seed=3),
            bar_frame(["600519.SH"], 500, interval="5m", step=5 * MINUTE, seed=4),
        ],
        ignore_index=True,
    )
    frame.loc[frame["symbol"] == "600519.SH", "source"] = np.where(
        (np.arange(500) // 150) % 2 == 0, "csv", "simulator"
    )
    frame.loc[::7, "vwap"] = np.nan
    frame = frame.sample(frac=1.0, random_state=1)
    assert store.upsert_bars(frame) == len(frame)
    assert _table(store) == model_of([frame])
    again = frame.assign(close=frame["close"] + 1)
    store.upsert_bars(again)
    assert _table(store) == model_of([again])


symbols = st.sampled_from(["AAPL", "TSLA", "600519.SH", "茅台", "X"])
intervals = st.sampled_from(["1m", "5m", "1d"])
prices = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False, allow_subnormal=False)
bar_rows = st.tuples(
    symbols,
    intervals,
    st.integers(0, 100 * 24 * 60).map(lambda m: T0 + m * MINUTE),  # ~3 months: 4 partitions
    prices,
    prices,
    st.one_of(st.none(), prices),
    st.integers(0, 2**40),
    st.sampled_from(["simulator", "finnhub", "csv"]),
)


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "interval": [r[1] for r in rows],
            "time": np.array([r[2] for r in rows], dtype=np.int64),
            "open": [r[3] for r in rows],
            "high": [max(r[3], r[4]) for r in rows],
            "low": [min(r[3], r[4]) for r in rows],
            "close": [r[4] for r in rows],
            "volume": [abs(r[3]) for r in rows],
            "vwap": [np.nan if r[5] is None else r[5] for r in rows],
            "trades": np.array([r[6] for r in rows], dtype=np.int64),
            "source": [r[7] for r in rows],
        }
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.lists(bar_rows, min_size=1, max_size=40), min_size=1, max_size=3))
def test_upserts_match_last_write_wins_model(store: Store, batches: list[list[Any]]) -> None:
    store.delete_bars()
    frames = [_frame(rows) for rows in batches]
    for frame in frames:
        store.upsert_bars(frame)
    expected = model_of(frames)
    assert _table(store) == expected
    # Writing the same frames again changes nothing.
    for frame in frames:
        store.upsert_bars(frame)
    assert _table(store) == expected
    assert store.count_bars() == len(expected)


def test_metadata_round_trip(store: Store) -> None:
    metas = [
        StockMeta("TSLA", "Tesla", "US", "Auto", 250.0, 0.5, 1e6, "XNYS"),
        StockMeta("AAPL", "Apple", "US", "Tech", 180.0, 0.25, 2e6, "XNYS"),
        StockMeta("600519.SH", "贵州茅台", "CN", "Consumer", 1700.0, 0.3, 5e4, "XSHG"),
    ]
    store.upsert_metadata(metas)
    assert store.list_metadata() == sorted(metas, key=lambda m: m.symbol)
    updated = StockMeta("AAPL", "Apple Inc.", "US", "Tech", 190.0, 0.2, 3e6, "XNAS")
    store.upsert_metadata([updated])
    assert {m.symbol: m for m in store.list_metadata()}["AAPL"] == updated
    store.upsert_metadata([])
    assert len(store.list_metadata()) == 3


def test_state_round_trip(store: Store) -> None:
    states = [
        StockState("AAPL", T0, 181.5, 0.25, 0.15, "bull", T0 + 45 * MINUTE, {"mu": 0.1}),
        StockState("TSLA", T0 + 1, 240.0, 0.5, -0.15, "bear", T0 + 90 * MINUTE),
    ]
    store.save_states(states)
    assert store.load_states() == {s.symbol: s for s in states}
    moved = StockState("AAPL", T0 + MINUTE, 182.0, 0.25, 0.0, "sideways", T0 + 2, {"k": -1.5})
    store.save_states([moved])
    assert store.load_states()["AAPL"] == moved
    store.save_states([])
    assert len(store.load_states()) == 2


def test_market_status_round_trip(store: Store) -> None:
    assert store.get_market_status("XSHG") is None
    store.set_market_status(MarketStatus("XSHG", "open", "morning", T0))
    store.set_market_status(MarketStatus("XNYS", "closed", "closed", T0 + 1))
    store.set_market_status(MarketStatus("XSHG", "closed", "lunch", T0 + 2))
    assert store.get_market_status("XSHG") == MarketStatus("XSHG", "closed", "lunch", T0 + 2)
    assert store.get_market_status("XNYS") == MarketStatus("XNYS", "closed", "closed", T0 + 1)


def test_prices_round_trip(store: Store) -> None:
    store.upsert_prices(
        [PriceRow("AAPL", T0, 180.0, 100.0, "sim"), PriceRow("TSLA", T0, 250.0, 5.0, "sim")]
    )
    store.upsert_prices([PriceRow("AAPL", T0 + 5, 181.0, 200.0, "finnhub")])
    assert store.get_prices() == [
        PriceRow("AAPL", T0 + 5, 181.0, 200.0, "finnhub"),
        PriceRow("TSLA", T0, 250.0, 5.0, "sim"),
    ]
    assert store.get_prices(["TSLA", "NOPE"]) == [PriceRow("TSLA", T0, 250.0, 5.0, "sim")]
    assert store.get_prices([]) == []
    store.upsert_prices([])


def test_threads_share_one_store(store: Store) -> None:
    """Writers and readers on several threads at once: no errors, nothing lost."""
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(k: int) -> None:
        try:
            start.wait()
            for j in range(5):
                frame = bar_frame([f"W{k}"], 20, start=T0 + j * 20 * MINUTE, seed=k * 10 + j)
                store.upsert_bars(frame)
                store.upsert_prices([PriceRow(f"W{k}", T0 + j, 1.0 + j, 1.0, "sim")])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            start.wait()
            for _ in range(30):
                for k in range(4):
                    rows = store.query_bars(f"W{k}", "1m", limit=50)
                    assert [r[2] for r in rows] == sorted(r[2] for r in rows)
                store.get_prices()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert store.count_bars() == 4 * 100
    assert [p.price for p in store.get_prices()] == [5.0] * 4
