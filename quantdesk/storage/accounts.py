"""Accounts and persisted signal rules (migration 3) for both backends.

``users``: one row per login (username, argon2 password hash, role
``admin`` or ``guest``, created_at). ``signal_rules``: the rules changed
through the API, one row per rule id holding the rule as JSON, or a
tombstone (``deleted``) for a removed rule, so a deleted config default
stays deleted after a restart. :func:`quantdesk.api.rules.merge_rules`
lays these rows over the configured defaults at start.

Mixed into :class:`~quantdesk.storage.sqlite.SQLiteStore` and
:class:`~quantdesk.storage.postgres.PostgresStore` like
:mod:`quantdesk.storage.streams`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson
import psycopg

from quantdesk.storage.base import UserRow


def _rule_json(rule: dict[str, Any] | None) -> str | None:
    return None if rule is None else orjson.dumps(rule).decode()


def _rule_obj(value: Any) -> dict[str, Any] | None:
    """SQLite hands back JSON text, PostgreSQL (JSONB) an already decoded dict."""
    if value is None:
        return None
    obj = orjson.loads(value) if isinstance(value, str | bytes) else value
    return obj if isinstance(obj, dict) else None


class SqliteAccounts:
    """Users and signal rules on SQLite (times as INTEGER epoch ms)."""

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def add_user(self, username: str, password_hash: str, role: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (username) DO NOTHING",
                (username, password_hash, role, int(time.time() * 1000)),
            )
            return cur.rowcount == 1

    def get_user(self, username: str) -> UserRow | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT username, password_hash, role, created_at FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        return None if row is None else UserRow(row[0], row[1], row[2], int(row[3]))

    def list_users(self) -> list[UserRow]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT username, password_hash, role, created_at FROM users ORDER BY username"
            ).fetchall()
        return [UserRow(r[0], r[1], r[2], int(r[3])) for r in rows]

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username)
            )
            return cur.rowcount == 1

    def save_signal_rule(self, rule_id: str, rule: dict[str, Any] | None) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO signal_rules (id, rule, deleted, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET rule = excluded.rule,"
                " deleted = excluded.deleted, updated_at = excluded.updated_at",
                (rule_id, _rule_json(rule), int(rule is None), int(time.time() * 1000)),
            )

    def load_signal_rules(self) -> dict[str, dict[str, Any] | None]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, rule, deleted FROM signal_rules ORDER BY updated_at, id"
            ).fetchall()
        return {str(r[0]): None if r[2] else _rule_obj(r[1]) for r in rows}


class PostgresAccounts:
    """Users and signal rules on PostgreSQL (times as TIMESTAMPTZ)."""

    def _conn(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def _account_rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return list(conn.execute(sql, params).fetchall())

    def add_user(self, username: str, password_hash: str, role: str) -> bool:
        with self._conn() as conn, conn.transaction():
            cur = conn.execute(
                "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s)"
                " ON CONFLICT (username) DO NOTHING",
                (username, password_hash, role),
            )
            return cur.rowcount == 1

    def get_user(self, username: str) -> UserRow | None:
        rows = self._account_rows(
            "SELECT username, password_hash, role, created_at FROM users WHERE username = %s",
            (username,),
        )
        return None if not rows else _user(rows[0])

    def list_users(self) -> list[UserRow]:
        rows = self._account_rows(
            "SELECT username, password_hash, role, created_at FROM users ORDER BY username", ()
        )
        return [_user(r) for r in rows]

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        with self._conn() as conn, conn.transaction():
            cur = conn.execute(
                "UPDATE users SET password_hash = %s WHERE username = %s",
                (password_hash, username),
            )
            return cur.rowcount == 1

    def save_signal_rule(self, rule_id: str, rule: dict[str, Any] | None) -> None:
        with self._conn() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO signal_rules (id, rule, deleted) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule,"
                " deleted = EXCLUDED.deleted, updated_at = now()",
                (rule_id, _rule_json(rule), rule is None),
            )

    def load_signal_rules(self) -> dict[str, dict[str, Any] | None]:
        rows = self._account_rows(
            "SELECT id, rule, deleted FROM signal_rules ORDER BY updated_at, id", ()
        )
        return {str(r[0]): None if r[2] else _rule_obj(r[1]) for r in rows}


def _user(r: tuple[Any, ...]) -> UserRow:
    created: datetime = r[3]
    return UserRow(r[0], r[1], r[2], int(created.timestamp() * 1000))


__all__ = ["PostgresAccounts", "SqliteAccounts"]
