"""The PostgreSQL backend (psycopg 3): monthly partitions and the binary COPY bulk path.

The engine (pool, connections) is built by
:func:`quantdesk.storage.engines.postgres_engine` and every family's SQL is
the one written with Core. What is PostgreSQL-only here is the bulk write of
bars, which pays several times over an ``INSERT`` (see
``python -m benchmarks storage``):

``market_klines`` is RANGE-partitioned by month on ``time`` (TIMESTAMPTZ).
Partitions are created on demand before a write. Bulk writes travel as binary
COPY (built with NumPy, see :func:`copy_chunks`) and take one of three paths:

* **new month**: rows for a month with no partition yet are COPYed (FREEZE)
  into a fresh table without indexes, whose primary key is then built in
  one pass over the presorted rows, in a transaction of its own; two
  connections load months side by side (one builds a month's index while the
  other copies the next). One last transaction ATTACHes all of them as
  partitions (with the rest of the frame's rows, so the frame appears at
  once). Building an index once is several times cheaper than maintaining it
  row by row, and ATTACH only takes a SHARE UPDATE EXCLUSIVE lock, so readers
  are not blocked. (A month with few new rows gets an empty ``CREATE TABLE
  ... PARTITION OF`` first, in its own short transaction: that takes an
  exclusive lock briefly.)
* **empty range**: when no stored row of any (symbol, interval) lies in the
  frame's time span, COPY goes straight into ``market_klines`` (under a
  savepoint: if a concurrent writer got there first, the staged path runs).
* **staged**: COPY into a temporary table, then ``INSERT ... SELECT ... ON
  CONFLICT DO UPDATE`` (rows whose values did not change are not rewritten).

Times cross the boundary as int epoch ms: SQL converts them on the way out
(:class:`~quantdesk.storage.sql.TimestampMs`), and the COPY encoder on the way in.
The fast path runs on DBAPI connections in autocommit mode
(:func:`quantdesk.storage.sql.raw`) and manages its own transactions.
"""

from __future__ import annotations

import secrets
import struct
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import errors as pg_errors
from psycopg.copy import QueuedLibpqWriter

from quantdesk.domain import BAR_COLUMNS
from quantdesk.storage import engines, sql
from quantdesk.storage.bars import Bars
from quantdesk.storage.base import Store
from quantdesk.storage.engines import conninfo, redact
from quantdesk.storage.frames import FLOAT_COLUMNS, BarArrays
from quantdesk.storage.sql import ms_to_datetime

__all__ = [
    "PostgresBars",
    "PostgresStore",
    "conninfo",
    "copy_chunks",
    "ms_to_datetime",
    "redact",
    "select_bars_query",
]

Conn = psycopg.Connection[Any]

_PG_EPOCH_MS: Final = 946_684_800_000  # 2000-01-01, PostgreSQL's timestamp zero
#: pg_advisory_xact_lock(class, month) serialises creation of one month's partition.
_PARTITION_LOCK_CLASS: Final = 0x71D35C
#: A month with at least this many new rows is loaded through the new-month path.
FAST_PATH_MIN_ROWS: Final = 20_000
#: Connections that load new months side by side (a month's COPY on one, the
#: last month's primary key build on the other): the server uses two cores.
BULK_CONNECTIONS: Final = 2
#: How long a helper may take to open its connection before leaving its share of
#: the months to the connection that has one.
_HELPER_WAIT_S: Final = 5.0
#: Tables being loaded are named market_klines_load_<token>_<yyyymm>.
_STAGE_PREFIX: Final = "market_klines_load_"
#: pg_advisory_lock(class, token) marks the load tables of a live load.
_STAGE_LOCK_CLASS: Final = 0x71D35D
_COPY_CHUNK_ROWS: Final = 100_000

_COLS: Final = ", ".join(BAR_COLUMNS)
_ON_CONFLICT: Final = (
    "ON CONFLICT (symbol, interval, time) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in BAR_COLUMNS[3:])
    + " WHERE ("
    + ", ".join(f"market_klines.{c}" for c in BAR_COLUMNS[3:])
    + ") IS DISTINCT FROM ("
    + ", ".join(f"EXCLUDED.{c}" for c in BAR_COLUMNS[3:])
    + ")"
)


_PK: Final = "(symbol, interval, time) INCLUDE (open, high, low, close, volume)"


