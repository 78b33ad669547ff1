"""Versioned schema migrations for SQLite and PostgreSQL.

:data:`MIGRATIONS` is the ordered list of numbered steps; each step carries the
statements for both dialects. A step runs inside one transaction together with
its ``schema_version`` row, so a failed step leaves the schema at the previous
version. Running the migrations again is a no-op.

To change the schema, append a step (never edit an applied one)::

    MIGRATIONS.append(Migration(
        2, "factor values",
        sqlite=("CREATE TABLE factor_values (...)",),
        postgres=("CREATE TABLE factor_values (...)",),
    ))

Conventions: SQLite stores times as INTEGER epoch ms; PostgreSQL as
TIMESTAMPTZ. PostgreSQL text keys use ``COLLATE "C"`` (byte order, as SQLite's
BINARY, and much cheaper to compare than a locale collation).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Final

import psycopg

from quantdesk.errors import StorageError


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step with its statements for each dialect."""

    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


_SQLITE_V1: Final = (
    # WITHOUT ROWID: the rows live in the primary-key B-tree itself, so the
    # key order (symbol, interval, time) is the covering access path.
    """CREATE TABLE market_klines (
        symbol   TEXT    NOT NULL,
        interval TEXT    NOT NULL,
        time     INTEGER NOT NULL,
        open     REAL    NOT NULL,
        high     REAL    NOT NULL,
        low      REAL    NOT NULL,
        close    REAL    NOT NULL,
        volume   REAL    NOT NULL,
        vwap     REAL,
        trades   INTEGER NOT NULL DEFAULT 0,
        source   TEXT    NOT NULL,
        PRIMARY KEY (symbol, interval, time)
    ) WITHOUT ROWID""",
    """CREATE TABLE stock_state (
        symbol            TEXT    PRIMARY KEY,
        time              INTEGER NOT NULL,
        price             REAL    NOT NULL,
        volatility        REAL    NOT NULL,
        trend             REAL    NOT NULL,
        regime            TEXT    NOT NULL,
        next_regime_check INTEGER NOT NULL,
        extra             TEXT    NOT NULL DEFAULT '{}'
    )""",
    """CREATE TABLE market_status (
        market TEXT    PRIMARY KEY,
        status TEXT    NOT NULL,
        phase  TEXT    NOT NULL,
        time   INTEGER NOT NULL
    )""",
    """CREATE TABLE realtime_prices (
        symbol TEXT    PRIMARY KEY,
        time   INTEGER NOT NULL,
        price  REAL    NOT NULL,
        volume REAL    NOT NULL,
        source TEXT    NOT NULL
    )""",
    """CREATE TABLE stock_metadata (
        symbol      TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        market      TEXT NOT NULL,
        sector      TEXT NOT NULL,
        base_price  REAL NOT NULL,
        volatility  REAL NOT NULL,
        base_volume REAL NOT NULL,
        calendar    TEXT NOT NULL
    )""",
)

_PG_V1: Final = (
    # Partitioned by month on time; partitions are created on demand by the
    # store before a write (see quantdesk.storage.postgres). The primary key's
    # own index is the seed's covering index: (symbol, interval, time) INCLUDE
    # (open, high, low, close, volume). PostgreSQL scans a B-tree backwards as
    # fast as forwards, so "newest first" needs no separate DESC index, and one
    # index instead of two roughly doubles bulk-load speed.
    """CREATE TABLE market_klines (
        symbol   TEXT COLLATE "C" NOT NULL,
        interval TEXT COLLATE "C" NOT NULL,
        time     TIMESTAMPTZ      NOT NULL,
        open     DOUBLE PRECISION NOT NULL,
        high     DOUBLE PRECISION NOT NULL,
        low      DOUBLE PRECISION NOT NULL,
        close    DOUBLE PRECISION NOT NULL,
        volume   DOUBLE PRECISION NOT NULL,
        vwap     DOUBLE PRECISION,
        trades   BIGINT           NOT NULL DEFAULT 0,
        source   TEXT COLLATE "C" NOT NULL,
        CONSTRAINT market_klines_pkey PRIMARY KEY (symbol, interval, time)
            INCLUDE (open, high, low, close, volume)
    ) PARTITION BY RANGE (time)""",
    """CREATE TABLE stock_state (
        symbol            TEXT COLLATE "C" PRIMARY KEY,
        time              TIMESTAMPTZ      NOT NULL,
        price             DOUBLE PRECISION NOT NULL,
        volatility        DOUBLE PRECISION NOT NULL,
        trend             DOUBLE PRECISION NOT NULL,
        regime            TEXT             NOT NULL,
        next_regime_check TIMESTAMPTZ      NOT NULL,
        extra             JSONB            NOT NULL DEFAULT '{}'::jsonb
    )""",
    """CREATE TABLE market_status (
        market TEXT COLLATE "C" PRIMARY KEY,
        status TEXT        NOT NULL,
        phase  TEXT        NOT NULL,
        time   TIMESTAMPTZ NOT NULL
    )""",
    # A cache of the latest trade per symbol: UNLOGGED skips the WAL (it is
    # emptied after a crash, and refilled by the next trades).
    """CREATE UNLOGGED TABLE realtime_prices (
        symbol TEXT COLLATE "C" PRIMARY KEY,
        time   TIMESTAMPTZ      NOT NULL,
        price  DOUBLE PRECISION NOT NULL,
        volume DOUBLE PRECISION NOT NULL,
        source TEXT             NOT NULL
    )""",
    """CREATE TABLE stock_metadata (
        symbol      TEXT COLLATE "C" PRIMARY KEY,
        name        TEXT             NOT NULL,
        market      TEXT             NOT NULL,
        sector      TEXT             NOT NULL,
        base_price  DOUBLE PRECISION NOT NULL,
        volatility  DOUBLE PRECISION NOT NULL,
        base_volume DOUBLE PRECISION NOT NULL,
        calendar    TEXT             NOT NULL
    )""",
)

