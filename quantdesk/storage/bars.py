"""The bars family: ``market_klines`` (seed D), one row per (symbol, interval, bar start).

Bars travel as pandas DataFrames with the columns of
:data:`quantdesk.domain.BAR_COLUMNS`; ``time`` is int64 epoch ms UTC (the bar
start). Writes are idempotent upserts on the natural key; reads come back
as :data:`BarRow` tuples in ascending time.

:class:`Bars` holds the SQL, written once. Two fast paths replace parts of
it where they pay, each in its backend's module and measured by
``python -m benchmarks storage``/``backfill``:

* bulk writes: SQLite binds 200 rows per statement
  (:mod:`quantdesk.storage.sqlite`, ~2x a plain ``executemany``); PostgreSQL
  loads by binary COPY, new months into fresh partitions
  (:mod:`quantdesk.storage.postgres`, several times an ``INSERT``);
* the newest-N read behind ``/api/klines`` runs its Core statement, compiled
  once, on the DBAPI connection (:class:`~quantdesk.storage.sql.RawQuery`),
  and SQLite answers :meth:`Bars.data_version` so the API can cache answers.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

import pandas as pd
import sqlalchemy as sa

from quantdesk.domain import BAR_COLUMNS
from quantdesk.storage import sql
from quantdesk.storage.frames import BarArrays, prepare_bars
from quantdesk.storage.sql import METADATA, Key, Real, TimestampMs

__all__ = ["BAR_KEY", "MARKET_KLINES", "BarRow", "Bars"]

BarRow = tuple[str, str, int, float, float, float, float, float, float, int, str]

#: Created by migration 1. On PostgreSQL it is RANGE-partitioned by month on
#: ``time`` and its primary key INCLUDEs (open, high, low, close, volume): the
#: seed's covering index (see :mod:`quantdesk.storage.postgres`). On SQLite it
#: is a WITHOUT ROWID table: the rows live in the primary-key B-tree.
MARKET_KLINES: Final = sa.Table(
    "market_klines",
    METADATA,
    sa.Column("symbol", Key, nullable=False),
    sa.Column("interval", Key, nullable=False),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("open", Real, nullable=False),
    sa.Column("high", Real, nullable=False),
    sa.Column("low", Real, nullable=False),
    sa.Column("close", Real, nullable=False),
    sa.Column("volume", Real, nullable=False),
    sa.Column("vwap", Real),
    sa.Column("trades", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("source", Key, nullable=False),
    sa.PrimaryKeyConstraint("symbol", "interval", "time", name="market_klines_pkey"),
    sqlite_with_rowid=False,
    postgresql_partition_by="RANGE (time)",
)

BAR_KEY: Final = ("symbol", "interval", "time")
_K = MARKET_KLINES.c
#: Rows per statement of the written-once bulk path.
_GENERIC_CHUNK: Final = 5_000


def _symbols_cte() -> sa.CTE:
    """The distinct symbols, walked through the primary key with one seek each.

    A skip scan: neither database has a loose index scan of its own, and
    ``SELECT DISTINCT symbol`` would read every row.
    """
    first = sa.select(sa.select(sa.func.min(_K.symbol)).scalar_subquery().label("s"))
    syms = first.cte("syms", recursive=True)
    later = MARKET_KLINES.alias("later")
    nxt = sa.select(
        sa.select(sa.func.min(later.c.symbol)).where(later.c.symbol > syms.c.s).scalar_subquery()
    ).where(syms.c.s.is_not(None))
    return syms.union_all(nxt)


class Bars:
    """Repository over ``market_klines``. Safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queries: dict[tuple[bool, bool, bool], sql.RawQuery] = {}

    # -- writes -----------------------------------------------------------------------

    def upsert(self, bars: pd.DataFrame) -> int:
        """Insert or replace bars (the last row wins on a repeated key); return rows written."""
        arrays = prepare_bars(bars)
        if len(arrays) == 0:
            return 0
        self.write_arrays(arrays)
        return len(arrays)

    def write_arrays(self, arrays: BarArrays) -> None:
        """Upsert validated, key-sorted rows in one transaction (backends override this
        with their bulk path; this is the reference every dialect can run)."""
        with sql.write(self.engine) as conn:
            for lo in range(0, len(arrays), _GENERIC_CHUNK):
                hi = min(len(arrays), lo + _GENERIC_CHUNK)
                rows = [
                    dict(zip(BAR_COLUMNS, r, strict=True)) for r in _python_rows(arrays, lo, hi)
                ]
                sql.upsert(conn, MARKET_KLINES, rows, BAR_KEY)

    def delete(self, symbol: str | None = None) -> int:
        """Remove the bars of ``symbol`` (all bars when None); return how many."""
        with sql.write(self.engine) as conn:
            if symbol is None:
                return sql.delete_all(conn, MARKET_KLINES)
            return int(conn.execute(sa.delete(MARKET_KLINES).where(_K.symbol == symbol)).rowcount)

    # -- reads ------------------------------------------------------------------------

    @staticmethod
    def select_statement(start: bool, end: bool, limit: bool) -> sa.Select[Any]:
        """The :meth:`query` statement; parameters symbol, interval, [start], [end], [limit].

        With a limit it reads the newest rows first (the primary key walked
        backwards from ``end``: only the rows returned are read) and the
        caller reverses them. ORDER BY names the table's column (on
        PostgreSQL the output column is the converted epoch ms).
        """
        stmt = sa.select(*MARKET_KLINES.c).where(
            _K.symbol == sa.bindparam("symbol", type_=sa.Text),
            _K.interval == sa.bindparam("interval", type_=sa.Text),
        )
        if start:
            stmt = stmt.where(_K.time >= sa.bindparam("start", type_=TimestampMs))
        if end:
            stmt = stmt.where(_K.time < sa.bindparam("end", type_=TimestampMs))
        if limit:
            return stmt.order_by(_K.time.desc()).limit(sa.bindparam("limit", type_=sa.Integer))
        return stmt.order_by(_K.time)

    def query(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[BarRow]:
        """Bars with ``start <= time < end``; with ``limit``, the newest ``limit`` of them.

        Always in ascending ``time``.
        """
        shape = (start is not None, end is not None, limit is not None)
        query = self._queries.get(shape)
        if query is None:
            query = self._queries[shape] = sql.RawQuery(
                self.select_statement(*shape), self.engine.dialect
            )
        params: dict[str, Any] = {"symbol": symbol, "interval": interval}
        if start is not None:
            params["start"] = int(start)
        if end is not None:
            params["end"] = int(end)
        if limit is not None:
            params["limit"] = max(0, int(limit))
        with sql.raw(self.engine) as conn:
            rows: list[BarRow] = query.rows(conn, params)
        if limit is not None:
            rows.reverse()
        return rows

    def data_version(self) -> Hashable | None:
        """A token that changes whenever anything stored may have changed, or None.

        For the calling thread's reads: take it *before* a query, and a result
        cached under it is current as long as the token comes back equal.
        Covers writes from this process and from others. ``None`` (the
        default): the backend cannot tell cheaply, so nothing may be cached.
        """
        return None

    def count(self, symbol: str | None = None, interval: str | None = None) -> int:
        """Number of stored bars (of ``symbol``, of ``interval``)."""
        if symbol is None and interval is not None:
            syms = _symbols_cte()
            per_symbol = (
                sa.select(sa.func.count())
                .select_from(MARKET_KLINES)
                .where(_K.symbol == syms.c.s, _K.interval == interval)
                .scalar_subquery()
            )
            stmt = sa.select(sa.func.coalesce(sa.func.sum(per_symbol), 0)).where(
                syms.c.s.is_not(None)
            )
        else:
            stmt = sa.select(sa.func.count()).select_from(MARKET_KLINES)
            if symbol is not None:
                stmt = stmt.where(_K.symbol == symbol)
            if interval is not None:
                stmt = stmt.where(_K.interval == interval)
        with sql.read(self.engine) as conn:
            return int(conn.execute(stmt).scalar_one())

    def last_time(self, interval: str = "1m", symbol: str | None = None) -> int | None:
        """Start (ms) of the newest bar of ``interval`` (of ``symbol``), or None."""
        if symbol is not None:
            stmt = sa.select(sa.func.max(_K.time)).where(
                _K.symbol == symbol, _K.interval == interval
            )
        else:
            syms = _symbols_cte()
            newest = (
                sa.select(sa.func.max(_K.time))
                .where(_K.symbol == syms.c.s, _K.interval == interval)
                .scalar_subquery()
            )
            stmt = sa.select(sa.func.max(newest)).where(syms.c.s.is_not(None))
        with sql.read(self.engine) as conn:
            value = conn.execute(stmt).scalar_one()
        return None if value is None else int(value)

    def close(self) -> None:
        """Release what the repository holds beyond the engine (nothing by default)."""


def _python_rows(arrays: BarArrays, lo: int, hi: int) -> list[list[Any]]:
    """Rows ``lo:hi`` as lists of Python values (NaN vwap as None), in BAR_COLUMNS order."""
    out: list[list[Any]] = arrays.object_rows(lo, hi).tolist()
    for row in out:
        if row[8] != row[8]:  # NaN
            row[8] = None
    return out
