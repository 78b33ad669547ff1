"""What the trading, risk and backtest endpoints serve: the live desk, or the store.

:class:`TradingService` answers every read from the store (the journal is the
truth: any API process of a platform can serve it), except the account,
positions and the risk state, which come from the live
:class:`~quantdesk.trading.desk.TradingDesk` when it runs in this process
(``quantdesk run``): its ledger has the freezes of open orders and the
prices of the last step. Without a desk (``quantdesk serve``), the account is
rebuilt from the stored fills at the real-time price table's prices, and
changes (orders, cancels, limits, states) answer 503 with one line: the paper
account trades in the process that runs the market.

The JSON of an order, a fill and a risk alert is the bus message's fields
(:mod:`quantdesk.bus.codec`; times in epoch ms, money as numbers), so the
dashboard reads REST rows and WebSocket messages alike.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quantdesk.domain.trading import (
    Account,
    Fill,
    Order,
    Position,
    RiskAlert,
    TradingState,
)
from quantdesk.errors import TradingUnavailable
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import rules_for

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings
    from quantdesk.storage.base import Store
    from quantdesk.trading.desk import TradingDesk

__all__ = [
    "TradingService",
    "account_json",
    "alert_json",
    "fill_json",
    "order_json",
    "position_json",
    "trading_forwarder",
]


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def order_json(o: Order) -> dict[str, Any]:
    """An order as the bus carries it, plus ``type`` (the POST body's name) and the
    average fill price."""
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "order_type": o.type.value,
        "type": o.type.value,
        "quantity": o.quantity,
        "limit_price": _num(o.limit_price),
        "time_in_force": o.time_in_force.value,
        "status": o.status.value,
        "reason": o.reason,
        "created": o.created,
        "updated": o.updated,
        "filled_quantity": o.filled_quantity,
        "filled_value": float(o.filled_value),
        "commission": float(o.commission),
        "average_price": _num(o.average_price),
    }


def fill_json(f: Fill) -> dict[str, Any]:
    return {
        "id": f.id,
        "order_id": f.order_id,
        "time": f.time,
        "symbol": f.symbol,
        "side": f.side.value,
        "quantity": f.quantity,
        "price": float(f.price),
        "commission": float(f.commission),
        "stamp_duty": float(f.stamp_duty),
        "transfer_fee": float(f.transfer_fee),
    }


def alert_json(a: RiskAlert) -> dict[str, Any]:
    return {
        "id": a.id,
        "time": a.time,
        "kind": a.kind.value,
        "message": a.message,
        "symbol": a.symbol,
        "order_id": a.order_id,
        "state": a.state.value,
    }


def position_json(p: Position) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "quantity": p.quantity,
        "sellable_quantity": p.sellable_quantity,
        "average_cost": float(p.average_cost),
        "last_price": _num(p.last_price),
        "market_value": float(p.market_value),
        "realised_pnl": float(p.realised_pnl),
        "unrealised_pnl": float(p.unrealised_pnl),
    }


def account_json(a: Account, initial: Decimal, source: str) -> dict[str, Any]:
    return {
        "cash": float(a.cash),
        "frozen_cash": float(a.frozen_cash),
        "available_cash": float(a.available_cash),
        "market_value": float(a.market_value),
        "equity": float(a.equity),
        "initial_cash": float(initial),
        "pnl": float(a.equity - initial),
        "currency": a.currency,
        "source": source,
    }


def trading_forwarder(hub: Any) -> Callable[[Order | Fill | RiskAlert], None]:
    """A desk listener that hands each update to the WebSocket hub (``order``, ``fill``,
    ``risk_alert`` messages: ``/ws/orders``, ``/ws/risk-alerts``, ``/ws/enhanced``)."""

    def forward(update: Order | Fill | RiskAlert) -> None:
        if isinstance(update, Order):
            hub.publish("order", order_json(update), update.symbol)
        elif isinstance(update, Fill):
            hub.publish("fill", fill_json(update), update.symbol)
        else:
            hub.publish("risk_alert", alert_json(update), update.symbol or None)

    return forward


class TradingService:
    """Reads and changes of the paper account (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings, desk: TradingDesk | None = None):
        from quantdesk.storage.trading import BacktestStore, TradingStore

        self.store = store
        self.settings = settings
        self.desk = desk
        self.market = desk.market if desk is not None else settings.market
        self.journal = desk.store if desk is not None else TradingStore(store.engine)
        self.backtests = BacktestStore(store.engine)

    @property
    def live(self) -> bool:
        return self.desk is not None

    def require_desk(self) -> TradingDesk:
        if self.desk is None:
            raise TradingUnavailable(
                "nothing trades in this API process: orders, cancels and risk changes go to"
                " the process that runs the market (quantdesk run)"
            )
        return self.desk

    # -- the account -------------------------------------------------------------

    def _stored_ledger(self) -> tuple[Ledger, dict[str, float], int]:
        rules = rules_for(self.market, self.settings)
        initial = self.journal.initial_cash_stored() or Decimal(str(self.settings.paper_cash))
        ledger = Ledger.rebuild(rules, initial, self.journal.load_fills())
        held = [s for s, h in ledger.holdings.items() if h.quantity]
        rows = self.store.get_prices(held) if held else []
        prices = {r.symbol: r.price for r in rows}
        now = max((r.time for r in rows), default=0)
        return ledger, prices, now

    def account(self) -> dict[str, Any]:
        if self.desk is not None:
            acct = self.desk.account()
            return account_json(acct, self.desk.broker.ledger.initial_cash, "live")
        ledger, prices, _ = self._stored_ledger()
        acct = ledger.account(prices)
        # open orders' freezes are the live broker's: without it, none are shown
        return account_json(acct, ledger.initial_cash, "store")

    def positions(self) -> list[dict[str, Any]]:
        if self.desk is not None:
            return [position_json(p) for p in self.desk.positions()]
        ledger, prices, now = self._stored_ledger()
        day = ledger.rules.day_of(now) if now else len(ledger.rules.calendar.days) - 1
        return [position_json(p) for p in ledger.positions(prices, day)]

    def equity(self, start: int | None, end: int | None, limit: int) -> list[dict[str, Any]]:
        return [
            {"time": t, "equity": float(e), "cash": float(c)}
            for t, e, c in self.journal.query_equity(start, end, limit)
        ]

    # -- orders and fills ---------------------------------------------------------

    def orders(
        self, open_only: bool, start: int | None, end: int | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = self.journal.query_orders(open_only=open_only, start=start, end=end, limit=limit)
        return [order_json(o) for o in rows]

    def order(self, order_id: str) -> dict[str, Any]:
        return order_json(self.journal.get_order(order_id))

    def fills(self, start: int | None, end: int | None, limit: int) -> list[dict[str, Any]]:
        return [fill_json(f) for f in self.journal.query_fills(start, end, limit)]

    # -- risk ---------------------------------------------------------------------

    def risk(self) -> dict[str, Any]:
        if self.desk is not None:
            st = self.desk.risk_status()
            state, admin, limits, denials = st.state, st.set_by_admin, st.limits, st.denials
        else:
            stored = self.journal.load_risk_settings()
            limits = RiskLimits.from_settings(self.settings)
            if stored.get("limits"):
                limits = limits.updated(**stored["limits"])
            value = (stored.get("state") or {}).get("state", TradingState.ACTIVE.value)
            state = TradingState(value)
            admin = state is not TradingState.ACTIVE
            denials = self.journal.denial_counts()
        return {
            "state": state.value,
            "set_by_admin": admin,
            "limits": limits.as_dict(),
            "denials": denials,
            "live": self.live,
        }

    def alerts(self, limit: int) -> list[dict[str, Any]]:
        return [alert_json(a) for a in self.journal.query_alerts(limit)]