_SQLITE_V2: Final = (
    """CREATE TABLE factor_values (
        symbol   TEXT    NOT NULL,
        name     TEXT    NOT NULL,
        interval TEXT    NOT NULL,
        ts       INTEGER NOT NULL,
        value    REAL    NOT NULL,
        PRIMARY KEY (symbol, name, interval, ts)
    ) WITHOUT ROWID""",
    """CREATE TABLE signals (
        rule_id TEXT    NOT NULL,
        symbol  TEXT    NOT NULL,
        ts      INTEGER NOT NULL,
        factor  TEXT    NOT NULL,
        side    TEXT    NOT NULL,
        value   REAL    NOT NULL,
        PRIMARY KEY (rule_id, symbol, ts, factor)
    ) WITHOUT ROWID""",
    "CREATE INDEX signals_by_symbol_time ON signals (symbol, ts)",
    """CREATE TABLE dead_letters (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        time   INTEGER NOT NULL,
        topic  TEXT    NOT NULL,
        reason TEXT    NOT NULL,
        error  TEXT    NOT NULL,
        raw    BLOB    NOT NULL
    )""",
    "CREATE INDEX dead_letters_by_reason ON dead_letters (reason)",
    """CREATE TABLE stream_checkpoints (
        grp        TEXT    NOT NULL,
        topic      TEXT    NOT NULL,
        partition  INTEGER NOT NULL,
        "offset"   INTEGER NOT NULL,
        state      BLOB    NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition)
    )""",
)

_PG_V2: Final = (
    """CREATE TABLE factor_values (
        symbol   TEXT COLLATE "C" NOT NULL,
        name     TEXT COLLATE "C" NOT NULL,
        interval TEXT COLLATE "C" NOT NULL,
        ts       TIMESTAMPTZ      NOT NULL,
        value    DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (symbol, name, interval, ts)
    )""",
    """CREATE TABLE signals (
        rule_id TEXT COLLATE "C" NOT NULL,
        symbol  TEXT COLLATE "C" NOT NULL,
        ts      TIMESTAMPTZ      NOT NULL,
        factor  TEXT COLLATE "C" NOT NULL,
        side    TEXT             NOT NULL,
        value   DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (rule_id, symbol, ts, factor)
    )""",
    "CREATE INDEX signals_by_symbol_time ON signals (symbol, ts)",
    """CREATE TABLE dead_letters (
        id     BIGSERIAL PRIMARY KEY,
        time   TIMESTAMPTZ NOT NULL DEFAULT now(),
        topic  TEXT        NOT NULL,
        reason TEXT        NOT NULL,
        error  TEXT        NOT NULL,
        raw    BYTEA       NOT NULL
    )""",
    "CREATE INDEX dead_letters_by_reason ON dead_letters (reason)",
    """CREATE TABLE stream_checkpoints (
        grp        TEXT        NOT NULL,
        topic      TEXT        NOT NULL,
        partition  INTEGER     NOT NULL,
        "offset"   BIGINT      NOT NULL,
        state      BYTEA       NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (grp, topic, partition)
    )""",
)

_SQLITE_V3: Final = (
    """CREATE TABLE users (
        username      TEXT    PRIMARY KEY,
        password_hash TEXT    NOT NULL,
        role          TEXT    NOT NULL CHECK (role IN ('admin', 'guest')),
        created_at    INTEGER NOT NULL
    )""",
    """CREATE TABLE signal_rules (
        id         TEXT    PRIMARY KEY,
        rule       TEXT,
        deleted    INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
    )""",
)

