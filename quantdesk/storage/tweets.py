"""Scored tweets (migration 4) for both backends: ``tweets`` and ``tweet_symbols``.

``tweets`` holds one row per tweet, keyed by its stable ``id`` (the first id
of its edit history, see :class:`~quantdesk.domain.ScoredTweet`): ``version_id``,
``time`` (the version's ``created_at``), ``author_id``, ``text`` (as received),
``symbols`` (JSON text on SQLite, ``text[]`` on PostgreSQL), ``score``,
``label``, ``source``. ``tweet_symbols`` has one row per (symbol, time,
tweet_id) and is the index behind "the newest tweets of symbol X".

:meth:`upsert_tweets` is idempotent and order-independent: in one
transaction it reads the stored versions of the batch's ids, keeps the
incoming rows whose version is the same or later (ids are Twitter snowflakes:
a longer id, or an equally long one that sorts later, is later), replaces
their ``tweets`` rows and their ``tweet_symbols`` rows (an edit may change
the time and the symbols). Delivering a batch twice, or an older version
after a newer one, changes nothing.

Mixed into :class:`~quantdesk.storage.sqlite.SQLiteStore` and
:class:`~quantdesk.storage.postgres.PostgresStore` like
:mod:`quantdesk.storage.streams`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import psycopg

from quantdesk.domain import ScoredTweet
from quantdesk.errors import DataError

__all__ = ["PostgresTweets", "SqliteTweets"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: ids looked up per statement (SQLite's default limit of bound parameters is 32,766).
_CHUNK: Final = 500
#: Serialises tweet writers on one PostgreSQL database (pg_advisory_xact_lock key).
PG_TWEETS_LOCK: Final = 0x71D35C_0004

_COLUMNS: Final = "id, version_id, time, author_id, text, symbols, score, label, source"
_TWEET_COLUMNS: Final = (
    "t.id, t.version_id, t.time, t.author_id, t.text, t.symbols, t.score, t.label, t.source"
)


def _version(tweet: ScoredTweet) -> str:
    return tweet.version_id or tweet.id


def _later_or_same(new: str, old: str) -> bool:
    """Snowflake ids grow with time: compare by length, then as text."""
    return (len(new), new) >= (len(old), old)


def _newest_per_id(tweets: Iterable[ScoredTweet]) -> dict[str, ScoredTweet]:
    """One tweet per id: the latest version (the last one given among equals)."""
    out: dict[str, ScoredTweet] = {}
    for t in tweets:
        if not t.id:
            raise DataError("tweet: an empty id cannot be stored")
        if not (isinstance(t.score, float | int) and math.isfinite(t.score) and -1 <= t.score <= 1):
            raise DataError(f"tweet {t.id}: score must be in [-1, 1], got {t.score!r}")
        seen = out.get(t.id)
        if seen is None or _later_or_same(_version(t), _version(seen)):
            out[t.id] = t
    return out


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _select(
    symbol: str | None, start: Any, end: Any, limit: int | None, mark: str
) -> tuple[str, list[Any]]:
    """The newest ``limit`` tweets (of ``symbol``) in ``[start, end)``, newest first."""
    params: list[Any] = []
    if symbol is None:
        sql = f"SELECT {_TWEET_COLUMNS} FROM tweets t WHERE true"
        time_col, id_col = "t.time", "t.id"
    else:
        sql = (
            f"SELECT {_TWEET_COLUMNS} FROM tweet_symbols s"
            f" JOIN tweets t ON t.id = s.tweet_id WHERE s.symbol = {mark}"
        )
        time_col, id_col = "s.time", "s.tweet_id"
        params.append(symbol)
    if start is not None:
        sql += f" AND {time_col} >= {mark}"
        params.append(start)
    if end is not None:
        sql += f" AND {time_col} < {mark}"
        params.append(end)
    sql += f" ORDER BY {time_col} DESC, {id_col} DESC"
    if limit is not None:
        sql += f" LIMIT {mark}"
        params.append(limit)
    return sql, params


class SqliteTweets:
    """Tweets on SQLite (times as INTEGER epoch ms, symbols as JSON text)."""

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def upsert_tweets(self, tweets: Sequence[ScoredTweet]) -> int:
        batch = _newest_per_id(tweets)
        if not batch:
            return 0
        with self._write() as conn:
            stored: dict[str, tuple[str, int, list[str]]] = {}
            for ids in _chunks(list(batch)):
                marks = ", ".join("?" * len(ids))
                for r in conn.execute(
                    f"SELECT id, version_id, time, symbols FROM tweets WHERE id IN ({marks})", ids
                ):
                    stored[r[0]] = (r[1], int(r[2]), orjson.loads(r[3]))
            winners = [
                t
                for t in batch.values()
                if t.id not in stored or _later_or_same(_version(t), stored[t.id][0])
            ]
            conn.executemany(
                "DELETE FROM tweet_symbols WHERE symbol = ? AND time = ? AND tweet_id = ?",
                [
                    (s, stored[t.id][1], t.id)
                    for t in winners
                    if t.id in stored
                    for s in stored[t.id][2]
                ],
            )
            conn.executemany(
                f"INSERT INTO tweets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET version_id = excluded.version_id,"
                " time = excluded.time, author_id = excluded.author_id, text = excluded.text,"
                " symbols = excluded.symbols, score = excluded.score, label = excluded.label,"
                " source = excluded.source",
                [
                    (
                        t.id,
                        _version(t),
                        t.time,
                        t.author_id,
                        t.text,
                        orjson.dumps(list(t.symbols)).decode(),
                        float(t.score),
                        t.label,
                        t.source,
                    )
                    for t in winners
                ],
            )
            conn.executemany(
                "INSERT INTO tweet_symbols (symbol, time, tweet_id) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(s, t.time, t.id) for t in winners for s in dict.fromkeys(t.symbols)],
            )
        return len(winners)

    def query_tweets(
        self,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[ScoredTweet]:
        sql, params = _select(symbol, start, end, limit, "?")
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_tweet(r, int(r[2]), orjson.loads(r[5])) for r in reversed(rows)]


class PostgresTweets:
    """Tweets on PostgreSQL (times as TIMESTAMPTZ, symbols as ``text[]``).

    PostgreSQL text cannot hold NUL characters: a NUL in a tweet's text or
    author id is stored as U+FFFD (SQLite keeps it).
    """

    def _conn(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def upsert_tweets(self, tweets: Sequence[ScoredTweet]) -> int:
        batch = _newest_per_id(tweets)
        if not batch:
            return 0
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            # Concurrent writers of one tweet would each see it missing and
            # leave two sets of tweet_symbols rows; taking turns avoids that.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (PG_TWEETS_LOCK,))
            cur.execute(
                "SELECT id, version_id, time, symbols FROM tweets WHERE id = ANY(%s)",
                (list(batch),),
            )
            stored = {r[0]: (r[1], r[2], list(r[3])) for r in cur.fetchall()}
            winners = [
                t
                for t in batch.values()
                if t.id not in stored or _later_or_same(_version(t), stored[t.id][0])
            ]
            old_links = [
                (s, stored[t.id][1], t.id)
                for t in winners
                if t.id in stored
                for s in stored[t.id][2]
            ]
            if old_links:
                cur.executemany(
                    "DELETE FROM tweet_symbols WHERE symbol = %s AND time = %s AND tweet_id = %s",
                    old_links,
                )
            cur.executemany(
                f"INSERT INTO tweets ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET version_id = EXCLUDED.version_id,"
                " time = EXCLUDED.time, author_id = EXCLUDED.author_id, text = EXCLUDED.text,"
                " symbols = EXCLUDED.symbols, score = EXCLUDED.score, label = EXCLUDED.label,"
                " source = EXCLUDED.source",
                [
                    (
                        t.id,
                        _version(t),
                        _dt(t.time),
                        _no_nul(t.author_id),
                        _no_nul(t.text),
                        list(t.symbols),
                        float(t.score),
                        t.label,
                        t.source,
                    )
                    for t in winners
                ],
            )
            links = [(s, _dt(t.time), t.id) for t in winners for s in dict.fromkeys(t.symbols)]
            if links:
                cur.executemany(
                    "INSERT INTO tweet_symbols (symbol, time, tweet_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    links,
                )
        return len(winners)

    def query_tweets(
        self,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[ScoredTweet]:
        sql, params = _select(
            symbol,
            None if start is None else _dt(start),
            None if end is None else _dt(end),
            limit,
            "%s",
        )
        with self._conn() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_tweet(r, _ms(r[2]), list(r[5])) for r in reversed(rows)]


def _tweet(r: Sequence[Any], time_ms: int, symbols: list[str]) -> ScoredTweet:
    return ScoredTweet(
        id=r[0],
        time=time_ms,
        text=r[4],
        symbols=tuple(symbols),
        score=float(r[6]),
        label=r[7],
        source=r[8],
        author_id=r[3],
        version_id=None if r[1] == r[0] else r[1],
    )


def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def _ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _no_nul(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\ufffd")
