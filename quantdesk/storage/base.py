"""The store: one object over the table families of one database, and the backend registry.

Each table family is a repository with its SQL written once (SQLAlchemy Core,
see :mod:`quantdesk.storage.sql`); a :class:`Store` holds one of each, on one
:class:`sqlalchemy.Engine`:

==================  =================================  ==========================================
attribute           repository                         tables
==================  =================================  ==========================================
``store.bars``      :class:`~.bars.Bars`               ``market_klines``
``store.market``    :class:`~.market.Market`           ``stock_metadata``, ``stock_state``,
                                                       ``market_status``, ``realtime_prices``
``store.streams``   :class:`~.streams.Streams`         ``factor_values``, ``signals``,
                                                       ``dead_letters``, ``stream_checkpoints``,
                                                       ``signal_rules``
``store.tweets``    :class:`~.tweets.Tweets`           ``tweets``, ``tweet_symbols``
``store.accounts``  :class:`~.accounts.Accounts`       ``users``
``store.engine``    :class:`sqlalchemy.Engine`         new families build their repository on it
==================  =================================  ==========================================

The methods below (``store.upsert_bars(frame)``, ``store.query_bars(...)``)
are the store's public API used across quantdesk; each delegates to its
family's repository. Every one is safe to call from several threads (the
API server runs synchronous handlers in a thread pool).

**Backends** are the plug point, registered in :data:`BACKENDS` (a
:class:`~quantdesk.plugins.Registry` keyed by URL scheme) and chosen by
:func:`~quantdesk.storage.open_store`. A backend is a :class:`Store` subclass:

======================  ========  =============================================================
member                  required  what it does
======================  ========  =============================================================
``__init__(url)``       yes       build the engine (:func:`~quantdesk.storage.sql.engine_for`)
                                  and call ``Store.__init__(url, engine, bars)``
``bars``                optional  a :class:`~.bars.Bars` subclass with the backend's bulk path
                                  and :meth:`~.bars.Bars.data_version` (default: Core upserts,
                                  no version, so ``/api/klines`` answers are not cached)
``close()``             optional  release more than the engine (call ``super().close()``)
======================  ========  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from quantdesk.domain import BAR_COLUMNS, FactorValue, ScoredTweet, Signal, StockMeta, StockState
from quantdesk.plugins import Registry
from quantdesk.storage import engines, migrations
from quantdesk.storage.accounts import Accounts, UserRow
from quantdesk.storage.bars import BarRow, Bars
from quantdesk.storage.market import Market, MarketStatus, PriceRow
from quantdesk.storage.streams import DeadLetterRow, Streams
from quantdesk.storage.tweets import Tweets

__all__ = [
    "BACKENDS",
    "BarRow",
    "DeadLetterRow",
    "MarketStatus",
    "PriceRow",
    "Store",
    "UserRow",
]


class Store:
    """The table families of one database. Obtain one with :func:`~quantdesk.storage.open_store`."""

    def __init__(self, url: str, engine: sa.Engine, bars: Bars | None = None) -> None:
        self.url = url
        #: The SQLAlchemy engine on this database (for the in-memory ``sqlite://`` store,
        #: the one database: its single connection is handed out in turn).
        self.engine = engine
        self.bars = bars if bars is not None else Bars(engine)
        self.market = Market(engine)
        self.streams = Streams(engine)
        self.tweets = Tweets(engine)
        self.accounts = Accounts(engine)

    # -- schema and lifetime ------------------------------------------------------------

    def migrate(self) -> int:
        """Apply pending versioned migrations; return the schema version."""
        return migrations.migrate(self.engine)

    def close(self) -> None:
        """Release connections; later calls raise "the store ... is closed"."""
        self.bars.close()
        engines.close(self.engine)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- bars ---------------------------------------------------------------------------

    def upsert_bars(self, bars: pd.DataFrame) -> int:
        """Insert or replace bars; return the number of rows written."""
        return self.bars.upsert(bars)

    def query_bars(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[BarRow]:
        """Bars with ``start <= time < end``; with ``limit``, the newest ``limit`` of them.

        Always returned in ascending ``time``.
        """
        return self.bars.query(symbol, interval, start, end, limit)

    def data_version(self) -> Hashable | None:
        """A token that changes whenever anything stored may have changed, or None
        (see :meth:`~quantdesk.storage.bars.Bars.data_version`)."""
        return self.bars.data_version()

    def delete_bars(self, symbol: str | None = None) -> int:
        return self.bars.delete(symbol)

    def count_bars(self, symbol: str | None = None, interval: str | None = None) -> int:
        return self.bars.count(symbol, interval)

    def last_bar_time(self, interval: str = "1m", symbol: str | None = None) -> int | None:
        return self.bars.last_time(interval, symbol)

    def bars_frame(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """:meth:`query_bars` as a DataFrame with a tz-aware UTC ``time`` column."""
        df = pd.DataFrame(
            self.query_bars(symbol, interval, start, end, limit), columns=list(BAR_COLUMNS)
        )
        df["time"] = pd.to_datetime(df["time"].astype("int64"), unit="ms", utc=True)
        return df

    # -- metadata, state, status, prices ------------------------------------------------

    def upsert_metadata(self, metas: Sequence[StockMeta]) -> None:
        self.market.upsert_metadata(metas)

    def list_metadata(self) -> list[StockMeta]:
        return self.market.list_metadata()

    def save_states(self, states: Sequence[StockState]) -> None:
        self.market.save_states(states)

    def load_states(self) -> dict[str, StockState]:
        return self.market.load_states()

    def set_market_status(self, status: MarketStatus) -> None:
        self.market.set_status(status)

    def get_market_status(self, market: str) -> MarketStatus | None:
        return self.market.get_status(market)

    def upsert_prices(self, rows: Sequence[PriceRow]) -> None:
        self.market.upsert_prices(rows)

    def get_prices(self, symbols: Sequence[str] | None = None) -> list[PriceRow]:
        return self.market.get_prices(symbols)

    # -- stream tables ------------------------------------------------------------------

    def upsert_factors(self, factors: Sequence[FactorValue]) -> None:
        self.streams.upsert_factors(factors)

    def query_factors(
        self,
        symbol: str,
        name: str | None = None,
        interval: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[FactorValue]:
        """Factor values with ``start <= ts < end``; with ``limit`` the newest; ascending ts."""
        return self.streams.query_factors(symbol, name, interval, start, end, limit)

    def upsert_signals(self, signals: Sequence[Signal]) -> None:
        self.streams.upsert_signals(signals)

    def query_signals(
        self,
        symbol: str | None = None,
        rule_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Signal]:
        """Signals with ``start <= ts < end``; with ``limit`` the newest; ascending ts."""
        return self.streams.query_signals(symbol, rule_id, start, end, limit)

    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> None:
        self.streams.add_dead_letters(items)

    def dead_letter_counts(self) -> dict[str, int]:
        return self.streams.dead_letter_counts()

    def save_checkpoint(
        self, group: str, topic: str, partition: int, offset: int, state: Any
    ) -> None:
        """A stream consumer's operator state (plain data) with the offset it covers."""
        self.streams.save_checkpoint(group, topic, partition, offset, state)

    def delete_checkpoints(self, group: str) -> int:
        """Forget every checkpoint of consumer ``group``; the number deleted."""
        return self.streams.delete_checkpoints(group)

    def load_checkpoint(self, group: str, topic: str, partition: int) -> tuple[int, Any] | None:
        """``(offset, state)``, or None (also for a state an earlier release pickled)."""
        return self.streams.load_checkpoint(group, topic, partition)

    def save_signal_rule(self, rule_id: str, rule: dict[str, Any] | None) -> None:
        """Persist a rule as plain data, or ``None`` to record its deletion."""
        self.streams.save_rule(rule_id, rule)

    def load_signal_rules(self) -> dict[str, dict[str, Any] | None]:
        """Persisted rules by id (oldest change first); ``None`` marks a deleted rule."""
        return self.streams.load_rules()

    # -- users --------------------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str) -> bool:
        """Insert a user; False (and no change) when the name already exists."""
        return self.accounts.add_user(username, password_hash, role)

    def get_user(self, username: str) -> UserRow | None:
        return self.accounts.get_user(username)

    def list_users(self) -> list[UserRow]:
        return self.accounts.list_users()

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's argon2 hash; False (and no change) when there is no such user."""
        return self.accounts.set_password_hash(username, password_hash)

    # -- tweets -------------------------------------------------------------------------

    def upsert_tweets(self, tweets: Sequence[ScoredTweet]) -> int:
        """Insert or replace tweets by id (a later version wins); return the rows written."""
        return self.tweets.upsert(tweets)

    def query_tweets(
        self,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[ScoredTweet]:
        """Tweets (naming ``symbol``) with ``start <= time < end``; with ``limit`` the
        newest; ascending time (ties by id)."""
        return self.tweets.query(symbol, start, end, limit)


#: URL scheme -> backend (a :class:`Store` subclass, or any ``url -> Store`` callable).
BACKENDS: Registry[Callable[[str], Store]] = Registry("storage backend", "QUANTDESK_DATABASE_URL")
for _scheme in ("sqlite", "sqlite+pysqlite"):
    BACKENDS.register(_scheme, "quantdesk.storage.sqlite:SQLiteStore")
for _scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
    BACKENDS.register(_scheme, "quantdesk.storage.postgres:PostgresStore")
