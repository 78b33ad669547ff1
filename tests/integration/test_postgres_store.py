"""PostgreSQL specifics on a real server: partitions, indexes, UNLOGGED, COPY paths, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

import quantdesk.storage.postgres as pg
from quantdesk.errors import StorageError
from quantdesk.storage import latest_version, open_store
from quantdesk.storage.frames import prepare_bars
from quantdesk.storage.postgres import PostgresStore, copy_chunks, redact, select_bars_sql
from tests.unit.storage._bars import MINUTE, T0, bar_frame, model_of

pytestmark = pytest.mark.postgres

DAY = 86_400_000


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresStore]:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    yield store
    store.close()


def _sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params or None).fetchall()


def _table(store: PostgresStore, symbols: list[str], interval: str = "1m") -> dict[Any, Any]:
    return {(r[0], r[1], r[2]): tuple(r) for s in symbols for r in store.query_bars(s, interval)}


def test_migrations_are_recorded_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(3)]
    results: list[int] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.migrate())) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [latest_version()] * 3
    versions = _sql(pg_url, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, latest_version() + 1))
    for s in stores:
        s.close()


def test_schema_types_index_and_unlogged_prices(pg_store: PostgresStore, pg_url: str) -> None:
    kinds = dict(
        _sql(
            pg_url,
            "SELECT relname, relkind::text FROM pg_class WHERE relname IN"
            " ('market_klines', 'stock_state', 'market_status', 'realtime_prices',"
            " 'stock_metadata', 'schema_version')",
        )
    )
    assert kinds == {
        "market_klines": "p",  # partitioned
        "stock_state": "r",
        "market_status": "r",
        "realtime_prices": "r",
        "stock_metadata": "r",
        "schema_version": "r",
    }
    persistence = dict(
        _sql(pg_url, "SELECT relname, relpersistence::text FROM pg_class WHERE relkind = 'r'")
    )
    assert persistence["realtime_prices"] == "u"
    assert persistence["stock_state"] == "p"
    assert persistence["stock_metadata"] == "p"
    (time_type,) = _sql(
        pg_url,
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_name = 'market_klines' AND column_name = 'time'",
    )
    assert time_type == ("timestamp with time zone",)
    (strategy,) = _sql(
        pg_url,
        "SELECT partstrat::text, a.attname FROM pg_partitioned_table p JOIN pg_attribute a"
        " ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
        " WHERE p.partrelid = 'market_klines'::regclass",
    )
    assert strategy == ("r", "time")
    indexes = _sql(pg_url, "SELECT indexdef FROM pg_indexes WHERE tablename = 'market_klines'")
    assert len(indexes) == 1
    assert indexes[0][0].endswith(
        'USING btree (symbol, "interval", "time") INCLUDE (open, high, low, close, volume)'
    )


@pytest.mark.parametrize(("start", "end"), [(False, False), (True, True), (False, True)])
def test_query_bars_walks_the_primary_key_backwards(
    pg_store: PostgresStore, pg_url: str, start: bool, end: bool
) -> None:
    """The newest-N query needs no sort: ORDER BY must name the indexed column."""
    pg_store.upsert_bars(bar_frame(["AAPL", "TSLA"], 300, step=DAY // 4))
    params: list[Any] = ["AAPL", "1m"]
    params += [pg.ms_to_datetime(T0)] * start + [pg.ms_to_datetime(T0 + 40 * DAY)] * end + [200]
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_sort = off")  # a sort now shows only if nothing else can order
        plan = "\n".join(
            r[0] for r in conn.execute(f"EXPLAIN {select_bars_sql(start, end, True)}", params)
        )
    assert "Index Scan Backward" in plan, plan
    assert "Sort" not in plan, plan


def _partition_info(url: str) -> list[tuple[str, str, int]]:
    """(partition, bound, number of its indexes attached to the parent's) per partition."""
    return [
        (str(r[0]), str(r[1]), int(r[2]))
        for r in _sql(
            url,
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid),"
            " (SELECT count(*) FROM pg_index x JOIN pg_inherits ii ON ii.inhrelid = x.indexrelid"
            "  WHERE x.indrelid = c.oid)"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'market_klines'::regclass ORDER BY c.relname",
        )
    ]


@pytest.mark.parametrize("fast_path_min_rows", [1, 10**9])
def test_partitions_are_created_per_month(
    pg_store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch, fast_path_min_rows: int
) -> None:
    """Both the new-month path (COPY, index, ATTACH) and CREATE ... PARTITION OF."""
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", fast_path_min_rows)
    first = bar_frame(["AAPL", "TSLA"], 100, step=DAY, seed=1)  # 2024-01-01 .. 2024-04-09
    pg_store.upsert_bars(first)
    parts = _partition_info(pg_url)
    assert [p[0] for p in parts] == [
        "market_klines_p202401",
        "market_klines_p202402",
        "market_klines_p202403",
        "market_klines_p202404",
    ]
    assert parts[0][1] == (
        "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')"
    )
    assert all(p[2] == 1 for p in parts)  # each has the primary key, attached to the parent's
    # A second frame (to 2024-06-08) overlapping old months, adding new ones, with changed values.
    second = bar_frame(["AAPL", "MSFT"], 100, step=DAY, start=T0 + 60 * DAY, seed=2)
    pg_store.upsert_bars(second)
    assert [p[0][-6:] for p in _partition_info(pg_url)] == [
        "202401", "202402", "202403", "202404", "202405", "202406",
    ]  # fmt: skip
    assert _table(pg_store, ["AAPL", "TSLA", "MSFT"]) == model_of([first, second])
    assert pg_store.partitions() == [p[0] for p in _partition_info(pg_url)]


