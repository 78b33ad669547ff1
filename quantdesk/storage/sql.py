"""SQL written once: SQLAlchemy Core tables and the few dialect differences in one place.

Every table family (bars, stream tables, tweets, users; orders and fills,
model versions and predictions, job runs, audit, API keys, ...) declares its
tables on :data:`METADATA` in its own module under :mod:`quantdesk.storage`
and writes its queries once with SQLAlchemy Core expressions. The per-dialect
code lives here and in :mod:`quantdesk.storage.engines` (engines, pools,
transactions):

===================  ===============================================================
helper               what differs between SQLite and PostgreSQL
===================  ===============================================================
``upsert``           ``INSERT .. ON CONFLICT (key) DO UPDATE`` (both dialects have it,
                     SQLAlchemy builds it from each dialect's ``insert``)
``insert_new``       ``INSERT .. ON CONFLICT DO NOTHING``: idempotent appends
``delete_all``       ``DELETE`` / ``TRUNCATE`` (PostgreSQL: no row-by-row delete)
``serialize``        nothing / ``pg_advisory_xact_lock``: writers of one family take
                     turns (SQLite's write transaction already holds the lock)
``RawQuery``         a Core SELECT compiled once per dialect and run on the DBAPI
                     connection (qmark / pyformat, psycopg's binary results)
:class:`TimestampMs`  ``INTEGER`` epoch ms / ``TIMESTAMPTZ`` (converted in SQL on the
                     way out, exactly in Python on the way in)
:class:`JsonDoc`     ``TEXT`` holding orjson output / ``JSONB``
:class:`TextList`    ``TEXT`` holding a JSON list / ``TEXT[]``
:class:`SafeText`    ``TEXT`` / ``TEXT`` with NUL stored as U+FFFD (PostgreSQL text
                     cannot hold NUL)
:data:`Key`          ``TEXT`` / ``TEXT COLLATE "C"`` (byte order, as SQLite's BINARY,
                     and much cheaper to compare than a locale collation)
:data:`Id`           ``INTEGER PRIMARY KEY`` (SQLite's rowid) / ``BIGSERIAL``
:class:`Real`        ``REAL`` / ``DOUBLE PRECISION``, bound as given (no per-row call)
===================  ===============================================================

Conventions for new families: times are ``BIGINT`` epoch ms UTC
(:data:`Millis`); money and prices are ``Float`` unless a family needs exact
decimals (then ``Numeric`` and :class:`decimal.Decimal`); JSON documents are
:class:`JsonDoc`; text keys are :data:`Key`. The tables of releases 1-4 store
times as :class:`TimestampMs` (``TIMESTAMPTZ`` on PostgreSQL, where
``market_klines`` is partitioned by month on it).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from quantdesk.errors import StorageError
from quantdesk.storage.engines import engine_for, errors, raw, read, write

__all__ = [
    "METADATA",
    "Id",
    "JsonDoc",
    "Key",
    "Millis",
    "RawQuery",
    "Real",
    "SafeText",
    "TextList",
    "TimestampMs",
    "delete_all",
    "engine_for",
    "errors",
    "insert_new",
    "raw",
    "read",
    "serialize",
    "upsert",
    "upsert_values",
    "write",
]

#: The tables of every family declared with SQLAlchemy Core.
METADATA = sa.MetaData()

#: Epoch milliseconds UTC.
Millis = sa.BigInteger

#: A surrogate key: SQLite's rowid alias (``INTEGER PRIMARY KEY``), ``BIGSERIAL`` on PostgreSQL.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: A text key: ``COLLATE "C"`` on PostgreSQL (byte order, the same order as SQLite's).
Key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def now_ms() -> int:
    """The wall clock in epoch ms (bookkeeping times such as ``updated_at``)."""
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    """Epoch ms -> aware UTC datetime (exact: no float on the way)."""
    return EPOCH + timedelta(milliseconds=int(ms))


def datetime_to_ms(value: datetime) -> int:
    return (value - EPOCH) // _MS


class _EpochMs(FunctionElement[int]):
    """A timestamp column as epoch ms in a SELECT list (see :class:`TimestampMs`)."""

    inherit_cache = True
    type = sa.BigInteger()
    name = "quantdesk_epoch_ms"


@compiles(_EpochMs)
def _epoch_ms(element: _EpochMs, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_EpochMs, "postgresql")
def _epoch_ms_pg(element: _EpochMs, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part is float8 (extract is numeric, slower): exact for whole-ms times,
    # as float8 keeps sub-microsecond precision up to the year 2242.
    inner = compiler.process(next(iter(element.clauses)), **kw)
    return f"(date_part('epoch', {inner}) * 1000)::bigint"


class TimestampMs(sa.types.TypeDecorator[int]):
    """Epoch ms in Python; ``INTEGER`` on SQLite, ``TIMESTAMPTZ`` on PostgreSQL.

    Selected columns are converted by the server (``date_part``), bound values
    in Python (int -> aware datetime, exact).
    """

    impl = sa.BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(sa.BigInteger())

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        if dialect.name != "postgresql":
            return None  # ints as they are (no per-row call: the sink writes thousands)
        return super().bind_processor(dialect)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value if isinstance(value, datetime) else ms_to_datetime(value)
        return int(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return datetime_to_ms(value)
        return int(value)

    def column_expression(self, colexpr: Any) -> Any:
        return _EpochMs(colexpr)


class Real(sa.types.TypeDecorator[float]):
    """A float column (``REAL`` / ``DOUBLE PRECISION``) bound as given: no per-row
    conversion call (SQLAlchemy's ``Double`` runs ``float()`` on every value)."""

    impl = sa.Double
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        return None


class JsonDoc(sa.types.TypeDecorator[Any]):
    """A JSON document: ``TEXT`` (orjson output) on SQLite, ``JSONB`` on PostgreSQL."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(pg_dialect.JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if isinstance(value, str | bytes):
            return orjson.loads(value)
        return value


class TextList(sa.types.TypeDecorator[list[str]]):
    """A list of strings: ``TEXT`` (a JSON list) on SQLite, ``TEXT[]`` on PostgreSQL."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(pg_dialect.ARRAY(sa.Text()))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return orjson.dumps(list(value)).decode()

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str | bytes):
            return list(orjson.loads(value))
        return list(value)


