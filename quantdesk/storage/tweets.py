"""Scored tweets (migration 4) for both backends: ``tweets`` and ``tweet_symbols``.

``tweets`` holds one row per tweet, keyed by its stable ``id`` (the first id
of its edit history, see :class:`~quantdesk.domain.ScoredTweet`): ``version_id``,
``time`` (the version's ``created_at``), ``author_id``, ``text`` (as received),
``symbols`` (JSON text on SQLite, ``text[]`` on PostgreSQL), ``score``,
``label``, ``source``. ``tweet_symbols`` has one row per (symbol, time,
tweet_id) and is the index behind "the newest tweets of symbol X".

:meth:`Tweets.upsert` is idempotent and order-independent: in one
transaction it reads the stored versions of the batch's ids, keeps the
incoming rows whose version is the same or later (ids are Twitter snowflakes:
a longer id, or an equally long one that sorts later, is later), replaces
their ``tweets`` rows and their ``tweet_symbols`` rows (an edit may change
the time and the symbols). Delivering a batch twice, or an older version
after a newer one, changes nothing.

PostgreSQL text cannot hold NUL characters: a NUL in a tweet's text or
author id is stored as U+FFFD there (SQLite keeps it); see
:class:`~quantdesk.storage.sql.SafeText`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

import sqlalchemy as sa

from quantdesk.domain import ScoredTweet
from quantdesk.errors import DataError
from quantdesk.storage import sql
from quantdesk.storage.sql import METADATA, Key, Real, SafeText, TextList, TimestampMs

__all__ = ["TWEETS", "TWEET_SYMBOLS", "Tweets"]

#: Serialises tweet writers (see :func:`quantdesk.storage.sql.serialize`).
PG_TWEETS_LOCK: Final = 0x71D35C_0004

# A rowid table on SQLite (texts up to 10,000 characters are too big for WITHOUT ROWID).
TWEETS: Final = sa.Table(
    "tweets",
    METADATA,
    sa.Column("id", Key, primary_key=True),
    sa.Column("version_id", Key, nullable=False),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("author_id", SafeText),
    sa.Column("text", SafeText, nullable=False),
    sa.Column("symbols", TextList, nullable=False),
    sa.Column("score", Real, sa.CheckConstraint("score BETWEEN -1 AND 1"), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Index("tweets_by_time", "time", "id"),
)

# One row per (tweet, symbol it names): "the newest tweets of X" is a backward
# range scan of this key, joined to tweets by primary key.
TWEET_SYMBOLS: Final = sa.Table(
    "tweet_symbols",
    METADATA,
    sa.Column("symbol", Key, nullable=False),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("tweet_id", Key, nullable=False),
    sa.PrimaryKeyConstraint("symbol", "time", "tweet_id"),
    sqlite_with_rowid=False,
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


def _select(
    symbol: str | None, start: int | None, end: int | None, limit: int | None
) -> sa.Select[Any]:
    """The newest ``limit`` tweets (of ``symbol``) in ``[start, end)``, newest first."""
    t, s = TWEETS.c, TWEET_SYMBOLS.c
    stmt = sa.select(*TWEETS.c)
    if symbol is None:
        time_col, id_col = t.time, t.id
    else:
        stmt = stmt.select_from(TWEET_SYMBOLS.join(TWEETS, t.id == s.tweet_id)).where(
            s.symbol == symbol
        )
        time_col, id_col = s.time, s.tweet_id
    if start is not None:
        stmt = stmt.where(time_col >= int(start))
    if end is not None:
        stmt = stmt.where(time_col < int(end))
    stmt = stmt.order_by(time_col.desc(), id_col.desc())
    if limit is not None:
        stmt = stmt.limit(max(0, int(limit)))
    return stmt


class Tweets:
    """Repository over ``tweets`` and ``tweet_symbols``. Safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def upsert(self, tweets: Sequence[ScoredTweet]) -> int:
        """Insert or replace tweets by id (a later version wins); return the rows written."""
        batch = _newest_per_id(tweets)
        if not batch:
            return 0
        t, s = TWEETS.c, TWEET_SYMBOLS.c
        with sql.write(self.engine) as conn:
            # Concurrent writers of one tweet would each see it missing and
            # leave two sets of tweet_symbols rows; taking turns avoids that.
            sql.serialize(conn, PG_TWEETS_LOCK)
            stored: dict[str, tuple[str, int, list[str]]] = {}
            for ids in sql.chunked(list(batch)):
                found = conn.execute(
                    sa.select(t.id, t.version_id, t.time, t.symbols).where(t.id.in_(ids))
                )
                for r in found:
                    stored[r[0]] = (r[1], int(r[2]), list(r[3]))
            winners = [
                tw
                for tw in batch.values()
                if tw.id not in stored or _later_or_same(_version(tw), stored[tw.id][0])
            ]
            old_links = [
                {"o_symbol": sym, "o_time": stored[tw.id][1], "o_id": tw.id}
                for tw in winners
                if tw.id in stored
                for sym in stored[tw.id][2]
            ]
            if old_links:
                conn.execute(
                    sa.delete(TWEET_SYMBOLS).where(
                        s.symbol == sa.bindparam("o_symbol"),
                        s.time == sa.bindparam("o_time", type_=TimestampMs),
                        s.tweet_id == sa.bindparam("o_id"),
                    ),
                    old_links,
                )
            rows = [
                {
                    "id": tw.id,
                    "version_id": _version(tw),
                    "time": tw.time,
                    "author_id": tw.author_id,
                    "text": tw.text,
                    "symbols": list(tw.symbols),
                    "score": float(tw.score),
                    "label": tw.label,
                    "source": tw.source,
                }
                for tw in winners
            ]
            sql.upsert(conn, TWEETS, rows, ["id"])
            links = [
                {"symbol": sym, "time": tw.time, "tweet_id": tw.id}
                for tw in winners
                for sym in dict.fromkeys(tw.symbols)
            ]
            sql.insert_new(conn, TWEET_SYMBOLS, links, ["symbol", "time", "tweet_id"])
        return len(winners)

    def query(
        self,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[ScoredTweet]:
        """Tweets (naming ``symbol``) with ``start <= time < end``; with ``limit`` the
        newest; ascending time (ties by id)."""
        with sql.read(self.engine) as conn:
            rows = conn.execute(_select(symbol, start, end, limit)).all()
        return [_tweet(r) for r in reversed(rows)]


def _tweet(r: Sequence[Any]) -> ScoredTweet:
    return ScoredTweet(
        id=r[0],
        time=int(r[2]),
        text=r[4],
        symbols=tuple(r[5]),
        score=float(r[6]),
        label=r[7],
        source=r[8],
        author_id=r[3],
        version_id=None if r[1] == r[0] else r[1],
    )