def select_bars_query(start: bool, end: bool, limit: bool) -> sql.RawQuery:
    """:meth:`Bars.query`'s statement as compiled for this dialect (e.g. for EXPLAIN)."""
    from sqlalchemy.dialects.postgresql import psycopg as dialect

    return sql.RawQuery(Bars.select_statement(start, end, limit), dialect.dialect())


class PostgresBars(Bars):
    """:class:`~quantdesk.storage.bars.Bars` with the COPY bulk path and partitions."""

    def partitions(self) -> list[str]:
        """Names of the existing ``market_klines`` partitions, oldest first."""
        with sql.raw(self.engine) as conn:
            return _partitions(conn)

    def write_arrays(self, arrays: BarArrays) -> None:
        months = _months(arrays.time)
        wanted, counts = np.unique(months, return_counts=True)
        with sql.raw(self.engine) as conn:
            existing = set(_partitions(conn))
            missing = [
                (int(m), int(c))
                for m, c in zip(wanted.tolist(), counts.tolist(), strict=True)
                if _partition_name(int(m)) not in existing
            ]
            # Big new months are loaded through the new-month path; the others
            # get an empty partition first, outside the write transaction.
            fresh = sorted(m for m, c in missing if c >= FAST_PATH_MIN_ROWS)
            for m, c in missing:
                if c < FAST_PATH_MIN_ROWS:
                    _create_partition(conn, m)
            with _staging(conn, fresh) as stages:
                if stages:
                    self._stage_months(conn, arrays, months, stages)
                with conn.transaction():
                    rest = arrays
                    if stages:
                        _attach_stages(conn, stages)
                        rest = arrays.take(~np.isin(months, list(stages)))
                    if len(rest):
                        _upsert_existing(conn, rest)
            if len(rest):
                # After the commit, so that no lock is held for it meanwhile.
                _analyze_big_months(conn, _months(rest.time))

    def _stage_months(
        self,
        conn: Conn,
        arrays: BarArrays,
        months: npt.NDArray[np.int64],
        stages: dict[int, str],
    ) -> None:
        """Load each staged month into its own table, on up to BULK_CONNECTIONS connections.

        ``conn`` takes months from the queue, and so do helpers on connections
        of their own (opened for the load, outside the pool, so that a load
        never waits for the pool; a helper that cannot connect within
        ``_HELPER_WAIT_S`` just leaves the work to the others). The first
        error stops the taking of new months and is raised after every
        connection is done.
        """
        jobs = deque(sorted(stages.items()))
        failed = threading.Event()

        def drain(c: Conn) -> None:
            while not failed.is_set():
                try:
                    month, name = jobs.popleft()
                except IndexError:
                    return
                try:
                    _stage_month(c, name, month, arrays.take(months == month))
                except BaseException:
                    failed.set()
                    raise

        def helper() -> None:
            try:
                c: Conn = engines.dedicated_connection(self.engine, timeout=_HELPER_WAIT_S)
            except psycopg.Error:
                return  # e.g. the server's connection limit: the others load its share
            with sql.errors(self.engine, "bulk load failed"):
                try:
                    c.autocommit = True
                    drain(c)
                finally:
                    c.close()

        helpers = min(BULK_CONNECTIONS, len(jobs)) - 1
        if helpers <= 0:
            drain(conn)
            return
        with ThreadPoolExecutor(helpers, thread_name_prefix="quantdesk-bulk") as pool:
            futures = [pool.submit(helper) for _ in range(helpers)]
            try:
                drain(conn)
            finally:
                wait(futures)
        for future in futures:
            future.result()


class PostgresStore(Store):
    """:class:`~quantdesk.storage.base.Store` over one PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: int = 10) -> None:
        engine = engines.postgres_engine(url, pool_size=pool_size, connect_timeout=connect_timeout)
        self.bars: PostgresBars
        super().__init__(url, engine, PostgresBars(engine))

    def partitions(self) -> list[str]:
        """Names of the existing ``market_klines`` partitions, oldest first."""
        return self.bars.partitions()


# -- partitions --------------------------------------------------------------


def _months(time_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Months since 1970-01 of each epoch-ms time."""
    return time_ms.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)


def _partition_name(month: int) -> str:
    year, mon = divmod(month, 12)
    return f"market_klines_p{1970 + year:04d}{mon + 1:02d}"


def _month_start(month: int) -> str:
    year, mon = divmod(month, 12)
    return f"'{1970 + year:04d}-{mon + 1:02d}-01 00:00:00+00'"


