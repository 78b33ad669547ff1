"""The market family (seed D, migration 1): ``stock_metadata``, ``stock_state``,
``market_status`` and ``realtime_prices``.

Small tables keyed by symbol (or market), each written by an upsert. On
PostgreSQL ``realtime_prices`` is UNLOGGED: a cache of the latest trade per
symbol, emptied after a crash and refilled by the next trades.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from quantdesk.domain import StockMeta, StockState
from quantdesk.storage import sql
from quantdesk.storage.sql import METADATA, JsonDoc, Key, Real, TimestampMs

__all__ = [
    "MARKET_STATUS",
    "REALTIME_PRICES",
    "STOCK_METADATA",
    "STOCK_STATE",
    "Market",
    "MarketStatus",
    "PriceRow",
]


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One row of the real-time price table (latest trade per symbol)."""

    symbol: str
    time: int
    price: float
    volume: float
    source: str


@dataclass(frozen=True, slots=True)
class MarketStatus:
    """One row of ``market_status``: ``status`` open/closed, ``phase`` morning/afternoon/..."""

    market: str
    status: str
    phase: str
    time: int


STOCK_METADATA: Final = sa.Table(
    "stock_metadata",
    METADATA,
    sa.Column("symbol", Key, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("market", sa.Text, nullable=False),
    sa.Column("sector", sa.Text, nullable=False),
    sa.Column("base_price", Real, nullable=False),
    sa.Column("volatility", Real, nullable=False),
    sa.Column("base_volume", Real, nullable=False),
    sa.Column("calendar", sa.Text, nullable=False),
)

STOCK_STATE: Final = sa.Table(
    "stock_state",
    METADATA,
    sa.Column("symbol", Key, primary_key=True),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("price", Real, nullable=False),
    sa.Column("volatility", Real, nullable=False),
    sa.Column("trend", Real, nullable=False),
    sa.Column("regime", sa.Text, nullable=False),
    sa.Column("next_regime_check", TimestampMs, nullable=False),
    sa.Column("extra", JsonDoc, nullable=False),
)

MARKET_STATUS: Final = sa.Table(
    "market_status",
    METADATA,
    sa.Column("market", Key, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("phase", sa.Text, nullable=False),
    sa.Column("time", TimestampMs, nullable=False),
)

#: UNLOGGED on PostgreSQL (migration 1 creates it so).
REALTIME_PRICES: Final = sa.Table(
    "realtime_prices",
    METADATA,
    sa.Column("symbol", Key, primary_key=True),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("price", Real, nullable=False),
    sa.Column("volume", Real, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
)

_PRICE_COLS: Final = ("symbol", "time", "price", "volume", "source")
_META_COLS: Final = (
    "symbol",
    "name",
    "market",
    "sector",
    "base_price",
    "volatility",
    "base_volume",
    "calendar",
)


class Market:
    """Repository over the market tables. Safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def upsert_metadata(self, metas: Sequence[StockMeta]) -> None:
        rows = [{c: getattr(m, c) for c in _META_COLS} for m in metas]
        if rows:
            with sql.write(self.engine) as conn:
                sql.upsert(conn, STOCK_METADATA, rows, ["symbol"])

    def list_metadata(self) -> list[StockMeta]:
        stmt = sa.select(*(STOCK_METADATA.c[c] for c in _META_COLS)).order_by(
            STOCK_METADATA.c.symbol
        )
        with sql.read(self.engine) as conn:
            return [StockMeta(*row) for row in conn.execute(stmt)]

    def save_states(self, states: Sequence[StockState]) -> None:
        rows = [
            {
                "symbol": s.symbol,
                "time": s.time,
                "price": s.price,
                "volatility": s.volatility,
                "trend": s.trend,
                "regime": s.regime,
                "next_regime_check": s.next_regime_check,
                "extra": s.extra,
            }
            for s in states
        ]
        if rows:
            with sql.write(self.engine) as conn:
                sql.upsert(conn, STOCK_STATE, rows, ["symbol"])

    def load_states(self) -> dict[str, StockState]:
        t = STOCK_STATE.c
        stmt = sa.select(
            t.symbol, t.time, t.price, t.volatility, t.trend, t.regime, t.next_regime_check, t.extra
        ).order_by(t.symbol)
        with sql.read(self.engine) as conn:
            rows = conn.execute(stmt).all()
        return {
            r[0]: StockState(r[0], int(r[1]), r[2], r[3], r[4], r[5], int(r[6]), dict(r[7]))
            for r in rows
        }

    def set_status(self, status: MarketStatus) -> None:
        row = {
            "market": status.market,
            "status": status.status,
            "phase": status.phase,
            "time": status.time,
        }
        with sql.write(self.engine) as conn:
            sql.upsert(conn, MARKET_STATUS, [row], ["market"])

    def get_status(self, market: str) -> MarketStatus | None:
        t = MARKET_STATUS.c
        stmt = sa.select(t.market, t.status, t.phase, t.time).where(t.market == market)
        with sql.read(self.engine) as conn:
            row = conn.execute(stmt).first()
        return None if row is None else MarketStatus(row[0], row[1], row[2], int(row[3]))

    def upsert_prices(self, rows: Sequence[PriceRow]) -> None:
        values = [(r.symbol, r.time, r.price, r.volume, r.source) for r in rows]
        if values:
            with sql.write(self.engine) as conn:
                sql.upsert_values(conn, REALTIME_PRICES, _PRICE_COLS, values, ["symbol"])

    def get_prices(self, symbols: Sequence[str] | None = None) -> list[PriceRow]:
        t = REALTIME_PRICES.c
        stmt = sa.select(t.symbol, t.time, t.price, t.volume, t.source).order_by(t.symbol)
        with sql.read(self.engine) as conn:
            if symbols is None:
                rows = conn.execute(stmt).all()
            else:
                rows = []
                for part in sql.chunked(sorted(set(symbols))):
                    rows += conn.execute(stmt.where(t.symbol.in_(part))).all()
        return [PriceRow(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]
