"""Orders, fills, risk alerts and backtest runs (SQLAlchemy Core, SQLite and PostgreSQL).

=================  ==========================================================
table              rows
=================  ==========================================================
trading_accounts   one per account: market, currency, initial cash, created
orders             one per order id (the latest version): status, fills so far
fills              one per fill id, never rewritten (idempotent inserts)
risk_alerts        breaches, drawdowns, denials and state changes
backtest_runs      one per backtest: strategy, range, settings, stats, equity
backtest_fills     the fills of each run, in order
account_equity     the live account's equity at each step (the dashboard's curve)
risk_settings      risk limits and the trading state an admin set (they outlive
                   a restart, as stored signal rules do)
=================  ==========================================================

Money is exact: amounts are BIGINT cents (:class:`Cents`), prices and order
values BIGINT 1/10,000ths (:class:`Price4`); times BIGINT epoch ms UTC;
settings, stats and the equity curve JSON text. Tables are declared on
:data:`quantdesk.storage.sql.METADATA`; until the store's migrations create
them, :meth:`TradingStore.create_tables` does (idempotent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from quantdesk.domain.trading import (
    AlertKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RiskAlert,
    Side,
    TimeInForce,
    TradingState,
)
from quantdesk.errors import NotFoundError
from quantdesk.storage import sql
from quantdesk.storage.sql import METADATA, Millis, insert_new

__all__ = [
    "ACCOUNT_EQUITY",
    "BACKTEST_FILLS",
    "BACKTEST_RUNS",
    "FILLS",
    "LIVE_ACCOUNT_TABLES",
    "ORDERS",
    "RISK_ALERTS",
    "RISK_SETTINGS",
    "TRADING_ACCOUNTS",
    "TRADING_TABLES",
    "BacktestRunRow",
    "BacktestStore",
    "Cents",
    "Price4",
    "TradingStore",
]


class _Scaled(sa.types.TypeDecorator[Decimal]):
    """A Decimal stored as an exact BIGINT of ``1 / scale`` units."""

    impl = sa.BigInteger
    cache_ok = True
    scale = 100

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * self.scale).to_integral_value(rounding=ROUND_HALF_UP))

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)) / self.scale


class Cents(_Scaled):
    """Money: BIGINT cents (fen)."""

    cache_ok = True
    scale = 100

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-2)


class Price4(_Scaled):
    """Prices and order values: BIGINT 1/10,000ths."""

    cache_ok = True
    scale = 10_000

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-4)


TRADING_ACCOUNTS = sa.Table(
    "trading_accounts",
    METADATA,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("initial_cash", Cents, nullable=False),
    sa.Column("created", Millis, nullable=False),
)

ORDERS = sa.Table(
    "orders",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("client_order_id", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("order_type", sa.String(8), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("limit_price", Price4, nullable=True),
    sa.Column("time_in_force", sa.String(4), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created", Millis, nullable=False),
    sa.Column("updated", Millis, nullable=False),
    sa.Column("filled_quantity", sa.BigInteger, nullable=False),
    sa.Column("filled_value", Price4, nullable=False),
    sa.Column("commission", Cents, nullable=False),
    sa.UniqueConstraint("account", "client_order_id", name="uq_orders_client"),
    sa.Index("ix_orders_account_status", "account", "status"),
    sa.Index("ix_orders_account_created", "account", "created"),
)

FILLS = sa.Table(
    "fills",
    METADATA,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("time", Millis, nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("price", Price4, nullable=False),
    sa.Column("commission", Cents, nullable=False),
    sa.Column("stamp_duty", Cents, nullable=False),
    sa.Column("transfer_fee", Cents, nullable=False),
    sa.Index("ix_fills_account_time", "account", "time"),
    sa.Index("ix_fills_order", "order_id"),
)

RISK_ALERTS = sa.Table(
    "risk_alerts",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("time", Millis, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("order_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Index("ix_risk_alerts_account_time", "account", "time"),
)

BACKTEST_RUNS = sa.Table(
    "backtest_runs",
    METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created", Millis, nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("market", sa.String(8), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("start", Millis, nullable=True),
    sa.Column("end", Millis, nullable=True),
    sa.Column("symbols", sa.Text, nullable=False),
    sa.Column("cash", Cents, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Column("equity", sa.Text, nullable=False),
)

BACKTEST_FILLS = sa.Table(
    "backtest_fills",
    METADATA,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("time", Millis, nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("price", Price4, nullable=False),
    sa.Column("commission", Cents, nullable=False),
    sa.Column("stamp_duty", Cents, nullable=False),
    sa.Column("transfer_fee", Cents, nullable=False),
)

ACCOUNT_EQUITY = sa.Table(
    "account_equity",
    METADATA,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("time", Millis, primary_key=True),
    sa.Column("equity", Cents, nullable=False),
    sa.Column("cash", Cents, nullable=False),
)

RISK_SETTINGS = sa.Table(
    "risk_settings",
    METADATA,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON
    sa.Column("updated", Millis, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

#: Every table of this family (what a migration step creates).
TRADING_TABLES = (TRADING_ACCOUNTS, ORDERS, FILLS, RISK_ALERTS, BACKTEST_RUNS, BACKTEST_FILLS)
#: Added after the first release of this family (their own migration step).
LIVE_ACCOUNT_TABLES = (ACCOUNT_EQUITY, RISK_SETTINGS)


def _write(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], replace: bool) -> None:
    """Insert ``rows`` by primary key: replace existing rows, or (``replace`` False) keep
    them (:mod:`quantdesk.storage.sql` compiles each statement once per dialect and table)."""
    pk = [c.name for c in table.primary_key.columns]
    if replace:
        sql.upsert(conn, table, rows, pk)
    else:
        sql.insert_new(conn, table, rows, pk)


def create_tables(engine: sa.Engine) -> None:
    """Create this family's tables if missing (the store's migrations do it too)."""
    METADATA.create_all(engine, tables=[*TRADING_TABLES, *LIVE_ACCOUNT_TABLES])


def _order_row(account: str, o: Order) -> dict[str, Any]:
    return {
        "id": o.id,
        "account": account,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "order_type": o.type.value,
        "quantity": o.quantity,
        "limit_price": o.limit_price,
        "time_in_force": o.time_in_force.value,
        "status": o.status.value,
        "reason": o.reason,
        "created": o.created,
        "updated": o.updated,
        "filled_quantity": o.filled_quantity,
        "filled_value": o.filled_value,
        "commission": o.commission,
    }


def _order(r: Any) -> Order:
    return Order(
        id=r.id,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=Side(r.side),
        type=OrderType(r.order_type),
        quantity=int(r.quantity),
        limit_price=r.limit_price,
        time_in_force=TimeInForce(r.time_in_force),
        status=OrderStatus(r.status),
        reason=r.reason,
        created=int(r.created),
        updated=int(r.updated),
        filled_quantity=int(r.filled_quantity),
        filled_value=r.filled_value,
        commission=r.commission,
    )


def _fill_row(account: str, f: Fill) -> dict[str, Any]:
    return {
        "id": f.id,
        "account": account,
        "order_id": f.order_id,
        "time": f.time,
        "symbol": f.symbol,
        "side": f.side.value,
        "quantity": f.quantity,
        "price": f.price,
        "commission": f.commission,
        "stamp_duty": f.stamp_duty,
        "transfer_fee": f.transfer_fee,
    }


def _fill(r: Any) -> Fill:
    return Fill(
        id=r.id,
        order_id=r.order_id,
        time=int(r.time),
        symbol=r.symbol,
        side=Side(r.side),
        quantity=int(r.quantity),
        price=r.price,
        commission=r.commission,
        stamp_duty=r.stamp_duty,
        transfer_fee=r.transfer_fee,
    )


class WalCheckpointer:
    """SQLite: WAL checkpoints on a background thread instead of inside a commit.

    SQLite checkpoints its write-ahead log from whichever commit makes it pass
    1,000 pages; that commit then waits for the database file's sync (tens of
    milliseconds on a busy disk), which is what the paper broker's p99 order-to-
    fill latency would pay. With this, the engine's connections never checkpoint
    on commit (``wal_autocheckpoint=0``) and a daemon thread runs a PASSIVE
    checkpoint (it never blocks writers) every ``seconds``.
    """

    def __init__(self, engine: sa.Engine, seconds: float = 1.0) -> None:
        self.engine = engine
        self.seconds = seconds
        self._stop = threading.Event()
        self.runs = 0

        @sa.event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        engine.dispose()  # pooled connections made before this get the pragma on reconnect
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Its own autocommit connection: the engine's connections open a transaction
        # on first use, and SQLite refuses a checkpoint inside one.
        import sqlite3

        path = self.engine.url.database or ""
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.seconds):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.runs += 1
                except sqlite3.Error:  # a busy or closing database: try again next time
                    continue
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class TradingStore:
    """The journal of one account (default ``paper``) on a SQLAlchemy engine.

    Implements :class:`quantdesk.trading.journal.TradingJournal`; every write is
    one transaction. ``checkpoint_seconds`` (SQLite only): run WAL checkpoints
    on a background thread (:class:`WalCheckpointer`) to keep them off the
    order path; call :meth:`close` to stop it.
    """

    def __init__(
        self,
        engine: sa.Engine,
        account: str = "paper",
        *,
        create: bool = True,
        checkpoint_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.account = account
        if create:
            create_tables(engine)
        self._checkpointer = (
            WalCheckpointer(engine, checkpoint_seconds)
            if checkpoint_seconds and engine.dialect.name == "sqlite"
            else None
        )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()

    # -- the journal --------------------------------------------------------------

    def initial_cash(self, default: Decimal) -> Decimal:
        with self.engine.begin() as conn:
            insert_new(
                conn,
                TRADING_ACCOUNTS,
                [
                    {
                        "account": self.account,
                        "initial_cash": default,
                        "created": int(time.time() * 1000),
                    }
                ],
                ["account"],
            )
            value = conn.execute(
                sa.select(TRADING_ACCOUNTS.c.initial_cash).where(
                    TRADING_ACCOUNTS.c.account == self.account
                )
            ).scalar_one()
        return Decimal(value)

    def save_order(self, order: Order) -> None:
        with self.engine.begin() as conn:
            _write(conn, ORDERS, [_order_row(self.account, order)], True)

    def save_execution(self, fills: Sequence[Fill], orders: Sequence[Order]) -> None:
        with self.engine.begin() as conn:
            _write(conn, FILLS, [_fill_row(self.account, f) for f in fills], False)
            _write(conn, ORDERS, [_order_row(self.account, o) for o in orders], True)

    def save_alert(self, alert: RiskAlert) -> None:
        row = {
            "id": alert.id,
            "account": self.account,
            "time": alert.time,
            "kind": alert.kind.value,
            "message": alert.message,
            "symbol": alert.symbol,
            "order_id": alert.order_id,
            "state": alert.state.value,
        }
        with self.engine.begin() as conn:
            _write(conn, RISK_ALERTS, [row], False)

    def load_orders(self, open_only: bool = False) -> list[Order]:
        q = sa.select(ORDERS).where(ORDERS.c.account == self.account)
        if open_only:
            q = q.where(ORDERS.c.status.in_([s.value for s in OrderStatus if s.is_open]))
        q = q.order_by(ORDERS.c.created, ORDERS.c.id)
        with self.engine.connect() as conn:
            return [_order(r) for r in conn.execute(q)]

    def load_fills(self) -> list[Fill]:
        q = (
            sa.select(FILLS)
            .where(FILLS.c.account == self.account)
            .order_by(FILLS.c.time, FILLS.c.id)
        )
        with self.engine.connect() as conn:
            return [_fill(r) for r in conn.execute(q)]

    def find_client_order(self, client_order_id: str) -> Order | None:
        q = sa.select(ORDERS).where(
            ORDERS.c.account == self.account, ORDERS.c.client_order_id == client_order_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return None if row is None else _order(row)

    # -- reads for the API --------------------------------------------------------

    def get_order(self, order_id: str) -> Order:
        q = sa.select(ORDERS).where(ORDERS.c.account == self.account, ORDERS.c.id == order_id)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(f"no order {order_id!r}")
        return _order(row)

    def query_fills(
        self, start: int | None = None, end: int | None = None, limit: int | None = None
    ) -> list[Fill]:
        """Fills with ``start <= time < end``; with ``limit`` the newest; ascending time."""
        q = sa.select(FILLS).where(FILLS.c.account == self.account)
        if start is not None:
            q = q.where(FILLS.c.time >= start)
        if end is not None:
            q = q.where(FILLS.c.time < end)
        q = q.order_by(FILLS.c.time.desc(), FILLS.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_fill(r) for r in conn.execute(q)][::-1]

    def query_alerts(self, limit: int = 100) -> list[RiskAlert]:
        """The newest ``limit`` alerts, ascending time."""
        q = (
            sa.select(RISK_ALERTS)
            .where(RISK_ALERTS.c.account == self.account)
            .order_by(RISK_ALERTS.c.time.desc(), RISK_ALERTS.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
        return [
            RiskAlert(
                id=r.id,
                time=int(r.time),
                kind=AlertKind(r.kind),
                message=r.message,
                symbol=r.symbol,
                order_id=r.order_id,
                state=TradingState(r.state),
            )
            for r in rows[::-1]
        ]

    def query_orders(
        self,
        *,
        open_only: bool = False,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        """Orders created in ``[start, end)``; with ``limit`` the newest; oldest first."""
        q = sa.select(ORDERS).where(ORDERS.c.account == self.account)
        if open_only:
            q = q.where(ORDERS.c.status.in_([s.value for s in OrderStatus if s.is_open]))
        if start is not None:
            q = q.where(ORDERS.c.created >= start)
        if end is not None:
            q = q.where(ORDERS.c.created < end)
        q = q.order_by(ORDERS.c.created.desc(), ORDERS.c.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_order(r) for r in conn.execute(q)][::-1]

    def save_equity(self, points: Sequence[tuple[int, Decimal, Decimal]]) -> None:
        """``(time, equity, cash)`` points of the live account (idempotent by time)."""
        rows = [{"account": self.account, "time": t, "equity": e, "cash": c} for t, e, c in points]
        with self.engine.begin() as conn:
            _write(conn, ACCOUNT_EQUITY, rows, True)

    def query_equity(
        self, start: int | None = None, end: int | None = None, limit: int | None = None
    ) -> list[tuple[int, Decimal, Decimal]]:
        """``(time, equity, cash)`` in ``[start, end)``; with ``limit`` the newest; ascending."""
        q = sa.select(ACCOUNT_EQUITY).where(ACCOUNT_EQUITY.c.account == self.account)
        if start is not None:
            q = q.where(ACCOUNT_EQUITY.c.time >= start)
        if end is not None:
            q = q.where(ACCOUNT_EQUITY.c.time < end)
        q = q.order_by(ACCOUNT_EQUITY.c.time.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            rows = [(int(r.time), r.equity, r.cash) for r in conn.execute(q)]
        return rows[::-1]

    def save_risk_setting(self, name: str, value: Any, now: int, user: str) -> None:
        """Store one admin setting (``limits``: the changed limits; ``state``: the state)."""
        row = {
            "account": self.account,
            "name": name,
            "value": orjson.dumps(value).decode(),
            "updated": now,
            "updated_by": user,
        }
        with self.engine.begin() as conn:
            _write(conn, RISK_SETTINGS, [row], True)

    def load_risk_settings(self) -> dict[str, Any]:
        """The stored admin settings by name (JSON values)."""
        q = sa.select(RISK_SETTINGS).where(RISK_SETTINGS.c.account == self.account)
        with self.engine.connect() as conn:
            return {r.name: orjson.loads(r.value) for r in conn.execute(q)}

    def initial_cash_stored(self) -> Decimal | None:
        """The account's initial cash, or None when the account was never opened."""
        q = sa.select(TRADING_ACCOUNTS.c.initial_cash).where(
            TRADING_ACCOUNTS.c.account == self.account
        )
        with self.engine.connect() as conn:
            value = conn.execute(q).scalar()
        return None if value is None else Decimal(value)

    def denial_counts(self) -> dict[str, int]:
        """Denied orders by reason (the reason's text before any ``:``)."""
        q = (
            sa.select(ORDERS.c.reason, sa.func.count())
            .where(ORDERS.c.account == self.account, ORDERS.c.status == OrderStatus.DENIED.value)
            .group_by(ORDERS.c.reason)
        )
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for reason, n in conn.execute(q):
                key = str(reason).split(":")[0]
                out[key] = out.get(key, 0) + int(n)
        return out


