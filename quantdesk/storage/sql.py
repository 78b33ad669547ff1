"""SQL written once: SQLAlchemy Core tables and the few dialect differences in one place.

Every table family (orders and fills, model versions and predictions, job runs,
audit, API keys, ...) declares its tables on :data:`METADATA` in its own module
under :mod:`quantdesk.storage` and writes its queries once with SQLAlchemy Core
expressions. The only per-dialect code lives here:

================  ===================================================================
helper            what differs between SQLite and PostgreSQL
================  ===================================================================
``engine_for``    driver (``sqlite+pysqlite`` / ``postgresql+psycopg``), pragmas
``upsert``        ``INSERT .. ON CONFLICT (key) DO UPDATE`` (both dialects have it,
                  SQLAlchemy builds it from each dialect's ``insert``)
``insert_new``    ``INSERT .. ON CONFLICT DO NOTHING``: idempotent appends
================  ===================================================================

Conventions: times are ``BIGINT`` epoch ms UTC (:data:`Millis`), money and prices
are ``Float`` unless a family needs exact decimals (then ``Numeric`` and
:class:`decimal.Decimal`), JSON documents are ``Text`` holding orjson output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from quantdesk.errors import StorageError

__all__ = ["METADATA", "Millis", "engine_for", "insert_new", "upsert"]

#: The tables of every family declared with SQLAlchemy Core.
METADATA = sa.MetaData()

#: Epoch milliseconds UTC.
Millis = sa.BigInteger


def engine_for(url: str, **kwargs: Any) -> sa.Engine:
    """A SQLAlchemy engine for a quantdesk store URL (``sqlite:///x.db``, ``postgresql://...``)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        engine = sa.create_engine(f"sqlite+pysqlite://{rest}", **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if scheme in {"postgresql", "postgres"} and sep:
        return sa.create_engine(f"postgresql+psycopg://{rest}", **kwargs)
    raise StorageError(f"unknown database URL scheme {scheme + '://'!r}")


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
    """Insert ``rows``; a row whose ``key`` exists replaces the ``update`` columns (default all)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    cols = update if update is not None else [c.name for c in table.columns if c.name not in key]
    if cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in cols}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, [dict(r) for r in rows])


def insert_new(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> None:
    """Insert ``rows`` whose ``key`` is not stored yet; existing rows are left untouched."""
    if not rows:
        return
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, [dict(r) for r in rows])
