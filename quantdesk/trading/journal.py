"""Where orders, fills and risk alerts are written: the broker's journal.

The paper broker writes an order *before* it acts on it, and writes each
batch of fills together with the orders they change in *one* transaction
(:meth:`TradingJournal.save_execution`), so after a crash the store holds
either the whole effect of a market event or none of it. Fills are inserted
by id and never rewritten, so a replayed event cannot book a fill twice.

Two implementations:

================================  ==========================================
:class:`MemoryJournal`            in-process lists: backtests (a run is
                                  stored whole at its end) and unit tests
``quantdesk.storage.trading.      SQLite / PostgreSQL through SQLAlchemy
TradingStore``                    Core: the live paper account
================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from quantdesk.domain.trading import Fill, Order, RiskAlert

__all__ = ["MemoryJournal", "TradingJournal"]


@runtime_checkable
class TradingJournal(Protocol):
    """What the broker and the risk engine need from a store (one account)."""

    def initial_cash(self, default: Decimal) -> Decimal:
        """The account's initial cash: stored on first use, the stored one after."""
        ...

    def save_order(self, order: Order) -> None:
        """Insert or replace one order (by id), durably, before it is acted on."""
        ...

    def save_execution(self, fills: Sequence[Fill], orders: Sequence[Order]) -> None:
        """New fills (ignored if their id is stored) and the orders they change, atomically."""
        ...

    def save_alert(self, alert: RiskAlert) -> None: ...

    def load_orders(self, open_only: bool = False) -> list[Order]:
        """Orders by creation time (then id)."""
        ...

    def load_fills(self) -> list[Fill]:
        """Fills by time (then id)."""
        ...

    def find_client_order(self, client_order_id: str) -> Order | None: ...


class MemoryJournal:
    """A journal in memory (nothing survives the process)."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.fills: dict[str, Fill] = {}
        self.alerts: list[RiskAlert] = []
        self._by_client: dict[str, str] = {}
        self._cash: Decimal | None = None

    def initial_cash(self, default: Decimal) -> Decimal:
        if self._cash is None:
            self._cash = default
        return self._cash

    def save_order(self, order: Order) -> None:
        self.orders[order.id] = order
        self._by_client[order.client_order_id] = order.id

    def save_execution(self, fills: Sequence[Fill], orders: Sequence[Order]) -> None:
        stored = self.fills
        for f in fills:
            stored.setdefault(f.id, f)
        by_id, by_client = self.orders, self._by_client
        for o in orders:  # save_order(o), inline
            by_id[o.id] = o
            by_client[o.client_order_id] = o.id

    def save_alert(self, alert: RiskAlert) -> None:
        self.alerts.append(alert)

    def load_orders(self, open_only: bool = False) -> list[Order]:
        out = [o for o in self.orders.values() if o.is_open or not open_only]
        return sorted(out, key=lambda o: (o.created, o.id))

    def load_fills(self) -> list[Fill]:
        return sorted(self.fills.values(), key=lambda f: (f.time, f.id))

    def find_client_order(self, client_order_id: str) -> Order | None:
        oid = self._by_client.get(client_order_id)
        return None if oid is None else self.orders.get(oid)
