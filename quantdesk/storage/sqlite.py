"""The SQLite backend: one file, WAL mode, a connection per thread.

URLs follow SQLAlchemy's form: ``sqlite:///relative/path.db``,
``sqlite:////absolute/path.db``, and ``sqlite://`` or ``sqlite:///:memory:``
for a private in-memory database.

Concurrency: in WAL mode readers never block the writer nor each other, so
every thread reads through its own connection; writes from this process take
one lock (SQLite allows a single writer; the lock makes threads queue here
instead of spinning on SQLITE_BUSY). Other processes wait up to
``busy_timeout``. An in-memory database has one connection, used under the lock.

Bulk upserts bind 200 rows per statement (a multi-row ``VALUES`` list), and
the symbol, interval and source once per statement rather than per row: the
per-statement overhead of ``executemany`` is paid once per 200 rows. Measured
~2x faster than one row per statement, and ~10-15% faster than binding all
11 columns per row.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from quantdesk.domain import BAR_COLUMNS, StockMeta, StockState
from quantdesk.errors import StorageError
from quantdesk.storage.accounts import SqliteAccounts
from quantdesk.storage.base import BACKENDS, BarRow, MarketStatus, PriceRow, Store
from quantdesk.storage.frames import BarArrays, prepare_bars
from quantdesk.storage.migrations import migrate_sqlite
from quantdesk.storage.streams import SqliteStreamTables
from quantdesk.storage.tweets import SqliteTweets

_ROWS_PER_STATEMENT: Final = 200
_ROWS_PER_CHUNK: Final = 100_000
_COLS: Final = ", ".join(BAR_COLUMNS)
_ONE_ROW: Final = "(" + ", ".join("?" * len(BAR_COLUMNS)) + ")"
_ON_CONFLICT: Final = " ON CONFLICT (symbol, interval, time) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in BAR_COLUMNS[3:]
)
_UPSERT_ONE: Final = f"INSERT INTO market_klines ({_COLS}) VALUES {_ONE_ROW}{_ON_CONFLICT}"
# Within a run of rows sharing (symbol, interval, source), those three are
# bound once per statement (?1, ?2, ?3) and each row binds only its 8 numbers.
_NUMERIC_ROW: Final = "(" + ", ".join("?" * 8) + ")"
_UPSERT_RUN: Final = (
    f"INSERT INTO market_klines ({_COLS}) SELECT ?1, ?2, "
    + ", ".join(f"column{i}" for i in range(1, 9))
    + ", ?3 FROM (VALUES "
    + ", ".join([_NUMERIC_ROW] * _ROWS_PER_STATEMENT)
    + ") WHERE true"  # SQLite needs a WHERE before ON CONFLICT after a SELECT
    + _ON_CONFLICT
)


def select_bars_sql(start: bool, end: bool, limit: bool) -> str:
    """The query_bars statement; parameters: symbol, interval, [start], [end], [limit].

    With a limit it reads the newest rows first (the primary key walked
    backwards from ``end``: only the rows returned are read); the caller
    reverses them.
    """
    sql = f"SELECT {_COLS} FROM market_klines WHERE symbol = ? AND interval = ?"
    if start:
        sql += " AND time >= ?"
    if end:
        sql += " AND time < ?"
    return sql + (" ORDER BY time DESC LIMIT ?" if limit else " ORDER BY time")


# A skip scan: walk the distinct symbols through the primary key, one seek each,
# instead of reading every row (SQLite has no loose index scan of its own).
_SYMBOLS_CTE: Final = """WITH RECURSIVE syms(s) AS (
    SELECT (SELECT min(symbol) FROM market_klines)
    UNION ALL
    SELECT (SELECT min(symbol) FROM market_klines WHERE symbol > syms.s)
    FROM syms WHERE syms.s IS NOT NULL
)"""


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) named by a ``sqlite://`` URL."""
    for prefix in ("sqlite+pysqlite://", "sqlite://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            break
    else:
        raise StorageError(f"not a SQLite URL: {url!r}; use sqlite:///path/to/file.db")
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StorageError(
            f"SQLite URL {url!r} has a host part; use sqlite:///relative.db or sqlite:////abs.db"
        )
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise StorageError(f"SQLite URL {url!r} names no file; use sqlite:///path/to/file.db")
    return path


#: Page size of new database files (bytes).
PAGE_SIZE: Final = 16_384


class SQLiteStore(SqliteStreamTables, SqliteAccounts, SqliteTweets, Store):
    """:class:`Store` over one SQLite file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._memory = self.path == ":memory:"
        self._local = threading.local()
        self._lock = threading.RLock()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        if not self._memory:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot create the folder for SQLite file {self.path!r}: {exc.strerror}"
                ) from None
        conn = self._connect()
        try:
            if not self._memory:
                # 16 KiB pages: ~13% faster bulk loads of bars than the 4 KiB default
                # (measured); it only applies to a new, empty file, before WAL.
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StorageError(f"SQLite file {self.path!r} cannot use WAL mode ({mode})")
        except sqlite3.Error as exc:
            self.close()
            raise StorageError(f"cannot open SQLite file {self.path!r}: {exc}") from None

    # -- connections ------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite file {self.path!r}: {exc}") from None
        with self._lock:
            self._conns.append(conn)
        if not self._memory:
            self._local.conn = conn
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"the store {self.url} is closed; open a new one with open_store()")
        if self._memory:
            return self._conns[0]
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        return conn if conn is not None else self._connect()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            if self._memory:
                with self._lock:
                    yield self._conn()
            else:
                yield self._conn()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite query on {self.path!r} failed: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock; rolled back on any error."""
        with self._lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"SQLite write to {self.path!r} failed: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    # -- schema -----------------------------------------------------------

    def migrate(self) -> int:
        with self._lock:
            try:
                return migrate_sqlite(self._conn())
            except sqlite3.Error as exc:
                raise StorageError(f"cannot migrate SQLite file {self.path!r}: {exc}") from None

    # -- bars -------------------------------------------------------------

    def upsert_bars(self, bars: pd.DataFrame) -> int:
        arrays = prepare_bars(bars)
        n = len(arrays)
        if n == 0:
            return 0
        with self._write() as conn:
            tails: list[range] = []
            for lo, hi in arrays.runs():
                for start in range(lo, hi, _ROWS_PER_CHUNK):
                    stop = min(hi, start + _ROWS_PER_CHUNK)
                    whole = start + (stop - start) // _ROWS_PER_STATEMENT * _ROWS_PER_STATEMENT
                    if whole > start:
                        _upsert_chunk(conn, arrays, start, whole)
                    if whole < stop:
                        tails.append(range(whole, stop))
            if tails:  # the rows that did not fill a whole statement, one per statement
                rest = arrays.take(np.concatenate([np.arange(t.start, t.stop) for t in tails]))
                conn.executemany(_UPSERT_ONE, rest.object_rows(0, len(rest)).tolist())
        return n

    def query_bars(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[BarRow]:
        sql = select_bars_sql(start is not None, end is not None, limit is not None)
        params: list[Any] = [symbol, interval]
        if start is not None:
            params.append(int(start))
        if end is not None:
            params.append(int(end))
        if limit is not None:
            params.append(max(0, int(limit)))
        with self._read() as conn:
            rows: list[BarRow] = conn.execute(sql, params).fetchall()
        if limit is not None:
            rows.reverse()
        return rows

    def data_version(self) -> tuple[int, int, int]:
        """(connection, ``PRAGMA data_version``, ``total_changes``) of this thread's connection.

        ``data_version`` changes when any *other* connection (another thread's,
        another process's) commits; ``total_changes`` counts this connection's
        own writes. About 3 us.
        """
        with self._read() as conn:
            version = int(conn.execute("PRAGMA data_version").fetchone()[0])
            return (id(conn), version, conn.total_changes)

    def delete_bars(self, symbol: str | None = None) -> int:
        with self._write() as conn:
            if symbol is None:
                cur = conn.execute("DELETE FROM market_klines")
            else:
                cur = conn.execute("DELETE FROM market_klines WHERE symbol = ?", (symbol,))
            return int(cur.rowcount)

    def count_bars(self, symbol: str | None = None, interval: str | None = None) -> int:
        params: tuple[str, ...]
        if symbol is not None and interval is not None:
            sql = "SELECT count(*) FROM market_klines WHERE symbol = ? AND interval = ?"
            params = (symbol, interval)
        elif symbol is not None:
            sql, params = "SELECT count(*) FROM market_klines WHERE symbol = ?", (symbol,)
        elif interval is not None:
            sql = (
                _SYMBOLS_CTE + " SELECT coalesce(sum((SELECT count(*) FROM market_klines k"
                " WHERE k.symbol = syms.s AND k.interval = ?)), 0) FROM syms"
                " WHERE s IS NOT NULL"
            )
            params = (interval,)
        else:
            sql, params = "SELECT count(*) FROM market_klines", ()
        with self._read() as conn:
            return int(conn.execute(sql, params).fetchone()[0])

    def last_bar_time(self, interval: str = "1m", symbol: str | None = None) -> int | None:
        if symbol is not None:
            sql = "SELECT max(time) FROM market_klines WHERE symbol = ? AND interval = ?"
            params: tuple[str, ...] = (symbol, interval)
        else:
            sql = (
                _SYMBOLS_CTE + " SELECT max((SELECT max(time) FROM market_klines k"
                " WHERE k.symbol = syms.s AND k.interval = ?)) FROM syms WHERE s IS NOT NULL"
            )
            params = (interval,)
        with self._read() as conn:
            value = conn.execute(sql, params).fetchone()[0]
        return None if value is None else int(value)

    # -- metadata, state, status, prices --------------------------------

    def upsert_metadata(self, metas: Sequence[StockMeta]) -> None:
        rows = [
            (
                m.symbol,
                m.name,
                m.market,
                m.sector,
                m.base_price,
                m.volatility,
                m.base_volume,
                m.calendar,
            )
            for m in metas
        ]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO stock_metadata (symbol, name, market, sector, base_price,"
                " volatility, base_volume, calendar) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (symbol) DO UPDATE SET name = excluded.name,"
                " market = excluded.market, sector = excluded.sector,"
                " base_price = excluded.base_price, volatility = excluded.volatility,"
                " base_volume = excluded.base_volume, calendar = excluded.calendar",
                rows,
            )

    def list_metadata(self) -> list[StockMeta]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT symbol, name, market, sector, base_price, volatility, base_volume,"
                " calendar FROM stock_metadata ORDER BY symbol"
            ).fetchall()
        return [StockMeta(*row) for row in rows]

    def save_states(self, states: Sequence[StockState]) -> None:
        rows = [
            (
                s.symbol,
                s.time,
                s.price,
                s.volatility,
                s.trend,
                s.regime,
                s.next_regime_check,
                json.dumps(s.extra, sort_keys=True),
            )
            for s in states
        ]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO stock_state (symbol, time, price, volatility, trend, regime,"
                " next_regime_check, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (symbol) DO UPDATE SET time = excluded.time,"
                " price = excluded.price, volatility = excluded.volatility,"
                " trend = excluded.trend, regime = excluded.regime,"
                " next_regime_check = excluded.next_regime_check, extra = excluded.extra",
                rows,
            )

    def load_states(self) -> dict[str, StockState]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT symbol, time, price, volatility, trend, regime, next_regime_check,"
                " extra FROM stock_state ORDER BY symbol"
            ).fetchall()
        return {
            r[0]: StockState(r[0], int(r[1]), r[2], r[3], r[4], r[5], int(r[6]), json.loads(r[7]))
            for r in rows
        }

    def set_market_status(self, status: MarketStatus) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO market_status (market, status, phase, time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (market) DO UPDATE SET status = excluded.status,"
                " phase = excluded.phase, time = excluded.time",
                (status.market, status.status, status.phase, status.time),
            )

    def get_market_status(self, market: str) -> MarketStatus | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT market, status, phase, time FROM market_status WHERE market = ?",
                (market,),
            ).fetchone()
        return None if row is None else MarketStatus(row[0], row[1], row[2], int(row[3]))

    def upsert_prices(self, rows: Sequence[PriceRow]) -> None:
        params = [(r.symbol, r.time, r.price, r.volume, r.source) for r in rows]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO realtime_prices (symbol, time, price, volume, source)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol) DO UPDATE SET"
                " time = excluded.time, price = excluded.price, volume = excluded.volume,"
                " source = excluded.source",
                params,
            )

    def get_prices(self, symbols: Sequence[str] | None = None) -> list[PriceRow]:
        sql = "SELECT symbol, time, price, volume, source FROM realtime_prices"
        with self._read() as conn:
            if symbols is None:
                rows = conn.execute(sql + " ORDER BY symbol").fetchall()
            else:
                wanted = sorted(set(symbols))
                rows = []
                # Chunks stay under SQLite's limit on bound parameters.
                for i in range(0, len(wanted), 500):
                    part = wanted[i : i + 500]
                    marks = ", ".join("?" * len(part))
                    rows += conn.execute(
                        f"{sql} WHERE symbol IN ({marks}) ORDER BY symbol", part
                    ).fetchall()
        return [PriceRow(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]


def _upsert_chunk(conn: sqlite3.Connection, arrays: BarArrays, lo: int, hi: int) -> None:
    """Upsert rows ``lo:hi``: one run, a whole number of statements long."""
    texts = list(arrays.texts(lo))
    wide = arrays.numeric_rows(lo, hi).reshape(-1, _ROWS_PER_STATEMENT * 8)
    conn.executemany(_UPSERT_RUN, [texts + row for row in wide.tolist()])


def _open(url: str) -> Store:
    return SQLiteStore(url)


BACKENDS["sqlite"] = _open
BACKENDS["sqlite+pysqlite"] = _open
