"""What the trading, risk and backtest endpoints serve: the live desk, or the store.

:class:`TradingService` answers every read from the store (the journal is the
truth: any API process of a platform can serve it), except the account,
positions and the risk state, which come from the live
:class:`~quantdesk.trading.desk.TradingDesk` when it runs in this process
(``quantdesk run``): its ledger has the freezes of open orders and the
prices of the last step. Without a desk (``quantdesk serve``), the account is
rebuilt from the stored fills at the real-time price table's prices.

Changes (orders, cancels, limits, states; admin) go to the desk when it is in
this process; otherwise they travel on the bus's ``control`` topic to the
process that trades (:mod:`quantdesk.trading.remote`), and the API answers
with what that process stored (within :attr:`TradingService.ANSWER_SECONDS`,
else 503). With neither a desk nor a bus they answer 503 with one line.

The JSON of an order, a fill and a risk alert is the bus message's fields
(:mod:`quantdesk.bus.codec`; times in epoch ms, money as numbers), so the
dashboard reads REST rows and WebSocket messages alike.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quantdesk.bus.codec import alert_body, fill_body, order_body
from quantdesk.domain.trading import (
    Account,
    Order,
    OrderStatus,
    Position,
    TradingState,
)
from quantdesk.errors import ConfigError, OrderRejected, TradingError, TradingUnavailable
from quantdesk.risk.limits import RiskLimits
from quantdesk.storage.audit import audit
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import rules_for
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.remote import (
    cancel_control,
    limits_control,
    order_control,
    state_control,
)

if TYPE_CHECKING:
    from quantdesk.bus import Bus
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
]


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def order_json(o: Order) -> dict[str, Any]:
    """An order as the bus carries it, plus ``type`` (the POST body's name) and the
    average fill price."""
    return {
        **order_body(o),
        "type": o.type.value,
        "average_price": _num(o.average_price),
    }


#: Fills and alerts: the same fields as on the bus.
fill_json = fill_body
alert_json = alert_body


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


class TradingService:
    """Reads and changes of the paper account (see the module docstring)."""

    #: how long an API apart from the account waits for its order to be stored
    ANSWER_SECONDS: float = 5.0

    def __init__(
        self,
        store: Store,
        settings: Settings,
        desk: TradingDesk | None = None,
        bus: Bus | None = None,
        *,
        audit_log: Any = None,
    ):
        from quantdesk.storage.trading import BacktestStore, TradingStore

        self.store = store
        self.settings = settings
        self.desk = desk
        self.bus = bus
        self.audit_log = audit_log if audit_log is not None else store
        self.market = desk.market if desk is not None else settings.market
        self.journal = desk.store if desk is not None else TradingStore(store.engine)
        self.backtests = BacktestStore(store.engine)

    @property
    def live(self) -> bool:
        return self.desk is not None

    def _unavailable(self) -> TradingUnavailable:
        return TradingUnavailable(
            "nothing trades here: orders, cancels and risk changes go to the process that"
            " runs the market (quantdesk run), and this API has no bus to reach it"
        )

    def _audit(self, action: str, user: str, client: str, detail: dict[str, Any]) -> None:
        audit(self.audit_log, action, user=user, client=client, detail=detail)

    # -- changes (admin) -------------------------------------------------------------

    def place(self, request: OrderRequest, user: str, client: str = "") -> Order:
        """Place an order: on the desk in this process, else over the bus (the answer is
        the order the process that trades stored). OrderRejected: bad input."""
        if self.desk is not None:
            try:
                order = self.desk.place(request, user)
            except OrderRejected as exc:
                self._audit(
                    "order.reject", user, client, {"symbol": request.symbol, "reason": exc.reason}
                )
                raise
        elif self.bus is not None:
            order = self._place_remote(request, user)
        else:
            raise self._unavailable()
        self._audit(
            "order.submit",
            user,
            client,
            {
                "id": order.id,
                "symbol": order.symbol,
                "side": order.side.value,
                "quantity": order.quantity,
                "status": order.status.value,
            },
        )
        return order

    def _place_remote(self, request: OrderRequest, user: str) -> Order:
        assert self.bus is not None
        cid = request.client_order_id or f"api-{uuid.uuid4().hex[:16]}"
        request = request._replace(client_order_id=cid)
        known = self.journal.find_client_order(cid)
        if known is not None:
            return known
        deadline = time.time() + self.ANSWER_SECONDS
        self.bus.send(order_control(request, user, int(deadline * 1000)))
        self.bus.flush(self.ANSWER_SECONDS)
        while True:
            order = self.journal.find_client_order(cid)
            if order is not None and order.status is not OrderStatus.NEW:
                return order
            if time.time() > deadline:
                raise TradingUnavailable(
                    f"no answer from the process that trades within {self.ANSWER_SECONDS:g} s"
                    " (is quantdesk run trading?); the order was not placed"
                )
            time.sleep(0.02)

    def cancel(self, order_id: str, user: str, client: str = "") -> Order:
        """Cancel an open order (NotFoundError, TradingError when it is not open)."""
        if self.desk is not None:
            order = self.desk.cancel(order_id, user)
        elif self.bus is not None:
            order = self.journal.get_order(order_id)  # NotFoundError first
            if not order.is_open:
                raise TradingError(f"order {order_id} is not open (it is {order.status.value})")
            self.bus.send(cancel_control(order_id, user))
            self.bus.flush(self.ANSWER_SECONDS)
            deadline = time.time() + self.ANSWER_SECONDS
            while order.is_open and time.time() < deadline:
                time.sleep(0.02)
                order = self.journal.get_order(order_id)
            if order.is_open:
                raise TradingUnavailable(
                    f"no answer from the process that trades within {self.ANSWER_SECONDS:g} s"
                )
        else:
            raise self._unavailable()
        self._audit("order.cancel", user, client, {"id": order_id})
        return order

    def set_limits(self, changes: dict[str, Any], user: str, client: str = "") -> dict[str, Any]:
        """Change risk limits (ConfigError: a bad value, nothing changed). Apart from the
        account: stored here (the account reads them at its next start) and sent."""
        if self.desk is not None:
            self.desk.set_limits(changes, user)
        elif self.bus is not None:
            limits = self._limits().updated(**changes)  # validated before anything is sent
            now = int(time.time() * 1000)
            self.journal.save_risk_setting("limits", limits.as_dict(), now, user)
            self.bus.send(limits_control(limits.as_dict(), user))
            self.bus.flush(self.ANSWER_SECONDS)
        else:
            raise self._unavailable()
        self._audit("risk.limits", user, client, {"changes": changes})
        return self.risk()

    def set_state(
        self, state: TradingState, reason: str, user: str, client: str = ""
    ) -> dict[str, Any]:
        if self.desk is not None:
            self.desk.set_state(state, user, reason)
        elif self.bus is not None:
            now = int(time.time() * 1000)
            self.journal.save_risk_setting("state", {"state": state.value}, now, user)
            self.bus.send(state_control(state, reason, user))
            self.bus.flush(self.ANSWER_SECONDS)
        else:
            raise self._unavailable()
        self._audit("risk.state", user, client, {"state": state.value, "reason": reason})
        out = self.risk()
        if self.desk is None:
            out["state"], out["set_by_admin"] = state.value, state is not TradingState.ACTIVE
        return out

    def _limits(self) -> RiskLimits:
        limits = RiskLimits.from_settings(self.settings)
        stored = self.journal.load_risk_settings()
        if stored.get("limits"):
            # a stored value this release refuses: the settings' stand
            with contextlib.suppress(ConfigError):
                limits = limits.updated(**stored["limits"])
        return limits

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
            limits = self._limits()
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