class SafeText(sa.types.TypeDecorator[str]):
    """Text as given; on PostgreSQL (whose text cannot hold NUL) NUL is stored as U+FFFD."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return str(value).replace("\x00", "\ufffd")


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite_dialect.insert(table)
    if name == "postgresql":
        return pg_dialect.insert(table)
    raise StorageError(f"unsupported database dialect {name!r}")


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``; a row whose ``key`` exists replaces the ``update`` columns (default
    all the others). Every row has the same columns (those of the first)."""
    if rows:
        cols = tuple(rows[0])
        upsert_values(conn, table, cols, [tuple(r[c] for c in cols) for r in rows], key, update)


def upsert_values(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """:func:`upsert` with rows as sequences in ``columns`` order (no dict per row: for
    the hot paths, such as the stream sink's thousands of factor values)."""
    if rows:
        cols = tuple(columns)
        changed = tuple(c for c in (update if update is not None else cols) if c not in key)
        _batch(conn, table, cols, tuple(key), changed, rows)


def insert_new(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> int:
    """Insert ``rows`` whose ``key`` is not stored yet (others are left untouched); return
    how many were inserted."""
    if not rows:
        return 0
    cols = tuple(rows[0])
    return _batch(conn, table, cols, tuple(key), (), [tuple(r[c] for c in cols) for r in rows])


_Batch = tuple[str, str, sa.Table, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_BATCHES: dict[_Batch, RawQuery] = {}


def _batch(
    conn: sa.Connection,
    table: sa.Table,
    cols: tuple[str, ...],
    key: tuple[str, ...],
    changed: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
) -> int:
    """``INSERT .. ON CONFLICT`` of ``rows`` as one DBAPI ``executemany``; rows written.

    The statement is a Core expression compiled once per (dialect, table,
    columns, key); executing it on the DBAPI cursor of ``conn`` (inside its
    transaction) skips SQLAlchemy's per-call and per-row work, which cost as
    much as the writes themselves for the stream sink's batches (measured by
    ``python -m benchmarks release``, "sink").
    """
    dialect = conn.dialect
    if any(
        c.name not in cols and (c.default is not None or c.onupdate is not None)
        for c in table.columns
    ):
        # A Python-side default to fill in: SQLAlchemy's own execution does that.
        stmt = _conflict(_insert(conn, table), key, changed)
        result = conn.execute(
            stmt.execution_options(preserve_rowcount=True),
            [dict(zip(cols, r, strict=True)) for r in rows],
        )
        return max(0, int(result.rowcount))
    spec: _Batch = (dialect.name, str(dialect.paramstyle), table, cols, key, changed)
    query = _BATCHES.get(spec)
    if query is None:
        values = _insert(conn, table).values(
            {c: sa.bindparam(c, type_=table.c[c].type) for c in cols}
        )
        query = _BATCHES[spec] = RawQuery(_conflict(values, key, changed), dialect)
    params = query.many(cols, rows)
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        if len(params) == 1:
            cursor.execute(query.sql, params[0])
        else:
            cursor.executemany(query.sql, params)
        return max(0, int(cursor.rowcount))
    finally:
        cursor.close()


def _conflict(stmt: Any, key: tuple[str, ...], changed: tuple[str, ...]) -> Any:
    if changed:
        return stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in changed}
        )
    return stmt.on_conflict_do_nothing(index_elements=list(key))


def delete_all(conn: sa.Connection, table: sa.Table) -> int:
    """Empty ``table``; return how many rows it held. PostgreSQL truncates (no per-row work)."""
    if conn.dialect.name == "postgresql":
        count = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        conn.execute(sa.text(f"TRUNCATE {conn.dialect.identifier_preparer.format_table(table)}"))
        return count
    return int(conn.execute(sa.delete(table)).rowcount)


def serialize(conn: sa.Connection, key: int) -> None:
    """Make writers of one family take turns until this transaction ends.

    On PostgreSQL a transaction-scoped advisory lock on ``key``; on SQLite
    nothing (a :func:`write` transaction already holds the database's write lock).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def chunked(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """``items`` in slices of ``size`` (SQLite binds at most 32,766 parameters per statement)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class RawQuery:
    """A Core statement compiled once for one dialect, run on the DBAPI connection.

    For the hottest reads (the newest-N bars behind ``/api/klines``): the SQL
    is still written once as a Core expression, but executing it skips
    SQLAlchemy's per-call work (cache key, result rows), which costs about as
    much as the query itself. Parameters go through the bound types'
    processors; rows come back as plain tuples (psycopg in binary format), so
    selected columns should not need result processing (a
    :class:`TimestampMs` column is converted by the server).
    """

    def __init__(self, stmt: sa.ClauseElement, dialect: sa.Dialect) -> None:
        if not dialect.positional and dialect.name == "postgresql":
            # psycopg takes %s as well as %(name)s; positional parameters spare a
            # dict per row (the same dialect otherwise: a copy, with its server info).
            dialect = copy.copy(dialect)
            dialect.paramstyle = "format"
            dialect.positional = True
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.order: list[str] | None = (
            list(compiled.positiontup or ()) if compiled.positional else None
        )
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}
        self.processors: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                self.processors[name] = proc
        self.postgres = dialect.name == "postgresql"

    def args(self, params: Mapping[str, Any]) -> Any:
        """The DBAPI parameters for ``params`` (a list for qmark, a dict for pyformat)."""
        values = {**self.defaults, **params}
        for name, proc in self.processors.items():
            if name in values:
                values[name] = proc(values[name])
        return values if self.order is None else [values[k] for k in self.order]

    def many(self, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> Sequence[Any]:
        """DBAPI parameters for each of ``rows`` (values in ``columns`` order).

        With qmark parameters in that order and no processors (SQLite's usual
        case) the rows go to the driver as they are.
        """
        procs = self.processors
        if self.order is None:
            out = [dict(zip(columns, r, strict=True)) for r in rows]
            if procs:
                for d in out:
                    for name, proc in procs.items():
                        if name in d:
                            d[name] = proc(d[name])
            return out
        index = [columns.index(name) for name in self.order]
        if not procs and index == list(range(len(columns))):
            return rows
        spec = [(i, procs.get(name)) for i, name in zip(index, self.order, strict=True)]
        return [[r[i] if p is None else p(r[i]) for i, p in spec] for r in rows]

    def rows(self, dbapi_conn: Any, params: Mapping[str, Any]) -> list[Any]:
        """Run on ``dbapi_conn`` (a sqlite3 or psycopg connection); the rows as tuples."""
        args = self.args(params)
        if self.postgres:
            return list(dbapi_conn.execute(self.sql, args, binary=True).fetchall())
        return list(dbapi_conn.execute(self.sql, args).fetchall())
