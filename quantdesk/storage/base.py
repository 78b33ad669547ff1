"""The repository interface over the market tables, and the backend registry.

Tables (seed D): ``market_klines``, ``stock_state``, ``market_status``,
``realtime_prices``, ``stock_metadata`` plus ``schema_version`` for
migrations. Bars travel as pandas DataFrames with the columns of
:data:`quantdesk.domain.BAR_COLUMNS`; ``time`` is int64 epoch ms UTC (the bar
start). Every write is an idempotent upsert on the natural key.

=========================  ========  ==============================================
method                     required  what it does
=========================  ========  ==============================================
``migrate()``              yes       apply pending versioned migrations; return version
``upsert_bars(df)``        yes       idempotent bulk upsert on (symbol, interval, time)
``query_bars(...)``        yes       rows in BAR_COLUMNS order, ascending time
``delete_bars(symbol)``    yes       remove bars (all, or of one symbol)
``count_bars(...)``        yes       number of stored bars
``last_bar_time(...)``     yes       newest bar start (ms) or None
``upsert_metadata``        yes       write ``stock_metadata`` rows
``list_metadata()``        yes       read ``stock_metadata``
``save_states``            yes       write ``stock_state`` rows (simulator state)
``load_states()``          yes       read ``stock_state`` keyed by symbol
``set_market_status``      yes       write a ``market_status`` row
``get_market_status``      yes       read it
``upsert_prices``          yes       write the real-time price table
``get_prices``             yes       read it
``upsert_factors``         yes       write ``factor_values`` (symbol, name, interval, ts)
``query_factors``          yes       read them, ascending ts
``upsert_signals``         yes       write ``signals`` (rule_id, symbol, ts, factor)
``query_signals``          yes       read them, ascending ts
``add_dead_letters``       yes       append rejected payloads to ``dead_letters``
``dead_letter_counts()``   yes       rejected messages by reason
``save_checkpoint``        yes       a stream consumer's state + offset per partition
``load_checkpoint``        yes       read it back
``add_user``               yes       insert a ``users`` row unless the name exists
``get_user(username)``     yes       one :class:`UserRow` or None
``list_users()``           yes       every user, by name
``set_password_hash``      yes       replace a user's password hash (False: no such user)
``save_signal_rule``       yes       persist a rule (dict) or a tombstone (None)
``load_signal_rules()``    yes       rule id -> rule dict, or None when deleted
``upsert_tweets``          yes       write scored tweets (``tweets``, ``tweet_symbols``) by id
``query_tweets``           yes       read them (of one symbol or all), ascending time
``close()``                yes       release connections
=========================  ========  ==============================================

Implementations are safe to call from several threads (the API server runs
synchronous handlers in a thread pool).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from quantdesk.domain import FactorValue, ScoredTweet, Signal, StockMeta, StockState

BarRow = tuple[str, str, int, float, float, float, float, float, float, int, str]


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One row of the real-time price table (latest trade per symbol)."""

    symbol: str
    time: int
    price: float
    volume: float
    source: str


@dataclass(frozen=True, slots=True)
class UserRow:
    """One row of ``users``: the password is only ever stored as an argon2 hash."""

    username: str
    password_hash: str
    role: str
    created_at: int


