"""SQLite specifics: URLs, WAL, WITHOUT ROWID, the query plan, threads, errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from quantdesk.errors import StorageError
from quantdesk.storage import latest_version, open_store
from quantdesk.storage.engines import sqlite_memory_used
from quantdesk.storage.sqlite import SQLiteStore, select_bars_query, sqlite_path

from ._bars import T0, bar_frame


def test_relative_url_creates_the_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///data/sub/q.db") as store:
        store.upsert_bars(bar_frame(n=3))
    assert (tmp_path / "data" / "sub" / "q.db").is_file()


def test_absolute_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path.as_posix()}/deep/er/q.db"
    assert url.startswith("sqlite:////")
    with open_store(url) as store:
        assert store.migrate() == latest_version()
    assert (tmp_path / "deep" / "er" / "q.db").is_file()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_memory_store(url: str) -> None:
    with open_store(url) as store:
        store.upsert_bars(bar_frame(["A", "B"], 5))
        threads = [
            threading.Thread(target=store.upsert_bars, args=(bar_frame([f"T{i}"], 5),))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count_bars() == 30


def test_url_forms() -> None:
    assert sqlite_path("sqlite:///rel/a.db") == "rel/a.db"
    assert sqlite_path("sqlite:////abs/a.db") == "/abs/a.db"
    assert sqlite_path("sqlite+pysqlite:////abs/a.db?mode=rw") == "/abs/a.db"
    assert sqlite_path("sqlite://") == ":memory:"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://host/a.db", "host part"),
        ("mysql://root@localhost/db", "unknown database URL scheme 'mysql://'"),
        ("/just/a/path.db", "has no scheme"),
        ("", "has no scheme"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as info:
        open_store(url)
    assert "\n" not in str(info.value)


def test_unopenable_file(tmp_path: Path) -> None:
    (tmp_path / "adir.db").mkdir()
    with pytest.raises(StorageError, match=r"adir\.db"):
        open_store(f"sqlite:///{tmp_path.as_posix()}/adir.db")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="cannot create the folder"):
        open_store(f"sqlite:///{tmp_path.as_posix()}/file/sub/q.db")


def test_schema(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with open_store(f"sqlite:///{path.as_posix()}") as store:
        store.migrate()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'market_klines'").fetchone()[0]
    assert "WITHOUT ROWID" in ddl
    assert "PRIMARY KEY (symbol, interval, time)" in ddl
    versions = conn.execute("SELECT version, name FROM schema_version").fetchall()
    assert [v for v, _ in versions] == list(range(1, latest_version() + 1))
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "market_klines",
        "stock_state",
        "market_status",
        "realtime_prices",
        "stock_metadata",
        "schema_version",
    } <= tables
    for start, end in [(True, True), (False, True), (True, False), (False, False)]:
        query = select_bars_query(start, end, True)
        params = query.args({"symbol": "A", "interval": "1m", "start": 0, "end": 0, "limit": 200})
        plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query.sql}", params))
        assert "SEARCH market_klines USING PRIMARY KEY (symbol=? AND interval=?" in plan
        assert "TEMP B-TREE" not in plan  # no sort: the key order is the answer's order
    conn.close()


def test_concurrent_migrations_apply_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path.as_posix()}/q.db"
    stores = [SQLiteStore(url) for _ in range(4)]
    results: list[int] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.migrate())) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [latest_version()] * 4
    for s in stores:
        s.close()


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path.as_posix()}/q.db")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.query_bars("A", "1m")


def test_unmigrated_store_raises_storage_error(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path.as_posix()}/q.db", migrate=False) as store:
        with pytest.raises(StorageError, match="no such table"):
            store.query_bars("A", "1m")
        with pytest.raises(StorageError, match="no such table"):
            store.upsert_bars(bar_frame(n=2))


def test_a_failed_bulk_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantdesk.storage.sqlite as mod

    monkeypatch.setattr(mod, "_ROWS_PER_CHUNK", 250)
    with open_store(f"sqlite:///{tmp_path.as_posix()}/q.db") as store:
        frame = bar_frame(["A"], 1000)
        calls = {"n": 0}
        real = mod._upsert_chunk

        def failing(*args: object) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("boom")
            real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(mod, "_upsert_chunk", failing)
        with pytest.raises(RuntimeError):
            store.upsert_bars(frame)
        assert store.count_bars() == 0
        monkeypatch.setattr(mod, "_upsert_chunk", real)
        assert store.upsert_bars(frame) == 1000
        assert store.last_bar_time() == T0 + 999 * 60_000


def test_data_version_changes_with_every_write_from_anywhere(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path.as_posix()}/q.db"
    with open_store(url) as store, open_store(url) as other:
        store.upsert_bars(bar_frame(n=3))
        v0 = store.data_version()
        store.query_bars("A", "1m")
        assert store.data_version() == v0  # reads change nothing
        store.upsert_bars(bar_frame(n=4))  # this connection
        v1 = store.data_version()
        assert v1 != v0
        other.upsert_bars(bar_frame(n=5))  # another connection (as another process)
        v2 = store.data_version()
        assert v2 not in (v0, v1)
        thread = threading.Thread(target=store.delete_bars)  # another thread's connection
        thread.start()
        thread.join()
        assert store.data_version() not in (v0, v1, v2)


def test_data_version_of_a_memory_store() -> None:
    with open_store("sqlite://") as store:
        v0 = store.data_version()
        thread = threading.Thread(target=store.upsert_bars, args=(bar_frame(n=2),))
        thread.start()
        thread.join()
        assert store.data_version() != v0


def test_database_files_are_private(tmp_path: Path) -> None:
    """The database and its -wal/-shm files: mode 0600 whatever the umask (issue 16 item 8)."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "private" / "q.db"
        with open_store(f"sqlite:///{path.as_posix()}") as store:
            store.upsert_bars(bar_frame(n=3))
            store.data_version()
            files = sorted(p.name for p in path.parent.iterdir())
            assert files == ["q.db", "q.db-shm", "q.db-wal"]
            for name in files:
                mode = stat.S_IMODE((path.parent / name).stat().st_mode)
                assert mode == 0o600, (name, oct(mode))
    finally:
        os.umask(old)


def test_a_world_readable_database_of_an_earlier_release_is_closed_to_others(
    tmp_path: Path,
) -> None:
    import os
    import stat

    path = tmp_path / "q.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    with open_store(f"sqlite:///{path.as_posix()}") as store:
        store.upsert_bars(bar_frame(n=3))
    for name in ("q.db", "q.db-wal", "q.db-shm"):
        if (tmp_path / name).exists():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) & 0o007 == 0, name
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_reader_threads_give_their_connection_back(tmp_path: Path) -> None:
    """Each reading thread keeps one connection for the fast reads, and the pool
    gets it back when the thread ends (or when the store closes)."""
    import gc

    with open_store(f"sqlite:///{tmp_path.as_posix()}/q.db") as store:
        store.upsert_bars(bar_frame(["A"], 5))
        store.query_bars("A", "1m")  # this thread's
        threads = [threading.Thread(target=store.query_bars, args=("A", "1m")) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gc.collect()
        pool = store.engine.pool
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_sqlite_memory_used_counts_page_caches() -> None:
    before = sqlite_memory_used()
    assert before is not None  # CPython on Linux links the system's libsqlite3
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,) for _ in range(2000)])
    held = sqlite_memory_used()
    assert held is not None and held - before > 2_000_000  # 2 MB of rows in its pages
    conn.close()
    after = sqlite_memory_used()
    assert after is not None and after - before < 100_000