class BacktestRunRow:
    """One stored backtest run (what ``GET /api/v2/backtests/{id}`` will show)."""

    __slots__ = (
        "cash",
        "created",
        "end",
        "equity",
        "id",
        "interval",
        "market",
        "settings",
        "start",
        "stats",
        "strategy",
        "symbols",
    )

    def __init__(self, r: Any) -> None:
        self.id: str = r.id
        self.created: int = int(r.created)
        self.strategy: str = r.strategy
        self.market: str = r.market
        self.interval: str = r.interval
        self.start: int | None = r.start
        self.end: int | None = r.end
        self.symbols: list[str] = orjson.loads(r.symbols)
        self.cash: Decimal = r.cash
        self.settings: dict[str, Any] = orjson.loads(r.settings)
        self.stats: dict[str, Any] = orjson.loads(r.stats)
        self.equity: dict[str, Any] = orjson.loads(r.equity)


class BacktestStore:
    """Backtest runs: written whole in one transaction at the end of a run."""

    def __init__(self, engine: sa.Engine, *, create: bool = True) -> None:
        self.engine = engine
        if create:
            create_tables(engine)

    def save_run(self, run: dict[str, Any], fills: Sequence[Fill]) -> None:
        row = dict(run)
        for key in ("symbols", "settings", "stats", "equity"):
            row[key] = orjson.dumps(row[key], option=orjson.OPT_SERIALIZE_NUMPY).decode()
        fill_rows = [
            {
                "run_id": run["id"],
                "seq": i,
                "time": f.time,
                "symbol": f.symbol,
                "side": f.side.value,
                "quantity": f.quantity,
                "price": f.price,
                "commission": f.commission,
                "stamp_duty": f.stamp_duty,
                "transfer_fee": f.transfer_fee,
            }
            for i, f in enumerate(fills)
        ]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(BACKTEST_RUNS), [row])
            if fill_rows:
                conn.execute(sa.insert(BACKTEST_FILLS), fill_rows)

    def list_runs(self, limit: int = 100) -> list[BacktestRunRow]:
        q = sa.select(BACKTEST_RUNS).order_by(BACKTEST_RUNS.c.created.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [BacktestRunRow(r) for r in conn.execute(q)]

    def get_run(self, run_id: str) -> BacktestRunRow:
        q = sa.select(BACKTEST_RUNS).where(BACKTEST_RUNS.c.id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundError(f"no backtest run {run_id!r}")
        return BacktestRunRow(row)

    def run_fills(self, run_id: str) -> list[Fill]:
        q = (
            sa.select(BACKTEST_FILLS)
            .where(BACKTEST_FILLS.c.run_id == run_id)
            .order_by(BACKTEST_FILLS.c.seq)
        )
        with self.engine.connect() as conn:
            return [
                Fill(
                    id=f"{run_id}-{r.seq}",
                    order_id="",
                    time=int(r.time),
                    symbol=r.symbol,
                    side=Side(r.side),
                    quantity=int(r.quantity),
                    price=r.price,
                    commission=r.commission,
                    stamp_duty=r.stamp_duty,
                    transfer_fee=r.transfer_fee,
                )
                for r in conn.execute(q)
            ]
