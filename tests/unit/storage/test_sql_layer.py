"""The written-once layer on both backends: store.engine, portable types, Core migrations,
the tables as declared against the tables as migrated, the Core bar path against the
fast paths, the backend registry."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from quantdesk.errors import StorageError
from quantdesk.storage import BACKENDS, Migration, Store, latest_version, open_store, sql
from quantdesk.storage import migrations as migrations_module
from quantdesk.storage.bars import Bars
from quantdesk.storage.frames import prepare_bars
from quantdesk.storage.sql import (
    METADATA,
    Id,
    JsonDoc,
    Key,
    Millis,
    SafeText,
    TextList,
    TimestampMs,
)
from quantdesk.storage.sqlite import SQLiteStore

from ._bars import MINUTE, T0, bar_frame, model_of

TYPES = sa.Table(
    "sql_layer_types",
    sa.MetaData(),
    sa.Column("id", Id, primary_key=True),
    sa.Column("key", Key, nullable=False, unique=True),
    sa.Column("at", TimestampMs, nullable=False),
    sa.Column("at_ms", Millis, nullable=False),
    sa.Column("doc", JsonDoc),
    sa.Column("tags", TextList, nullable=False),
    sa.Column("text", SafeText, nullable=False),
    sa.Column("price", sa.Numeric(20, 4), nullable=False),
    sa.Index("sql_layer_types_by_at", "at"),
)


def _family(store: Store) -> None:
    step = Migration(latest_version() + 1, "types test family", tables=(TYPES,))
    migrations_module.MIGRATIONS.append(step)
    try:
        assert store.migrate() == step.version
        assert store.migrate() == step.version  # applied once
    finally:
        migrations_module.MIGRATIONS.remove(step)


def test_portable_types_round_trip(store: Store) -> None:
    from decimal import Decimal

    _family(store)
    rows = [
        {"key": "b", "at": -5 * 86_400_000 * 365 + 7, "at_ms": 2**53, "doc": {"x": [1, 2.5]},
         "tags": ["AAPL", "茅台"], "text": "nul\x00here", "price": Decimal("12.3456")},
        {"key": "a", "at": 4_102_444_800_123, "at_ms": -1, "doc": None, "tags": [],
         "text": "", "price": Decimal("0.0001")},
    ]  # fmt: skip
    with sql.write(store.engine) as conn:
        sql.upsert(conn, TYPES, rows, ["key"])
        sql.upsert(conn, TYPES, [{**rows[1], "doc": {"v": 2}}], ["key"])  # replaces
        assert sql.insert_new(conn, TYPES, [{**rows[0], "doc": None}], ["key"]) == 0
    with sql.read(store.engine) as conn:
        got = [dict(r._mapping) for r in conn.execute(sa.select(TYPES).order_by(TYPES.c.key))]
    assert [r["key"] for r in got] == ["a", "b"]
    assert [r["at"] for r in got] == [4_102_444_800_123, -5 * 86_400_000 * 365 + 7]
    assert [r["at_ms"] for r in got] == [-1, 2**53]
    assert [r["doc"] for r in got] == [{"v": 2}, {"x": [1, 2.5]}]
    assert [r["tags"] for r in got] == [[], ["AAPL", "茅台"]]
    assert got[1]["text"] in ("nul\x00here", "nul\ufffdhere")  # PostgreSQL text has no NUL
    assert [r["price"] for r in got] == [Decimal("0.0001"), Decimal("12.3456")]
    assert got[0]["id"] != got[1]["id"]
    with sql.write(store.engine) as conn:
        assert sql.delete_all(conn, TYPES) == 2


def test_declared_tables_match_the_migrated_schema(store: Store) -> None:
    """Steps 1-4 are raw SQL; the Core tables the queries use must describe them."""
    inspector = sa.inspect(store.engine)
    for table in METADATA.sorted_tables:
        if not inspector.has_table(table.name):
            continue  # a family whose migration step is not on this branch
        found = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert list(found) == [c.name for c in table.columns], table.name
        for col in table.columns:
            if not col.primary_key:  # SQLite's rowid tables allow NULL keys (a legacy quirk)
                assert found[col.name]["nullable"] == col.nullable, (table.name, col.name)
        pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name


def test_core_bar_path_stores_what_the_fast_path_stores(store: Store) -> None:
    """The written-once upsert and the backend's bulk path give the same table."""
    frame = bar_frame(["AAPL", "TSLA"], 450, seed=3)
    frame.loc[frame.index % 7 == 0, "vwap"] = np.nan
    changed = frame.iloc[::3].assign(close=frame["close"].iloc[::3] + 1)
    store.upsert_bars(frame)
    store.upsert_bars(changed)
    fast = {s: store.query_bars(s, "1m") for s in ("AAPL", "TSLA")}
    store.delete_bars()
    Bars.write_arrays(store.bars, prepare_bars(frame))  # the reference path
    Bars.write_arrays(store.bars, prepare_bars(changed))
    core = {s: store.query_bars(s, "1m") for s in ("AAPL", "TSLA")}
    assert _nan_safe(core) == _nan_safe(fast)
    assert sum(r[8] is None for rows in core.values() for r in rows) > 0  # NULL vwaps
    assert store.count_bars() == 900