class DeadLetterRow(Protocol):
    """What :meth:`Store.add_dead_letters` needs (a :class:`quantdesk.bus.DeadLetter` fits)."""

    @property
    def reason(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def error(self) -> str: ...


@dataclass(frozen=True, slots=True)
class MarketStatus:
    """One row of ``market_status``: ``status`` open/closed, ``phase`` morning/afternoon/..."""

    market: str
    status: str
    phase: str
    time: int


class Store(ABC):
    """A repository over one database. Obtain one with :func:`open_store`."""

    url: str

    @abstractmethod
    def migrate(self) -> int: ...

    @abstractmethod
    def upsert_bars(self, bars: pd.DataFrame) -> int:
        """Insert or replace bars; return the number of rows written."""

    @abstractmethod
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

    def data_version(self) -> Hashable | None:
        """A token that changes whenever anything stored may have changed, or None.

        For the calling thread's reads: take it *before* a query, and a result
        cached under it is current as long as the token comes back equal (a
        write landing between the two only makes the token change sooner).
        Covers writes from this process and from others. ``None`` (the
        default): the backend cannot tell cheaply, so nothing may be cached.
        """
        return None

    @abstractmethod
    def delete_bars(self, symbol: str | None = None) -> int: ...

    @abstractmethod
    def count_bars(self, symbol: str | None = None, interval: str | None = None) -> int: ...

    @abstractmethod
    def last_bar_time(self, interval: str = "1m", symbol: str | None = None) -> int | None: ...

    @abstractmethod
    def upsert_metadata(self, metas: Sequence[StockMeta]) -> None: ...

    @abstractmethod
    def list_metadata(self) -> list[StockMeta]: ...

    @abstractmethod
    def save_states(self, states: Sequence[StockState]) -> None: ...

    @abstractmethod
    def load_states(self) -> dict[str, StockState]: ...

    @abstractmethod
    def set_market_status(self, status: MarketStatus) -> None: ...

    @abstractmethod
    def get_market_status(self, market: str) -> MarketStatus | None: ...

    @abstractmethod
    def upsert_prices(self, rows: Sequence[PriceRow]) -> None: ...

    @abstractmethod
    def get_prices(self, symbols: Sequence[str] | None = None) -> list[PriceRow]: ...

    @abstractmethod
    def upsert_factors(self, factors: Sequence[FactorValue]) -> None: ...

    @abstractmethod
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

    @abstractmethod
    def upsert_signals(self, signals: Sequence[Signal]) -> None: ...

    @abstractmethod
    def query_signals(
        self,
        symbol: str | None = None,
        rule_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Signal]:
        """Signals with ``start <= ts < end``; with ``limit`` the newest; ascending ts."""

    @abstractmethod
    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> None: ...

    @abstractmethod
    def dead_letter_counts(self) -> dict[str, int]: ...

    @abstractmethod
    def save_checkpoint(
        self, group: str, topic: str, partition: int, offset: int, state: bytes
    ) -> None: ...

    @abstractmethod
    def load_checkpoint(
        self, group: str, topic: str, partition: int
    ) -> tuple[int, bytes] | None: ...

    @abstractmethod
    def add_user(self, username: str, password_hash: str, role: str) -> bool:
        """Insert a user; False (and no change) when the name already exists."""

    @abstractmethod
    def get_user(self, username: str) -> UserRow | None: ...

    @abstractmethod
    def list_users(self) -> list[UserRow]: ...

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace ``username``'s argon2 hash; False (and no change) when there is no such user."""
        raise NotImplementedError(f"{type(self).__name__} cannot change passwords")

    @abstractmethod
    def save_signal_rule(self, rule_id: str, rule: dict[str, Any] | None) -> None:
        """Persist a rule as plain data, or ``None`` to record its deletion."""

    @abstractmethod
    def load_signal_rules(self) -> dict[str, dict[str, Any] | None]:
        """Persisted rules by id (oldest change first); ``None`` marks a deleted rule."""

    @abstractmethod
    def upsert_tweets(self, tweets: Sequence[ScoredTweet]) -> int:
        """Insert or replace tweets by id (a later version wins); return the rows written."""

    @abstractmethod
    def query_tweets(
        self,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[ScoredTweet]:
        """Tweets (naming ``symbol``) with ``start <= time < end``; with ``limit`` the
        newest; ascending time (ties by id)."""

    @abstractmethod
    def close(self) -> None: ...

    def bars_frame(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """:meth:`query_bars` as a DataFrame with a tz-aware UTC ``time`` column."""
        from quantdesk.domain import BAR_COLUMNS

        df = pd.DataFrame(
            self.query_bars(symbol, interval, start, end, limit), columns=list(BAR_COLUMNS)
        )
        df["time"] = pd.to_datetime(df["time"].astype("int64"), unit="ms", utc=True)
        return df

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


#: URL scheme -> factory. Backends register themselves here.
BACKENDS: dict[str, Callable[[str], Store]] = {}