_PG_V3: Final = (
    """CREATE TABLE users (
        username      TEXT COLLATE "C" PRIMARY KEY,
        password_hash TEXT        NOT NULL,
        role          TEXT        NOT NULL CHECK (role IN ('admin', 'guest')),
        created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE signal_rules (
        id         TEXT COLLATE "C" PRIMARY KEY,
        rule       JSONB,
        deleted    BOOLEAN     NOT NULL DEFAULT false,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )""",
)

_SQLITE_V4: Final = (
    # A rowid table (texts up to 10,000 characters are too big for WITHOUT ROWID).
    """CREATE TABLE tweets (
        id         TEXT    PRIMARY KEY,
        version_id TEXT    NOT NULL,
        time       INTEGER NOT NULL,
        author_id  TEXT,
        text       TEXT    NOT NULL,
        symbols    TEXT    NOT NULL DEFAULT '[]',
        score      REAL    NOT NULL CHECK (score BETWEEN -1 AND 1),
        label      TEXT    NOT NULL,
        source     TEXT    NOT NULL
    )""",
    "CREATE INDEX tweets_by_time ON tweets (time, id)",
    # One row per (tweet, symbol it names): "the newest tweets of X" is a
    # backward range scan of this key, joined to tweets by primary key.
    """CREATE TABLE tweet_symbols (
        symbol   TEXT    NOT NULL,
        time     INTEGER NOT NULL,
        tweet_id TEXT    NOT NULL,
        PRIMARY KEY (symbol, time, tweet_id)
    ) WITHOUT ROWID""",
)

_PG_V4: Final = (
    """CREATE TABLE tweets (
        id         TEXT COLLATE "C" PRIMARY KEY,
        version_id TEXT COLLATE "C" NOT NULL,
        time       TIMESTAMPTZ      NOT NULL,
        author_id  TEXT,
        text       TEXT             NOT NULL,
        symbols    TEXT[]           NOT NULL DEFAULT '{}',
        score      DOUBLE PRECISION NOT NULL CHECK (score BETWEEN -1 AND 1),
        label      TEXT             NOT NULL,
        source     TEXT             NOT NULL
    )""",
    "CREATE INDEX tweets_by_time ON tweets (time, id)",
    """CREATE TABLE tweet_symbols (
        symbol   TEXT COLLATE "C" NOT NULL,
        time     TIMESTAMPTZ      NOT NULL,
        tweet_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (symbol, time, tweet_id)
    )""",
)

#: Every schema step, in order. Append new steps; never edit an applied one.
MIGRATIONS: list[Migration] = [
    Migration(1, "market tables (seed D)", sqlite=_SQLITE_V1, postgres=_PG_V1),
    Migration(
        2,
        "stream tables: factor values, signals, dead letters, checkpoints",
        sqlite=_SQLITE_V2,
        postgres=_PG_V2,
    ),
    Migration(3, "users and persisted signal rules", sqlite=_SQLITE_V3, postgres=_PG_V3),
    Migration(4, "scored tweets by symbol", sqlite=_SQLITE_V4, postgres=_PG_V4),
]

#: Serialises concurrent migrators on one PostgreSQL database (pg_advisory_xact_lock key).
PG_MIGRATION_LOCK: Final = 0x71D35C_0001

_SQLITE_BOOTSTRAP: Final = """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)"""
_PG_BOOTSTRAP: Final = """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


def latest_version() -> int:
    """The version a fully migrated database has."""
    return _checked()[-1].version if MIGRATIONS else 0


def _checked() -> list[Migration]:
    versions = [m.version for m in MIGRATIONS]
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"migration versions must run 1, 2, 3 ... without gaps; got {versions}")
    return MIGRATIONS


def migrate_sqlite(conn: sqlite3.Connection) -> int:
    """Apply pending steps on ``conn`` (autocommit mode); return the schema version."""
    conn.execute(_SQLITE_BOOTSTRAP)
    if _sqlite_version(conn) >= latest_version():
        return _sqlite_version(conn)
    for step in _checked():
        # BEGIN IMMEDIATE takes the write lock first, so two processes migrating
        # at once run one after the other and the second sees the step applied.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _sqlite_version(conn) < step.version:
                for sql in step.sqlite:
                    conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.name, int(time.time() * 1000)),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return _sqlite_version(conn)


def _sqlite_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate_postgres(conn: psycopg.Connection[Any]) -> int:
    """Apply pending steps on ``conn`` (autocommit mode); return the schema version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
        conn.execute(_PG_BOOTSTRAP)
        if _pg_version(conn) >= latest_version():
            return _pg_version(conn)
    for step in _checked():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
            if _pg_version(conn) < step.version:
                for sql in step.postgres:
                    conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                    (step.version, step.name),
                )
    return _pg_version(conn)


def _pg_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0
