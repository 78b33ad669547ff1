"""The stream family: factor values, signals, dead letters, consumer checkpoints
(migration 2) and persisted signal rules (migration 3).

Factor values and signals are upserts on their natural keys (idempotent under
redelivery); dead letters are an append-only log; a checkpoint row is
replaced per (group, topic, partition) and holds operator state as data
(:mod:`quantdesk.storage.checkpoints`, never a pickle). ``signal_rules`` holds
one row per rule id: the rule as JSON, or a tombstone (``deleted``) for a
removed rule, so a deleted config default stays deleted after a restart;
:func:`quantdesk.api.rules.merge_rules` lays these rows over the configured
defaults at start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final, Protocol

import sqlalchemy as sa

from quantdesk.domain import FactorValue, Signal
from quantdesk.errors import DataError
from quantdesk.storage import checkpoints, sql
from quantdesk.storage.sql import METADATA, Id, JsonDoc, Key, Real, TimestampMs

__all__ = [
    "DEAD_LETTERS",
    "FACTOR_VALUES",
    "SIGNALS",
    "SIGNAL_RULES",
    "STREAM_CHECKPOINTS",
    "DeadLetterRow",
    "Streams",
]

log = logging.getLogger("quantdesk.storage")


class DeadLetterRow(Protocol):
    """What :meth:`Streams.add_dead_letters` needs (a :class:`quantdesk.bus.DeadLetter` fits)."""

    @property
    def reason(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def error(self) -> str: ...


FACTOR_VALUES: Final = sa.Table(
    "factor_values",
    METADATA,
    sa.Column("symbol", Key, nullable=False),
    sa.Column("name", Key, nullable=False),
    sa.Column("interval", Key, nullable=False),
    sa.Column("ts", TimestampMs, nullable=False),
    sa.Column("value", Real, nullable=False),
    sa.PrimaryKeyConstraint("symbol", "name", "interval", "ts"),
    sqlite_with_rowid=False,
)

SIGNALS: Final = sa.Table(
    "signals",
    METADATA,
    sa.Column("rule_id", Key, nullable=False),
    sa.Column("symbol", Key, nullable=False),
    sa.Column("ts", TimestampMs, nullable=False),
    sa.Column("factor", Key, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("value", Real, nullable=False),
    sa.PrimaryKeyConstraint("rule_id", "symbol", "ts", "factor"),
    sa.Index("signals_by_symbol_time", "symbol", "ts"),
    sqlite_with_rowid=False,
)

DEAD_LETTERS: Final = sa.Table(
    "dead_letters",
    METADATA,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("time", TimestampMs, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Index("dead_letters_by_reason", "reason"),
    sqlite_autoincrement=True,
)

STREAM_CHECKPOINTS: Final = sa.Table(
    "stream_checkpoints",
    METADATA,
    sa.Column("grp", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", TimestampMs, nullable=False),
    sa.PrimaryKeyConstraint("grp", "topic", "partition"),
)

SIGNAL_RULES: Final = sa.Table(
    "signal_rules",
    METADATA,
    sa.Column("id", Key, primary_key=True),
    sa.Column("rule", JsonDoc),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", TimestampMs, nullable=False),
)


_FACTOR_COLS: Final = ("symbol", "name", "interval", "ts", "value")
_SIGNAL_COLS: Final = ("rule_id", "symbol", "ts", "factor", "side", "value")


def _newest(stmt: sa.Select[Any], time_col: sa.Column[Any], limit: int | None) -> Any:
    """``stmt`` ordered by time; with ``limit`` its newest rows, returned oldest first."""
    if limit is None:
        return stmt.order_by(time_col)
    newest = stmt.order_by(time_col.desc()).limit(max(0, int(limit))).subquery("newest")
    return sa.select(*newest.c).order_by(newest.c[time_col.name])


def _range(
    stmt: sa.Select[Any], col: sa.ColumnElement[Any], start: int | None, end: int | None
) -> sa.Select[Any]:
    if start is not None:
        stmt = stmt.where(col >= int(start))
    if end is not None:
        stmt = stmt.where(col < int(end))
    return stmt


class Streams:
    """Repository over the stream tables and signal rules. Safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- factor values and signals ----------------------------------------------------

    def upsert_factors(self, factors: Sequence[FactorValue]) -> None:
        rows = [(f.symbol, f.name, f.interval, f.ts, f.value) for f in factors]
        if rows:
            with sql.raw_write(self.engine) as conn:
                sql.upsert_values(conn, FACTOR_VALUES, _FACTOR_COLS, rows, _FACTOR_COLS[:4])

    def query_factors(
        self,
        symbol: str,
        name: str | None = None,
        interval: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[FactorValue]:
        """Factor values with ``start <= ts < end``; with ``limit`` the newest; ascending ts."""
        t = FACTOR_VALUES.c
        stmt = sa.select(t.symbol, t.ts, t.name, t.value, t.interval).where(t.symbol == symbol)
        if name is not None:
            stmt = stmt.where(t.name == name)
        if interval is not None:
            stmt = stmt.where(t.interval == interval)
        stmt = _newest(_range(stmt, t.ts, start, end), t.ts, limit)
        with sql.read(self.engine) as conn:
            rows = conn.execute(stmt).all()
        return [FactorValue(r[0], int(r[1]), r[2], float(r[3]), r[4]) for r in rows]

    def upsert_signals(self, signals: Sequence[Signal]) -> None:
        rows = [(s.rule_id, s.symbol, s.ts, s.factor, s.side, s.value) for s in signals]
        if rows:
            with sql.raw_write(self.engine) as conn:
                sql.upsert_values(conn, SIGNALS, _SIGNAL_COLS, rows, _SIGNAL_COLS[:4])

    def query_signals(
        self,
        symbol: str | None = None,
        rule_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Signal]:
        """Signals with ``start <= ts < end``; with ``limit`` the newest; ascending ts."""
        t = SIGNALS.c
        stmt = sa.select(t.symbol, t.ts, t.factor, t.value, t.side, t.rule_id)
        if symbol is not None:
            stmt = stmt.where(t.symbol == symbol)
        if rule_id is not None:
            stmt = stmt.where(t.rule_id == rule_id)
        stmt = _newest(_range(stmt, t.ts, start, end), t.ts, limit)
        with sql.read(self.engine) as conn:
            rows = conn.execute(stmt).all()
        return [Signal(r[0], int(r[1]), r[2], float(r[3]), r[4], r[5]) for r in rows]

    # -- dead letters -----------------------------------------------------------------

    def add_dead_letters(self, items: Sequence[DeadLetterRow]) -> None:
        now = sql.now_ms()
        rows = [
            {"time": now, "topic": d.topic, "reason": d.reason, "error": d.error, "raw": d.raw}
            for d in items
        ]
        if rows:
            with sql.write(self.engine) as conn:
                conn.execute(sa.insert(DEAD_LETTERS), rows)

    def dead_letter_counts(self) -> dict[str, int]:
        t = DEAD_LETTERS.c
        stmt = sa.select(t.reason, sa.func.count()).group_by(t.reason).order_by(t.reason)
        with sql.read(self.engine) as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(stmt)}

    # -- checkpoints ------------------------------------------------------------------

    def save_checkpoint(
        self, group: str, topic: str, partition: int, offset: int, state: Any
    ) -> None:
        """Store a consumer's operator ``state`` (plain data, see
        :mod:`~quantdesk.storage.checkpoints`) with the input ``offset`` it covers."""
        row = {
            "grp": group,
            "topic": topic,
            "partition": int(partition),
            "offset": int(offset),
            "state": checkpoints.encode(state),
            "updated_at": sql.now_ms(),
        }
        with sql.write(self.engine) as conn:
            sql.upsert(conn, STREAM_CHECKPOINTS, [row], ["grp", "topic", "partition"])

    def delete_checkpoints(self, group: str) -> int:
        """Forget every checkpoint of consumer ``group`` (its next start begins afresh)."""
        with sql.write(self.engine) as conn:
            result = conn.execute(
                sa.delete(STREAM_CHECKPOINTS).where(STREAM_CHECKPOINTS.c.grp == group)
            )
        return int(result.rowcount or 0)

    def load_checkpoint(self, group: str, topic: str, partition: int) -> tuple[int, Any] | None:
        """``(offset, state)`` stored for the partition, or None.

        A state in another format (a pickle of an earlier release) is not
        loaded: one line is logged and None returned, so the partition starts
        afresh.
        """
        t = STREAM_CHECKPOINTS.c
        stmt = sa.select(t.offset, t.state).where(
            t.grp == group, t.topic == topic, t.partition == int(partition)
        )
        with sql.read(self.engine) as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        try:
            return int(row[0]), checkpoints.decode(row[1])
        except DataError as exc:
            log.warning(
                "checkpoint of %s %s[%d] not loaded, starting afresh: %s",
                group,
                topic,
                partition,
                exc,
            )
            return None

    # -- signal rules -----------------------------------------------------------------

    def save_rule(self, rule_id: str, rule: dict[str, Any] | None) -> None:
        """Persist a rule as plain data, or ``None`` to record its deletion."""
        row = {"id": rule_id, "rule": rule, "deleted": rule is None, "updated_at": sql.now_ms()}
        with sql.write(self.engine) as conn:
            sql.upsert(conn, SIGNAL_RULES, [row], ["id"])

    def load_rules(self) -> dict[str, dict[str, Any] | None]:
        """Persisted rules by id (oldest change first); ``None`` marks a deleted rule."""
        t = SIGNAL_RULES.c
        stmt = sa.select(t.id, t.rule, t.deleted).order_by(t.updated_at, t.id)
        with sql.read(self.engine) as conn:
            rows = conn.execute(stmt).all()
        return {str(r[0]): None if r[2] or not isinstance(r[1], dict) else r[1] for r in rows}
