"""API keys, written once for SQLite and PostgreSQL (rules: :mod:`quantdesk.auth.apikeys`).

Table (SQLAlchemy Core on :data:`~quantdesk.storage.sql.METADATA`; times are
``BIGINT`` epoch ms UTC):

``api_keys``
    one row per key ever created: ``id`` (the public part of the key, shown in
    lists and audit rows), ``username`` (whose key it is), ``scope`` (``read``,
    ``trade`` or ``admin``), ``name`` (a label), ``key_hash`` (SHA-256 of the
    whole key, hex; the key itself is never stored), ``created_ms`` /
    ``created_by``, ``revoked_ms`` / ``revoked_by`` (``NULL`` while the key
    works) and ``last_used_ms`` (written at most once a minute per key).

A revoked key's row stays (who had which key, and when, is audit history).

:class:`ApiKeyRepository` takes a SQLAlchemy :class:`~sqlalchemy.Engine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from quantdesk.storage.sql import METADATA, Millis

__all__ = ["API_KEYS", "TABLES", "ApiKeyRepository", "ApiKeyRow"]

API_KEYS = sa.Table(
    "api_keys",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_ms", Millis, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("revoked_ms", Millis, nullable=True),
    sa.Column("revoked_by", sa.String(64), nullable=True),
    sa.Column("last_used_ms", Millis, nullable=True),
    sa.Index("api_keys_by_user", "username"),
)

#: The tables of this family (for ``METADATA.create_all(engine, tables=TABLES)``).
TABLES: Final = (API_KEYS,)


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """One stored key (never the key itself)."""

    id: str
    username: str
    scope: str
    name: str
    key_hash: str
    created_ms: int
    created_by: str
    revoked_ms: int | None = None
    revoked_by: str | None = None
    last_used_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None

    def public(self) -> dict[str, Any]:
        """What lists show: everything but the hash."""
        return {
            "id": self.id,
            "username": self.username,
            "scope": self.scope,
            "name": self.name,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "revoked_ms": self.revoked_ms,
            "revoked_by": self.revoked_by,
            "last_used_ms": self.last_used_ms,
        }


def _row(m: Any) -> ApiKeyRow:
    return ApiKeyRow(
        str(m["id"]),
        str(m["username"]),
        str(m["scope"]),
        str(m["name"]),
        str(m["key_hash"]),
        int(m["created_ms"]),
        str(m["created_by"]),
        None if m["revoked_ms"] is None else int(m["revoked_ms"]),
        None if m["revoked_by"] is None else str(m["revoked_by"]),
        None if m["last_used_ms"] is None else int(m["last_used_ms"]),
    )


class ApiKeyRepository:
    """``api_keys`` on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._get = sa.select(API_KEYS).where(API_KEYS.c.id == sa.bindparam("key_id"))

    def create_tables(self) -> None:
        """Create the table if missing (until the numbered migration step exists)."""
        METADATA.create_all(self.engine, tables=list(TABLES))

    def add(self, row: ApiKeyRow) -> None:
        """Store a new key (its id must be new: ids are random, a clash raises)."""
        with self.engine.begin() as conn:
            conn.execute(
                API_KEYS.insert(),
                {
                    "id": row.id,
                    "username": row.username,
                    "scope": row.scope,
                    "name": row.name,
                    "key_hash": row.key_hash,
                    "created_ms": row.created_ms,
                    "created_by": row.created_by,
                    "revoked_ms": row.revoked_ms,
                    "revoked_by": row.revoked_by,
                    "last_used_ms": row.last_used_ms,
                },
            )

    def get(self, key_id: str) -> ApiKeyRow | None:
        with self.engine.connect() as conn:
            m = conn.execute(self._get, {"key_id": key_id}).mappings().first()
        return None if m is None else _row(m)

    def listed(
        self, username: str | None = None, *, include_revoked: bool = False
    ) -> list[ApiKeyRow]:
        """Keys (of ``username``, or all) in creation order; revoked ones only when asked."""
        stmt = sa.select(API_KEYS).order_by(API_KEYS.c.created_ms, API_KEYS.c.id)
        if username is not None:
            stmt = stmt.where(API_KEYS.c.username == username)
        if not include_revoked:
            stmt = stmt.where(API_KEYS.c.revoked_ms.is_(None))
        with self.engine.connect() as conn:
            return [_row(m) for m in conn.execute(stmt).mappings()]

    def revoke(self, key_id: str, by: str, now_ms: int) -> tuple[ApiKeyRow | None, bool]:
        """Revoke an active key: (the row afterwards or None when no such key exists,
        whether this call revoked it). A key revoked already keeps its first
        revocation (time and who)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                API_KEYS.update()
                .where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms, revoked_by=by)
            )
            m = conn.execute(self._get, {"key_id": key_id}).mappings().first()
        return (None if m is None else _row(m)), result.rowcount == 1

    def touch(self, key_ids: Sequence[str], now_ms: int) -> None:
        """Record that the keys were used at ``now_ms`` (never moves a time backwards)."""
        if not key_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                API_KEYS.update()
                .where(
                    API_KEYS.c.id.in_(list(key_ids)),
                    sa.or_(API_KEYS.c.last_used_ms.is_(None), API_KEYS.c.last_used_ms < now_ms),
                )
                .values(last_used_ms=now_ms)
            )
