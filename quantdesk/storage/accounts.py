"""The accounts family (migration 3): dashboard ``users``.

A user's password is only ever stored as an argon2 hash
(:mod:`quantdesk.auth`). ``role`` is ``admin`` or ``guest`` (a CHECK
constraint). Persisted signal rules, created by the same migration, belong
to the stream family (:mod:`quantdesk.storage.streams`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from quantdesk.storage import sql
from quantdesk.storage.sql import METADATA, Key, TimestampMs

__all__ = ["USERS", "Accounts", "UserRow"]


@dataclass(frozen=True, slots=True)
class UserRow:
    """One row of ``users``: the password is only ever stored as an argon2 hash."""

    username: str
    password_hash: str
    role: str
    created_at: int


USERS: Final = sa.Table(
    "users",
    METADATA,
    sa.Column("username", Key, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, sa.CheckConstraint("role IN ('admin', 'guest')"), nullable=False),
    sa.Column("created_at", TimestampMs, nullable=False),
)

_U = USERS.c


class Accounts:
    """Repository over ``users``. Safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_user(self, username: str, password_hash: str, role: str) -> bool:
        """Insert a user; False (and no change) when the name already exists."""
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "created_at": sql.now_ms(),
        }
        with sql.write(self.engine) as conn:
            return sql.insert_new(conn, USERS, [row], ["username"]) == 1

    def get_user(self, username: str) -> UserRow | None:
        stmt = sa.select(_U.username, _U.password_hash, _U.role, _U.created_at).where(
            _U.username == username
        )
        with sql.read(self.engine) as conn:
            row = conn.execute(stmt).first()
        return None if row is None else UserRow(row[0], row[1], row[2], int(row[3]))

    def list_users(self) -> list[UserRow]:
        stmt = sa.select(_U.username, _U.password_hash, _U.role, _U.created_at).order_by(
            _U.username
        )
        with sql.read(self.engine) as conn:
            return [UserRow(r[0], r[1], r[2], int(r[3])) for r in conn.execute(stmt)]

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's argon2 hash; False (and no change) when there is no such user."""
        stmt = sa.update(USERS).where(_U.username == username).values(password_hash=password_hash)
        with sql.write(self.engine) as conn:
            return conn.execute(stmt).rowcount == 1
