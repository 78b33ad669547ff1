"""PostgreSQL specifics on a real server: partitions, indexes, UNLOGGED, COPY paths, errors."""

from __future__ import annotations

import struct
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
from quantdesk.storage.postgres import PostgresStore, copy_chunks, redact, select_bars_query
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
    query = select_bars_query(start, end, True)
    params = query.args(
        {"symbol": "AAPL", "interval": "1m", "start": T0, "end": T0 + 40 * DAY, "limit": 200}
    )
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_sort = off")  # a sort now shows only if nothing else can order
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {query.sql}", params))
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
    arrays = prepare_bars(frame)
    chunks = list(copy_chunks(arrays, rows_per_chunk=4))
    assert chunks[0].startswith(b"PGCOPY\n\xff\r\n\x00") and chunks[-1] == b"\xff\xff"
    # The records keep the key order (the layouts interleave within a chunk).
    keys = _copy_keys(b"".join(chunks))
    assert keys == sorted(keys) and len(keys) == len(arrays)
    pg_store.upsert_bars(frame)
    got = _table(pg_store, ["A", "贵州茅台"]) | _table(pg_store, ["600519.SH"], "120m")
    assert got == model_of([frame])


def _copy_keys(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(symbol, interval, time) of each record of binary COPY ``data``."""
    keys: list[tuple[bytes, bytes, int]] = []
    pos = 19  # signature, flags, header extension length
    while True:
        (fields,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if fields == -1:
            return keys
        values: list[bytes] = []
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", data, pos)
            pos += 4
            values.append(data[pos : pos + max(length, 0)])
            pos += max(length, 0)
        keys.append((values[0], values[1], struct.unpack(">q", values[2])[0]))


def _load_tables(url: str) -> list[str]:
    """The tables of bulk loads in progress (or left behind)."""
    query = "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s ORDER BY 1"
    return [r[0] for r in _sql(url, query, "market\\_klines\\_load\\_%")]


MONTHS_2024 = bar_frame(["AAPL", "TSLA"], 120, step=DAY, seed=3)  # 2024-01 .. 2024-04


def test_new_months_load_side_by_side_and_appear_at_once(
    pg_store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 1)
    pids: set[int] = set()
    stage, attach = pg._stage_month, pg._attach_stages

    def staged(conn: Any, *args: Any) -> None:
        pids.add(conn.info.backend_pid)
        stage(conn, *args)

    def attached(conn: Any, stages: dict[int, str]) -> None:
        # Every month is loaded and committed, yet none of it is visible.
        assert sorted(_load_tables(pg_url)) == sorted(stages.values())
        assert _sql(pg_url, "SELECT count(*) FROM market_klines") == [(0,)]
        attach(conn, stages)

    monkeypatch.setattr(pg, "_stage_month", staged)
    monkeypatch.setattr(pg, "_attach_stages", attached)
    pg_store.upsert_bars(MONTHS_2024)
    assert len(pids) == 2
    assert _load_tables(pg_url) == []
    parts = _partition_info(pg_url)
    assert [p[0][-6:] for p in parts] == ["202401", "202402", "202403", "202404"]
    assert all(p[2] == 1 for p in parts)  # the primary key, attached to the parent's
    names = {r[0] for r in _sql(pg_url, "SELECT indexrelid::regclass::text FROM pg_index")}
    assert {f"{p[0]}_pkey" for p in parts} <= names
    assert _table(pg_store, ["AAPL", "TSLA"]) == model_of([MONTHS_2024])
    pg_store.upsert_bars(MONTHS_2024)  # idempotent
    assert pg_store.count_bars() == len(MONTHS_2024)


def test_a_failed_month_leaves_nothing_behind(
    pg_store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 1)
    stage = pg._stage_month

    def staged(conn: Any, name: str, month: int, arrays: Any) -> None:
        stage(conn, name, month, arrays)
        if name.endswith("202403"):
            raise psycopg.errors.DiskFull("could not extend file: No space left on device")

    monkeypatch.setattr(pg, "_stage_month", staged)
    with pytest.raises(StorageError, match="No space left"):
        pg_store.upsert_bars(MONTHS_2024)
    assert (pg_store.count_bars(), pg_store.partitions(), _load_tables(pg_url)) == (0, [], [])
    monkeypatch.setattr(pg, "_stage_month", stage)
    pg_store.upsert_bars(MONTHS_2024)
    assert _table(pg_store, ["AAPL", "TSLA"]) == model_of([MONTHS_2024])


def test_load_tables_of_dead_loads_are_dropped(
    pg_store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 1)
    live, dead = "market_klines_load_00001234_202401", "market_klines_load_0000abcd_202401"
    with psycopg.connect(pg_url, autocommit=True) as other:
        for name in (live, dead):
            other.execute(f"CREATE TABLE {name} (LIKE market_klines)")
        other.execute("SELECT pg_advisory_lock(%s, %s)", (pg._STAGE_LOCK_CLASS, 0x1234))
        pg_store.upsert_bars(bar_frame(["AAPL"], 40, step=DAY))
        assert _load_tables(pg_url) == [live]  # its load still runs: kept
    pg_store.upsert_bars(bar_frame(["AAPL"], 40, step=DAY, start=T0 + 400 * DAY))
    assert _load_tables(pg_url) == []


def test_no_spare_connection_loads_on_one(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that cannot connect (e.g. the server's connection limit) leaves its
    months to the loading connection; so does BULK_CONNECTIONS = 1."""
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 1)
    pids: set[int] = set()
    stage = pg._stage_month

    def staged(conn: Any, *args: Any) -> None:
        pids.add(conn.info.backend_pid)
        stage(conn, *args)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("sorry, too many clients already")

    monkeypatch.setattr(pg, "_stage_month", staged)
    for k, patch in enumerate(
        [("engines.dedicated_connection", refused), ("BULK_CONNECTIONS", 1)], start=1
    ):
        pids.clear()
        with monkeypatch.context() as m:
            name, value = patch
            if name == "BULK_CONNECTIONS":
                m.setattr(pg, name, value)
            else:
                m.setattr(pg.engines, "dedicated_connection", value)
            with open_store(pg_url) as store:
                store.upsert_bars(MONTHS_2024.assign(time=MONTHS_2024["time"] + k * 366 * DAY))
        assert len(pids) == 1
    with open_store(pg_url) as check:
        assert check.count_bars() == 2 * len(MONTHS_2024)


def test_a_month_created_meanwhile_gets_the_rows_merged(
    pg_store: PostgresStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "FAST_PATH_MIN_ROWS", 40)  # ours: ~60 a month; theirs: <= 12
    theirs = bar_frame(["AAPL", "MSFT"], 10, step=DAY, start=T0 + 25 * DAY, seed=9)  # Jan, Feb
    attach = pg._attach_stages
    staged: list[str] = []

    def attached(conn: Any, stages: dict[int, str]) -> None:
        staged.extend(stages.values())
        with open_store(pg_url) as other:  # small months: created, not loaded
            other.upsert_bars(theirs)
        attach(conn, stages)

    monkeypatch.setattr(pg, "_attach_stages", attached)
    ours = MONTHS_2024.assign(close=MONTHS_2024["close"] + 1)
    pg_store.upsert_bars(ours)
    assert [n[-6:] for n in staged] == ["202401", "202402", "202403", "202404"]
    assert _load_tables(pg_url) == []
    got = _table(pg_store, ["AAPL", "TSLA", "MSFT"])
    assert got == model_of([theirs, ours])


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