def _bounds(month: int) -> str:
    return f"FOR VALUES FROM ({_month_start(month)}) TO ({_month_start(month + 1)})"


def _range(month: int) -> str:
    return f"time >= {_month_start(month)} AND time < {_month_start(month + 1)}"


def _partitions(conn: Conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'market_klines'::regclass ORDER BY c.relname"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _create_partition(conn: Conn, month: int) -> None:
    """Create one month's (empty) partition in its own short transaction.

    CREATE ... PARTITION OF locks the parent exclusively, so it must not sit
    inside a long write; the advisory lock makes concurrent creators queue.
    """
    name = _partition_name(month)
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_PARTITION_LOCK_CLASS, month))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF market_klines {_bounds(month)}"
        )


@contextmanager
def _staging(conn: Conn, fresh: list[int]) -> Iterator[dict[int, str]]:
    """Names of the tables that load the ``fresh`` months (month -> table), cleaned up after.

    Each name carries a random token that ``conn`` holds a session advisory
    lock on while the load runs: a load that died (its connection gone, so its
    lock too) leaves tables whose token anyone can lock, and the next load
    drops them. On the way out the tables not attached are dropped.
    """
    if not fresh:
        yield {}
        return
    token = secrets.randbits(31)
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (_STAGE_LOCK_CLASS, token))
    stages = {m: f"{_STAGE_PREFIX}{token:08x}_{_partition_name(m)[-6:]}" for m in fresh}
    try:
        _drop_orphan_stages(conn, token)
        yield stages
    finally:
        try:
            left = conn.execute(  # the attached ones were renamed
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname = ANY(%s)",
                (list(stages.values()),),
            ).fetchall()
            for (name,) in left:
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_STAGE_LOCK_CLASS, token))
        except psycopg.Error:
            pass  # the connection is gone, its lock too: the next load drops these


def _drop_orphan_stages(conn: Conn, own: int) -> None:
    """Drop the load tables left by loads that died (see :func:`_staging`)."""
    rows = conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s"
        " AND relnamespace = (SELECT relnamespace FROM pg_class"
        " WHERE oid = 'market_klines'::regclass)",
        (_STAGE_PREFIX.replace("_", "\\_") + "%",),
    ).fetchall()
    by_token: dict[int, list[str]] = {}
    for (name,) in rows:
        try:
            token = int(str(name)[len(_STAGE_PREFIX) :].split("_", 1)[0], 16)
        except ValueError:
            continue
        if token != own:
            by_token.setdefault(token, []).append(str(name))
    for token, names in by_token.items():
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (_STAGE_LOCK_CLASS, token)
        ).fetchone()
        if row and row[0]:  # its loader is gone
            for name in names:
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_STAGE_LOCK_CLASS, token))


def _stage_month(conn: Conn, name: str, month: int, arrays: BarArrays) -> None:
    """Load one month's rows into a new table ``name`` and build its primary key.

    COPY FREEZE into a table created in the same transaction writes the rows
    already frozen (no hint-bit rewrite later), and the primary key is then
    built by one pass over presorted rows: several times cheaper than
    maintaining it row by row. The table is committed, but it is not part of
    ``market_klines`` until :func:`_attach_stages` attaches it.
    """
    with conn.transaction():
        # Sort the new primary keys in memory (the default 64MB spills to disk).
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        conn.execute(f"CREATE TABLE {name} (LIKE market_klines INCLUDING DEFAULTS)")
        # A CHECK added while the table is empty is valid at no cost, and lets
        # ATTACH skip its scan proving that every row fits the bounds.
        conn.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK ({_range(month)})")
        _copy(conn, f"COPY {name} ({_COLS}) FROM STDIN (FORMAT BINARY, FREEZE)", arrays)
        conn.execute(f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY {_PK}")
        # Statistics now, not at autovacuum's next visit: without them the
        # planner guesses a few rows per symbol and may sort all of them
        # instead of walking the primary key backwards. A 3,000-row sample
        # (target 10) is plenty for that choice and costs 0.02 s per month of
        # 100 symbols' 1m bars, against 0.15 s for the default 30,000. The
        # statistics belong to the table and stay with it when it is attached.
        conn.execute("SET LOCAL default_statistics_target = 10")
        conn.execute(f"ANALYZE {name}")


def _attach_stages(conn: Conn, stages: dict[int, str]) -> None:
    """ATTACH each loaded table as its month's partition (inside the caller's transaction).

    ATTACH takes a SHARE UPDATE EXCLUSIVE lock on ``market_klines``: readers
    and writers of other months go on. If another writer created the month
    meanwhile, the loaded rows are merged into it instead.
    """
    # Lock every month first, in order: a writer waiting here holds no lock
    # on market_klines yet, so two bulk loads cannot deadlock.
    for m in sorted(stages):
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_PARTITION_LOCK_CLASS, m))
    existing = set(_partitions(conn))
    for m, stage in sorted(stages.items()):
        name = _partition_name(m)
        if name in existing:  # another writer created it meanwhile
            conn.execute(
                f"INSERT INTO market_klines ({_COLS}) SELECT {_COLS} FROM {stage} " + _ON_CONFLICT
            )
            continue
        conn.execute(f"ALTER TABLE market_klines ATTACH PARTITION {stage} {_bounds(m)}")
        conn.execute(f"ALTER TABLE {stage} DROP CONSTRAINT {stage}_bounds")
        conn.execute(f"ALTER TABLE {stage} RENAME TO {name}")
        conn.execute(f"ALTER INDEX {stage}_pkey RENAME TO {name}_pkey")


