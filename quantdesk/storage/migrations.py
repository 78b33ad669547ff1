"""Versioned schema migrations for SQLite and PostgreSQL.

:data:`MIGRATIONS` is the ordered list of numbered steps. A step runs inside
one transaction together with its ``schema_version`` row, so a failed step
leaves the schema at the previous version; running the migrations again is a
no-op, and two processes migrating at once take turns (SQLite's write lock,
PostgreSQL's advisory lock), so each step is applied once.

To change the schema, append a step (never edit an applied one). A new table
family writes its step once, as SQLAlchemy Core tables (created with their
indexes on either dialect)::

    MIGRATIONS.append(Migration(5, "orders and fills", tables=(ORDERS, FILLS)))

A step may also carry raw statements per dialect (``sqlite=(...)``,
``postgres=(...)``), run before its tables: steps 1-4 are written that way
(they predate the Core tables and stay as they are, so a store created by an
earlier release upgrades in place) and an ``ALTER TABLE`` that Core cannot
express would be too.

Conventions of steps 1-4: SQLite stores times as INTEGER epoch ms; PostgreSQL
as TIMESTAMPTZ. PostgreSQL text keys use ``COLLATE "C"`` (byte order, as
SQLite's BINARY, and much cheaper to compare than a locale collation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from quantdesk.errors import StorageError
from quantdesk.storage import sql
from quantdesk.storage.apikeys import TABLES as APIKEY_TABLES
from quantdesk.storage.audit import TABLES as AUDIT_TABLES
from quantdesk.storage.jobs import TABLES as JOB_TABLES
from quantdesk.storage.models import OUTCOME_TABLES
from quantdesk.storage.models import TABLES as MODEL_TABLES
from quantdesk.storage.permissions import TABLES as PERMISSION_TABLES
from quantdesk.storage.sql import TimestampMs
from quantdesk.storage.trading import LIVE_ACCOUNT_TABLES, TRADING_TABLES

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "latest_version", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step: raw statements per dialect, then Core tables to create."""

    version: int
    name: str
    sqlite: tuple[str, ...] = ()
    postgres: tuple[str, ...] = ()
    tables: tuple[sa.Table, ...] = ()

    def __post_init__(self) -> None:
        if not (self.sqlite or self.postgres or self.tables):
            raise StorageError(f"migration {self.version} ({self.name}) has nothing to do")
        if (self.sqlite or self.postgres) and not (self.sqlite and self.postgres):
            raise StorageError(
                f"migration {self.version} ({self.name}) needs raw statements for both"
                " SQLite and PostgreSQL, or neither"
            )

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The raw statements for ``dialect`` (``sqlite`` or ``postgresql``)."""
        if dialect == "sqlite":
            return self.sqlite
        if dialect == "postgresql":
            return self.postgres
        if self.sqlite or self.postgres:
            raise StorageError(f"migration {self.version} has no statements for {dialect!r}")
        return ()

    def apply(self, conn: sa.Connection) -> None:
        """Run the step on ``conn`` (inside the caller's transaction)."""
        for statement in self.statements(conn.dialect.name):
            conn.exec_driver_sql(statement)
        if self.tables:
            self.tables[0].metadata.create_all(conn, tables=list(self.tables), checkfirst=False)


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
    Migration(5, "trading: accounts, orders, fills, risk alerts, backtests", tables=TRADING_TABLES),
    Migration(
        6, "jobs: schedules, runs, lease; stock permissions", tables=JOB_TABLES + PERMISSION_TABLES
    ),
    Migration(7, "API keys and the audit log", tables=APIKEY_TABLES + AUDIT_TABLES),
    Migration(8, "models: versions, aliases, alias events, predictions", tables=MODEL_TABLES),
    Migration(9, "trading: the live account's equity, risk settings", tables=LIVE_ACCOUNT_TABLES),
    Migration(10, "models: realised outcomes of predictions (A/B)", tables=OUTCOME_TABLES),
]

#: Serialises concurrent migrators on one PostgreSQL database (pg_advisory_xact_lock key).
PG_MIGRATION_LOCK: Final = 0x71D35C_0001

# The version table itself (created before any step, with IF NOT EXISTS): as in
# the first release, so that its stores are recognised.
_BOOTSTRAP: Final = {
    "sqlite": """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)""",
}

#: ``schema_version``: one row per applied step (not on :data:`METADATA`: it is
#: created by the bootstrap statement above, never by ``create_all``).
SCHEMA_VERSION: Final = sa.Table(
    "schema_version",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", TimestampMs, nullable=False),
)


def latest_version() -> int:
    """The version a fully migrated database has."""
    return _checked()[-1].version if MIGRATIONS else 0


def _checked() -> list[Migration]:
    versions = [m.version for m in MIGRATIONS]
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"migration versions must run 1, 2, 3 ... without gaps; got {versions}")
    return MIGRATIONS


def _version(conn: sa.Connection) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.max(SCHEMA_VERSION.c.version), 0))
    return int(conn.execute(stmt).scalar_one())


def migrate(engine: sa.Engine) -> int:
    """Apply the pending steps on ``engine``'s database; return the schema version.

    Each step is one write transaction (on PostgreSQL under an advisory lock,
    on SQLite under the database's write lock), which re-reads the version
    first: a step another process applied meanwhile is not applied again.
    """
    dialect = engine.dialect.name
    if dialect not in _BOOTSTRAP:
        raise StorageError(f"unsupported database dialect {dialect!r}")
    steps = _checked()
    with sql.errors(engine, "migration failed"):
        with sql.write(engine) as conn:
            sql.serialize(conn, PG_MIGRATION_LOCK)
            conn.exec_driver_sql(_BOOTSTRAP[dialect])
            current = _version(conn)
        if current >= latest_version():
            return current
        for step in steps:
            with sql.write(engine) as conn:
                sql.serialize(conn, PG_MIGRATION_LOCK)
                if _version(conn) < step.version:
                    step.apply(conn)
                    conn.execute(
                        sa.insert(SCHEMA_VERSION).values(
                            version=step.version, name=step.name, applied_at=sql.now_ms()
                        )
                    )
        with sql.read(engine) as conn:
            return _version(conn)
