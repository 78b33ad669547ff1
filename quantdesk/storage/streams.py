"""The stream tables (migration 2) for both backends: factor values, signals,
dead letters and stream-consumer checkpoints.

Mixed into :class:`~quantdesk.storage.sqlite.SQLiteStore` and
:class:`~quantdesk.storage.postgres.PostgresStore`; each mixin uses its
backend's connection helpers. Factor values and signals are upserts on their
natural keys (idempotent under redelivery); dead letters are an append-only
log; a checkpoint row is replaced per (group, topic, partition).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from quantdesk.domain import FactorValue, Signal
from quantdesk.storage.base import DeadLetterRow

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _dt(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def _ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _where(
    filters: list[tuple[str, Any]], start: Any, end: Any, mark: str, time_col: str = "ts"
) -> tuple[str, list[Any]]:
    clauses = [f"{col} = {mark}" for col, value in filters if value is not None]
    params = [value for _, value in filters if value is not None]
    if start is not None:
        clauses.append(f"{time_col} >= {mark}")
        params.append(start)
    if end is not None:
        clauses.append(f"{time_col} < {mark}")
        params.append(end)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _newest(sql: str, limit: int | None, mark: str, params: list[Any]) -> tuple[str, list[Any]]:
    """Newest ``limit`` rows, returned oldest first."""
    if limit is None:
        return sql + " ORDER BY ts", params
    return f"SELECT * FROM ({sql} ORDER BY ts DESC LIMIT {mark}) AS newest ORDER BY ts", [
        *params,
        limit,
    ]


class SqliteStreamTables:
    """Stream tables on SQLite (times as INTEGER epoch ms)."""

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def upsert_factors(self, factors: Sequence[FactorValue]) -> None:
        rows = [(f.symbol, f.name, f.interval, f.ts, f.value) for f in factors]
        if rows:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO factor_values (symbol, name, interval, ts, value)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (symbol, name, interval, ts)"
                    " DO UPDATE SET value = excluded.value",
                    rows,
                )

    def query_factors(
        self,
        symbol: str,
        name: str | None = None,
        interval: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[FactorValue]:
        where, params = _where(
            [("symbol", symbol), ("name", name), ("interval", interval)], start, end, "?"
        )
        sql, params = _newest(
            "SELECT symbol, ts, name, value, interval FROM factor_values" + where,
            limit,
            "?",
            params,
        )
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [FactorValue(r[0], int(r[1]), r[2], float(r[3]), r[4]) for r in rows]

    def upsert_signals(self, signals: Sequence[Signal]) -> None:
        rows = [(s.rule_id, s.symbol, s.ts, s.factor, s.side, s.value) for s in signals]
        if rows:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO signals (rule_id, symbol, ts, factor, side, value)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (rule_id, symbol, ts, factor)"
                    " DO UPDATE SET side = excluded.side, value = excluded.value",
                    rows,
                )

    def query_signals(
        self,
        symbol: str | None = None,
        rule_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Signal]:
        where, params = _where([("symbol", symbol), ("rule_id", rule_id)], start, end, "?")
        sql, params = _newest(
            "SELECT symbol, ts, factor, value, side, rule_id FROM signals" + where,
            limit,
            "?",
            params,
        )
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [Signal(r[0], int(r[1]), r[2], float(r[3]), r[4], r[5]) for r in rows]

    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> None:
        now = int(time.time() * 1000)
        rows = [(now, d.topic, d.reason, d.error, d.raw) for d in items]
        if rows:
            with self._write() as conn:
                conn.executemany(
                    "INSERT INTO dead_letters (time, topic, reason, error, raw)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

    def dead_letter_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason"
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def save_checkpoint(
        self, group: str, topic: str, partition: int, offset: int, state: bytes
    ) -> None:
        with self._write() as conn:
            conn.execute(
                'INSERT INTO stream_checkpoints (grp, topic, partition, "offset", state,'
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (grp, topic, partition)"
                ' DO UPDATE SET "offset" = excluded."offset", state = excluded.state,'
                " updated_at = excluded.updated_at",
                (group, topic, partition, offset, state, int(time.time() * 1000)),
            )

    def load_checkpoint(self, group: str, topic: str, partition: int) -> tuple[int, bytes] | None:
        with self._read() as conn:
            row = conn.execute(
                'SELECT "offset", state FROM stream_checkpoints'
                " WHERE grp = ? AND topic = ? AND partition = ?",
                (group, topic, partition),
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))


class PostgresStreamTables:
    """Stream tables on PostgreSQL (times as TIMESTAMPTZ)."""

    def _conn(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return list(conn.execute(sql, params).fetchall())

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows)

    def upsert_factors(self, factors: Sequence[FactorValue]) -> None:
        self._many(
            "INSERT INTO factor_values (symbol, name, interval, ts, value)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (symbol, name, interval, ts)"
            " DO UPDATE SET value = EXCLUDED.value",
            [(f.symbol, f.name, f.interval, _dt(f.ts), f.value) for f in factors],
        )

    def query_factors(
        self,
        symbol: str,
        name: str | None = None,
        interval: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[FactorValue]:
        where, params = _where(
            [("symbol", symbol), ("name", name), ("interval", interval)],
            None if start is None else _dt(start),
            None if end is None else _dt(end),
            "%s",
        )
        sql, params = _newest(
            "SELECT symbol, ts, name, value, interval FROM factor_values" + where,
            limit,
            "%s",
            params,
        )
        return [
            FactorValue(r[0], _ms(r[1]), r[2], float(r[3]), r[4]) for r in self._rows(sql, params)
        ]

    def upsert_signals(self, signals: Sequence[Signal]) -> None:
        self._many(
            "INSERT INTO signals (rule_id, symbol, ts, factor, side, value)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rule_id, symbol, ts, factor)"
            " DO UPDATE SET side = EXCLUDED.side, value = EXCLUDED.value",
            [(s.rule_id, s.symbol, _dt(s.ts), s.factor, s.side, s.value) for s in signals],
        )

    def query_signals(
        self,
        symbol: str | None = None,
        rule_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Signal]:
        where, params = _where(
            [("symbol", symbol), ("rule_id", rule_id)],
            None if start is None else _dt(start),
            None if end is None else _dt(end),
            "%s",
        )
        sql, params = _newest(
            "SELECT symbol, ts, factor, value, side, rule_id FROM signals" + where,
            limit,
            "%s",
            params,
        )
        return [
            Signal(r[0], _ms(r[1]), r[2], float(r[3]), r[4], r[5]) for r in self._rows(sql, params)
        ]

    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> None:
        self._many(
            "INSERT INTO dead_letters (topic, reason, error, raw) VALUES (%s, %s, %s, %s)",
            [(d.topic, d.reason, d.error, d.raw) for d in items],
        )

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self._rows(
            "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason", ()
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def save_checkpoint(
        self, group: str, topic: str, partition: int, offset: int, state: bytes
    ) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute(
                'INSERT INTO stream_checkpoints (grp, topic, partition, "offset", state)'
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (grp, topic, partition)"
                ' DO UPDATE SET "offset" = EXCLUDED."offset", state = EXCLUDED.state,'
                " updated_at = now()",
                (group, topic, partition, offset, state),
            )

    def load_checkpoint(self, group: str, topic: str, partition: int) -> tuple[int, bytes] | None:
        rows = self._rows(
            'SELECT "offset", state FROM stream_checkpoints'
            " WHERE grp = %s AND topic = %s AND partition = %s",
            (group, topic, partition),
        )
        return None if not rows else (int(rows[0][0]), bytes(rows[0][1]))


__all__ = ["PostgresStreamTables", "SqliteStreamTables"]