def _analyze_big_months(conn: Conn, months: npt.NDArray[np.int64]) -> None:
    """ANALYZE the partitions that just received many rows (see _load_new_months)."""
    wanted, counts = np.unique(months, return_counts=True)
    for m, c in zip(wanted.tolist(), counts.tolist(), strict=True):
        if c >= FAST_PATH_MIN_ROWS:
            conn.execute(f"ANALYZE {_partition_name(int(m))}")


def _upsert_existing(conn: Conn, arrays: BarArrays) -> None:
    """Upsert rows whose partitions exist (inside the caller's transaction)."""
    if _range_is_empty(conn, arrays):
        try:
            with conn.transaction():  # a savepoint
                _copy(conn, f"COPY market_klines ({_COLS}) FROM STDIN (FORMAT BINARY)", arrays)
            return
        except pg_errors.UniqueViolation:
            pass  # a concurrent writer stored some of these keys: merge instead
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS market_klines_stage"
        " (LIKE market_klines) ON COMMIT DELETE ROWS"
    )
    _copy(conn, f"COPY market_klines_stage ({_COLS}) FROM STDIN (FORMAT BINARY)", arrays)
    conn.execute(
        f"INSERT INTO market_klines ({_COLS}) SELECT {_COLS} FROM market_klines_stage "
        + _ON_CONFLICT
    )


def _range_is_empty(conn: Conn, arrays: BarArrays) -> bool:
    """True when no stored bar of any (symbol, interval) lies in the frame's time span."""
    keys = arrays.keys()
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[], %s::timestamptz[],"
        " %s::timestamptz[]) AS r(s, i, lo, hi) WHERE EXISTS (SELECT 1 FROM market_klines k"
        " WHERE k.symbol = r.s AND k.interval = r.i AND k.time >= r.lo AND k.time <= r.hi))",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [ms_to_datetime(k[2]) for k in keys],
            [ms_to_datetime(k[3]) for k in keys],
        ),
    ).fetchone()
    return bool(row and row[0])


def _copy(conn: Conn, statement: str, arrays: BarArrays) -> None:
    # The queued writer sends from a worker thread, so encoding the next block
    # overlaps with the server parsing the last one.
    with conn.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        for chunk in copy_chunks(arrays):
            copy.write(chunk)


# -- binary COPY encoder -----------------------------------------------------
#
# Hand-written because psycopg's row-by-row ``Copy.write_row`` costs ~1.5 us per
# row in Python (measured 340k rows/s end to end), while NumPy lays out a whole
# block of same-shaped rows as one structured array (~0.25 us per row).
# Format: https://www.postgresql.org/docs/current/sql-copy.html (binary format).

_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER: Final = struct.pack(">h", -1)


def _encoded(names: list[str]) -> tuple[list[bytes], npt.NDArray[np.int64]]:
    raw = [n.encode("utf-8") for n in names]
    return raw, np.array([len(b) for b in raw], dtype=np.int64)


