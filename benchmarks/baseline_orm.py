"""The seed-D-style baseline: SQLAlchemy ORM objects, one per bar.

This is how the seed's generator wrote bars: a Python loop builds one ORM
object per bar, adds it to the session, and commits every 1,000 bars. Reads
are an ORM query ordered by time descending with a LIMIT. It maps the same
``market_klines`` table that quantdesk's store creates, so both write and
read the same schema on the same database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, DateTime, Float, Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BATCH = 1_000


class _Base(DeclarativeBase):
    pass


class SqliteKline(_Base):
    """market_klines on SQLite: time as INTEGER epoch ms."""

    __tablename__ = "market_klines"
    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    interval: Mapped[str] = mapped_column(String, primary_key=True)
    time: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    vwap: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String)


class _PgBase(DeclarativeBase):
    pass


class PgKline(_PgBase):
    """market_klines on PostgreSQL: time as TIMESTAMPTZ."""

    __tablename__ = "market_klines"
    symbol: Mapped[str] = mapped_column(String, primary_key=True)
    interval: Mapped[str] = mapped_column(String, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    vwap: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String)


def sqlalchemy_url(store_url: str) -> str:
    """The SQLAlchemy URL of a quantdesk store URL (psycopg 3 driver for PostgreSQL)."""
    if store_url.startswith("sqlite"):
        return store_url
    return "postgresql+psycopg://" + store_url.split("://", 1)[1]


def _model(url: str) -> Any:
    return SqliteKline if url.startswith("sqlite") else PgKline


def _kline(model: Any, row: Any) -> Any:
    """One ORM object from one itertuples() row: the per-bar work of the seed's loop."""
    return model(
        symbol=row.symbol,
        interval=row.interval,
        time=EPOCH + timedelta(milliseconds=int(row.time)) if model is PgKline else int(row.time),
        open=float(row.open),
        high=float(row.high),
        low=float(row.low),
        close=float(row.close),
        volume=float(row.volume),
        vwap=float(row.vwap),
        trades=int(row.trades),
        source=row.source,
    )


def _orm_write(store_url: str, frame: pd.DataFrame, merge: bool) -> float:
    """The seed's per-bar loop, committing every 1,000 bars; rows/s."""
    url = sqlalchemy_url(store_url)
    model = _model(url)
    engine = create_engine(url)
    t0 = time.perf_counter()
    with Session(engine) as session:
        write = session.merge if merge else session.add
        for i, row in enumerate(frame.itertuples(index=False)):
            write(_kline(model, row))
            if i % BATCH == BATCH - 1:
                session.commit()
        session.commit()
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return len(frame) / elapsed


def orm_insert(store_url: str, frame: pd.DataFrame) -> float:
    """Insert ``frame`` the seed's way; return rows/s."""
    return _orm_write(store_url, frame, merge=False)


def orm_merge(store_url: str, frame: pd.DataFrame) -> float:
    """Upsert ``frame`` with ``Session.merge`` (the ORM's upsert: a SELECT per bar); rows/s."""
    return _orm_write(store_url, frame, merge=True)


def orm_query_latencies(
    store_url: str, queries: Sequence[tuple[str, str, int | None, int | None, int]]
) -> list[float]:
    """Run ``(symbol, interval, start, end, limit)`` queries as ORM selects; seconds each."""
    url = sqlalchemy_url(store_url)
    model = _model(url)
    pg = model is PgKline
    engine = create_engine(url)
    out: list[float] = []
    with Session(engine) as session:
        for symbol, interval, start, end, limit in queries:
            t0 = time.perf_counter()
            stmt = select(model).where(model.symbol == symbol, model.interval == interval)
            if start is not None:
                stmt = stmt.where(
                    model.time >= (EPOCH + timedelta(milliseconds=start) if pg else start)
                )
            if end is not None:
                stmt = stmt.where(model.time < (EPOCH + timedelta(milliseconds=end) if pg else end))
            rows = session.execute(stmt.order_by(model.time.desc()).limit(limit)).scalars().all()
            result = [
                (
                    r.symbol,
                    r.interval,
                    (r.time - EPOCH) // timedelta(milliseconds=1) if pg else r.time,
                    r.open,
                    r.high,
                    r.low,
                    r.close,
                    r.volume,
                    r.vwap,
                    r.trades,
                    r.source,
                )
                for r in reversed(rows)
            ]
            out.append(time.perf_counter() - t0)
            session.expunge_all()
            assert len(result) <= limit
    engine.dispose()
    return out
