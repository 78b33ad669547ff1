"""Per-stock trading permissions and the listing record, for the risk checks.

``stock_permissions`` (one row per symbol): the ``board`` (A-shares: ``main``,
``star`` (688/689), ``chinext`` (300/301), ``bse`` (Beijing, 4/8/920); US:
``us``), whether the stock is ``st`` (special treatment, ±5% limits on the
A-share main boards), ``suspended`` (no trading on its last session while the
market traded), ``listed`` (still in the universe), and ``reason``, the
one-line why of the last change. Written by the ``permission_refresh`` and
``price_sync`` jobs; read by the risk engine (:meth:`PermissionRepository.get`).

``stock_listings`` (one row per symbol ever seen): when the platform first saw
it listed and when it was delisted (it left the universe), written by
``stock_list_sync``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from quantdesk.storage.sql import METADATA, Millis, upsert

__all__ = [
    "STOCK_LISTINGS",
    "STOCK_PERMISSIONS",
    "TABLES",
    "Listing",
    "Permission",
    "PermissionRepository",
]

STOCK_PERMISSIONS = sa.Table(
    "stock_permissions",
    METADATA,
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column("market", sa.String(8), nullable=False),
    sa.Column("board", sa.String(16), nullable=False),
    sa.Column("st", sa.Boolean, nullable=False),
    sa.Column("suspended", sa.Boolean, nullable=False),
    sa.Column("listed", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("updated_ms", Millis, nullable=False),
)

STOCK_LISTINGS = sa.Table(
    "stock_listings",
    METADATA,
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column("market", sa.String(8), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # listed | delisted
    sa.Column("listed_ms", Millis, nullable=False),
    sa.Column("delisted_ms", Millis, nullable=True),
    sa.Column("updated_ms", Millis, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
)

TABLES: Final = (STOCK_PERMISSIONS, STOCK_LISTINGS)


@dataclass(frozen=True, slots=True)
class Permission:
    """What the risk checks need to know about one stock."""

    symbol: str
    market: str
    board: str
    st: bool
    suspended: bool
    listed: bool
    reason: str
    updated_ms: int

    @property
    def tradable(self) -> bool:
        return self.listed and not self.suspended


@dataclass(frozen=True, slots=True)
class Listing:
    symbol: str
    market: str
    name: str
    status: str
    listed_ms: int
    delisted_ms: int | None
    updated_ms: int
    source: str


def _perm(m: Any) -> Permission:
    return Permission(
        m["symbol"],
        m["market"],
        m["board"],
        bool(m["st"]),
        bool(m["suspended"]),
        bool(m["listed"]),
        m["reason"],
        int(m["updated_ms"]),
    )


def _listing(m: Any) -> Listing:
    return Listing(
        m["symbol"],
        m["market"],
        m["name"],
        m["status"],
        int(m["listed_ms"]),
        None if m["delisted_ms"] is None else int(m["delisted_ms"]),
        int(m["updated_ms"]),
        m["source"],
    )


class PermissionRepository:
    """``stock_permissions`` and ``stock_listings`` on one database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create_tables(self) -> None:
        METADATA.create_all(self.engine, tables=list(TABLES))

    def save(self, perms: Iterable[Permission]) -> int:
        rows = [
            {
                "symbol": p.symbol,
                "market": p.market,
                "board": p.board,
                "st": p.st,
                "suspended": p.suspended,
                "listed": p.listed,
                "reason": p.reason,
                "updated_ms": p.updated_ms,
            }
            for p in perms
        ]
        with self.engine.begin() as conn:
            upsert(conn, STOCK_PERMISSIONS, rows, ["symbol"])
        return len(rows)

    def set_suspended(self, flags: dict[str, tuple[bool, str]], now_ms: int) -> int:
        """Update only the ``suspended`` flag (and reason) of stored symbols; returns rows
        changed."""
        changed = 0
        with self.engine.begin() as conn:
            for symbol, (suspended, reason) in flags.items():
                res = conn.execute(
                    STOCK_PERMISSIONS.update()
                    .where(
                        STOCK_PERMISSIONS.c.symbol == symbol,
                        STOCK_PERMISSIONS.c.suspended != suspended,
                    )
                    .values(suspended=suspended, reason=reason, updated_ms=now_ms)
                )
                changed += int(res.rowcount or 0)
        return changed

    def get(self, symbol: str) -> Permission | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(STOCK_PERMISSIONS).where(STOCK_PERMISSIONS.c.symbol == symbol)
            ).first()
        return None if row is None else _perm(row._mapping)

    def all(self, market: str | None = None) -> list[Permission]:
        q = sa.select(STOCK_PERMISSIONS).order_by(STOCK_PERMISSIONS.c.symbol)
        if market is not None:
            q = q.where(STOCK_PERMISSIONS.c.market == market)
        with self.engine.connect() as conn:
            return [_perm(r._mapping) for r in conn.execute(q)]

    def listings(self, market: str | None = None) -> list[Listing]:
        q = sa.select(STOCK_LISTINGS).order_by(STOCK_LISTINGS.c.symbol)
        if market is not None:
            q = q.where(STOCK_LISTINGS.c.market == market)
        with self.engine.connect() as conn:
            return [_listing(r._mapping) for r in conn.execute(q)]

    def save_listings(self, listings: Iterable[Listing]) -> int:
        rows = [
            {
                "symbol": x.symbol,
                "market": x.market,
                "name": x.name,
                "status": x.status,
                "listed_ms": x.listed_ms,
                "delisted_ms": x.delisted_ms,
                "updated_ms": x.updated_ms,
                "source": x.source,
            }
            for x in listings
        ]
        with self.engine.begin() as conn:
            upsert(conn, STOCK_LISTINGS, rows, ["symbol"])
        return len(rows)