def copy_chunks(arrays: BarArrays, rows_per_chunk: int = _COPY_CHUNK_ROWS) -> Iterator[bytes]:
    """The rows as PostgreSQL binary COPY data, in chunks of about ``rows_per_chunk`` rows.

    Rows whose text fields have the same byte lengths (and whose vwap is NULL
    or not alike) share one fixed record layout, written as one NumPy
    structured array; a chunk mixing layouts is encoded layout by layout and
    its records are then joined back in key order, run by run (a run of one
    (symbol, interval) has one layout), so the table receives the rows in
    key order and its primary key is built from presorted input.
    """
    yield _HEADER
    texts = [_encoded(names) for names in (arrays.symbol_names, arrays.interval_names)]
    texts.append(_encoded(arrays.source_names))
    (sym_raw, sym_len), (ivl_raw, ivl_len), (src_raw, src_len) = texts
    shape = (
        ((sym_len[arrays.symbol_codes] << 21) | ivl_len[arrays.interval_codes]) << 21
        | src_len[arrays.source_codes]
    ) << 1 | np.isnan(arrays.floats["vwap"])
    raws = (sym_raw, ivl_raw, src_raw)
    for lo in range(0, len(arrays), rows_per_chunk):
        hi = min(len(arrays), lo + rows_per_chunk)
        yield _encode_rows(arrays, lo, hi, shape[lo:hi], raws)
    yield _TRAILER


def _encode_rows(
    arrays: BarArrays,
    lo: int,
    hi: int,
    shape: npt.NDArray[np.int64],
    raws: tuple[list[bytes], list[bytes], list[bytes]],
) -> bytes:
    """Rows ``lo:hi`` (whose layouts are ``shape``) as binary COPY records, in order."""
    cuts = np.flatnonzero(shape[1:] != shape[:-1]) + 1
    if len(cuts) == 0:
        return _encode_block(arrays, slice(lo, hi), *raws)
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, hi - lo]
    run_shape = shape[starts]
    blocks: dict[int, tuple[memoryview, int]] = {}
    for value in np.unique(run_shape).tolist():
        rows = np.flatnonzero(shape == value) + lo
        data = _encode_block(arrays, rows, *raws)
        blocks[value] = (memoryview(data), len(data) // len(rows))
    offsets = dict.fromkeys(blocks, 0)
    parts: list[memoryview] = []
    for start, end, value in zip(starts.tolist(), ends.tolist(), run_shape.tolist(), strict=True):
        view, width = blocks[value]
        first = offsets[value]
        offsets[value] = first + end - start
        parts.append(view[first * width : (first + end - start) * width])
    return b"".join(parts)


def _encode_block(
    arrays: BarArrays,
    rows: npt.NDArray[np.intp] | slice,
    sym_raw: list[bytes],
    ivl_raw: list[bytes],
    src_raw: list[bytes],
) -> bytes:
    sym = arrays.symbol_codes[rows]
    ivl = arrays.interval_codes[rows]
    src = arrays.source_codes[rows]
    lens = (len(sym_raw[sym[0]]), len(ivl_raw[ivl[0]]), len(src_raw[src[0]]))
    vwap = arrays.floats["vwap"][rows]
    has_vwap = not np.isnan(vwap[0])
    fields: list[tuple[str, str]] = [("n", ">i2")]
    fields += [("l_symbol", ">i4"), ("symbol", f"S{lens[0]}")]
    fields += [("l_interval", ">i4"), ("interval", f"S{lens[1]}")]
    fields += [("l_time", ">i4"), ("time", ">i8")]
    for name in FLOAT_COLUMNS:
        fields.append((f"l_{name}", ">i4"))
        if name != "vwap" or has_vwap:
            fields.append((name, ">f8"))
    fields += [("l_trades", ">i4"), ("trades", ">i8")]
    fields += [("l_source", ">i4"), ("source", f"S{lens[2]}")]
    out = np.empty(len(sym), dtype=np.dtype(fields))
    out["n"] = len(BAR_COLUMNS)
    # np.array(..., dtype=S<len>) truncates names of other lengths; this block
    # only indexes names of exactly that length.
    for col, raw, codes, length in (
        ("symbol", sym_raw, sym, lens[0]),
        ("interval", ivl_raw, ivl, lens[1]),
        ("source", src_raw, src, lens[2]),
    ):
        out[f"l_{col}"] = length
        out[col] = np.array(raw, dtype=f"S{length}")[codes]
    out["l_time"] = 8
    out["time"] = (arrays.time[rows] - _PG_EPOCH_MS) * 1000
    for name in FLOAT_COLUMNS:
        if name == "vwap" and not has_vwap:
            out["l_vwap"] = -1
            continue
        out[f"l_{name}"] = 8
        out[name] = arrays.floats[name][rows]
    out["l_trades"] = 8
    out["trades"] = arrays.trades[rows]
    return out.tobytes()