def test_rows_outside_the_epoch_and_far_future(pg_store: PostgresStore) -> None:
    frame = pd.concat(
        [
            bar_frame(["OLD"], 3, start=-5 * 365 * DAY, step=DAY),  # 1965
            bar_frame(["NEW"], 3, start=4_102_444_800_000, step=DAY),  # 2100
        ]
    )
    pg_store.upsert_bars(frame)
    assert _table(pg_store, ["OLD", "NEW"]) == model_of([frame])
    assert "market_klines_p196501" in pg_store.partitions()


def test_concurrent_writers_create_the_same_partitions(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [bar_frame([f"S{k}"], 200, step=DAY // 2, seed=k) for k in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(frames))
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 30)  # half take the new-month path

    def write(frame: pd.DataFrame) -> None:
        try:
            barrier.wait()
            pg_store.upsert_bars(frame)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f,)) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert pg_store.count_bars() == 6 * 200
    assert _table(pg_store, [f"S{k}" for k in range(6)]) == model_of(frames)


def test_empty_range_copy_falls_back_when_keys_exist(
    pg_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a concurrent writer stored the keys after the emptiness check, COPY's
    unique violation is rolled back to a savepoint and the rows are merged."""
    frame = bar_frame(["AAPL"], 50)
    pg_store.upsert_bars(frame)
    changed = frame.assign(close=frame["close"] + 1)
    monkeypatch.setattr(pg, "_range_is_empty", lambda conn, arrays: True)
    assert pg_store.upsert_bars(changed) == 50
    assert _table(pg_store, ["AAPL"]) == model_of([changed])


def test_appending_after_stored_bars_uses_direct_copy(pg_store: PostgresStore) -> None:
    pg_store.upsert_bars(bar_frame(["AAPL", "TSLA"], 50))
    later = bar_frame(["AAPL", "TSLA"], 50, start=T0 + 50 * MINUTE, seed=5)
    pg_store.upsert_bars(later)
    assert pg_store.count_bars() == 200
    assert pg_store.query_bars("TSLA", "1m", limit=1)[0][2] == T0 + 99 * MINUTE


def test_copy_encoder_mixed_layouts(pg_store: PostgresStore) -> None:
    """Rows of different text lengths, UTF-8 symbols and NULL vwaps in one frame."""
    frame = pd.concat(
        [
            bar_frame(["A"], 7, seed=1),
            bar_frame(["贵州茅台"], 5, seed=2, source="x"),
            bar_frame(["600519.SH"], 6, interval="120m", step=120 * MINUTE, seed=3),
        ],
        ignore_index=True,
    )
    frame.loc[frame.index % 3 == 0, "vwap"] = np.nan
    frame = frame.sample(frac=1.0, random_state=0)
    chunks = list(copy_chunks(prepare_bars(frame), rows_per_chunk=4))
    assert chunks[0].startswith(b"PGCOPY\n\xff\r\n\x00") and chunks[-1] == b"\xff\xff"
    pg_store.upsert_bars(frame)
    got = _table(pg_store, ["A", "贵州茅台"]) | _table(pg_store, ["600519.SH"], "120m")
    assert got == model_of([frame])


def test_unreachable_server_is_one_line_without_password(tmp_path: Any) -> None:
    url = f"postgresql://trader:s3cr3t-pw@/quant?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StorageError) as info:
        open_store(url)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    assert message.startswith("cannot connect to PostgreSQL at postgresql://trader:***@/quant")


def test_unknown_database(pg_server: Any) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_store(pg_server.get_uri(database="no_such_db"))


def test_malformed_url() -> None:
    with pytest.raises(StorageError) as info:
        open_store("postgres://u:pw@host:notaport/db")
    assert "pw" not in str(info.value).replace("postgres", "")


def test_redact() -> None:
    assert redact("postgresql://u:secret@h:5432/db?x=1") == "postgresql://u:***@h:5432/db?x=1"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("postgresql://postgres:@/postgres?host=/tmp/x") == (
        "postgresql://postgres:@/postgres?host=/tmp/x"
    )


def test_postgres_and_postgresql_schemes(pg_url: str) -> None:
    for url in (
        pg_url.replace("postgresql://", "postgres://"),
        pg_url.replace("postgresql://", "postgresql+psycopg://"),
    ):
        with open_store(url) as store:
            assert store.count_bars() == 0