def _nan_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nan_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def test_store_engine_reads_and_writes_the_same_database(store: Store) -> None:
    store.upsert_bars(bar_frame(["AAPL"], 5))
    with store.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM market_klines")).scalar_one()
    assert n == 5
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM market_klines WHERE symbol = 'AAPL'"))
    assert store.count_bars() == 0


def test_memory_store_engine_is_the_one_database() -> None:
    with open_store("sqlite://") as store:
        store.upsert_bars(bar_frame(["A"], 3))
        errors: list[BaseException] = []

        def use_engine(k: int) -> None:
            try:
                with store.engine.begin() as conn:
                    conn.execute(
                        sa.text("UPDATE market_klines SET trades = trades + 1 WHERE symbol = 'A'")
                    )
                store.upsert_bars(bar_frame([f"T{k}"], 2))
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=use_engine, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert store.count_bars() == 3 + 8
        before = model_of([bar_frame(["A"], 3)])
        after = {(r[0], r[1], r[2]): r[9] for r in store.query_bars("A", "1m")}
        assert after == {k: v[9] + 4 for k, v in before.items()}


def test_closed_store_engine_refuses_connections(tmp_path: Any) -> None:
    store = open_store(f"sqlite:///{tmp_path.as_posix()}/q.db")
    engine = store.engine
    store.close()
    with pytest.raises(StorageError, match="closed"), engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    with pytest.raises(StorageError, match="closed"):
        store.data_version()


def test_migration_steps_are_checked() -> None:
    with pytest.raises(StorageError, match="nothing to do"):
        Migration(9, "empty")
    with pytest.raises(StorageError, match="both"):
        Migration(9, "half", sqlite=("SELECT 1",))


def test_a_failed_step_leaves_the_previous_version(store: Store) -> None:
    broken = sa.Table("half_made", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    step = Migration(
        latest_version() + 1,
        "fails after its table",
        sqlite=("CREATE TABLE before_it (x INTEGER)", "SELECT * FROM no_such_table"),
        postgres=("CREATE TABLE before_it (x INTEGER)", "SELECT * FROM no_such_table"),
        tables=(broken,),
    )
    migrations_module.MIGRATIONS.append(step)
    try:
        with pytest.raises(StorageError, match="no_such_table"):
            store.migrate()
    finally:
        migrations_module.MIGRATIONS.remove(step)
    assert store.migrate() == latest_version()
    assert not sa.inspect(store.engine).has_table("before_it")


def test_backends_are_a_registry() -> None:
    assert {"sqlite", "postgresql", "postgres"} <= set(BACKENDS.names())
    BACKENDS.register("scratch", lambda url: SQLiteStore("sqlite://"))
    try:
        with open_store("scratch://anything") as store:
            assert isinstance(store, SQLiteStore)
            assert store.count_bars() == 0
    finally:
        BACKENDS.unregister("scratch")
    with pytest.raises(StorageError, match=r"unknown database URL scheme 'scratch://'.*sqlite://"):
        open_store("scratch://anything")


def test_newest_query_is_one_compiled_statement_per_shape(store: Store) -> None:
    store.upsert_bars(bar_frame(["AAPL"], 30))
    for _ in range(3):
        assert len(store.query_bars("AAPL", "1m", limit=5)) == 5
        assert len(store.query_bars("AAPL", "1m", T0, T0 + 10 * MINUTE)) == 10
    assert len(store.bars._queries) == 2


def test_read_then_write_transactions_on_sqlite_take_turns(tmp_path: Any) -> None:
    """engine.begin() on a SQLite file begins IMMEDIATE: concurrent read-modify-write
    transactions wait for each other instead of failing on a stale snapshot, and
    none of their increments is lost."""
    import time

    from quantdesk.storage import MarketStatus
    from quantdesk.storage.market import MARKET_STATUS

    url = f"sqlite:///{tmp_path.as_posix()}/q.db"
    with open_store(url) as store, open_store(url) as other:
        store.set_market_status(MarketStatus("x", "open", "am", 0))
        errors: list[BaseException] = []
        t = MARKET_STATUS.c

        def bump(engine: sa.Engine) -> None:
            try:
                for _ in range(5):
                    with engine.begin() as conn:
                        now = conn.execute(sa.select(t.time).where(t.market == "x")).scalar_one()
                        time.sleep(0.002)
                        conn.execute(sa.update(MARKET_STATUS).values(time=now + 1))
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [
            threading.Thread(target=bump, args=((store if k % 2 else other).engine,))
            for k in range(6)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        status = store.get_market_status("x")
        assert status is not None and status.time == 30


def test_upserts_fill_python_side_defaults(store: Store) -> None:
    stamped = sa.Table(
        "sql_layer_defaults",
        sa.MetaData(),
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("made", Millis, nullable=False, default=lambda: 1234),
    )
    with store.engine.begin() as conn:
        stamped.create(conn)
    with sql.write(store.engine) as conn:
        sql.upsert(conn, stamped, [{"id": "a", "n": 1}, {"id": "b", "n": 2}], ["id"])
        assert (
            sql.insert_new(conn, stamped, [{"id": "a", "n": 9}, {"id": "c", "n": 3}], ["id"]) == 1
        )
    with sql.read(store.engine) as conn:
        rows = conn.execute(sa.select(stamped).order_by(stamped.c.id)).all()
    assert [tuple(r) for r in rows] == [("a", 1, 1234), ("b", 2, 1234), ("c", 3, 1234)]
