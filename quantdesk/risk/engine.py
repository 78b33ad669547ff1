"""The risk engine: between strategies (and manual orders) and the broker.

Like NautilusTrader's ``RiskEngine`` it sits on the submit path, checks every
order before the broker sees it, and *denies* an order with a reason: the
order is stored with status ``denied`` and its reason, counted by reason,
and a ``denied`` alert is raised. Checks, in order:

=====================  ===========================================================
check                  denies when
=====================  ===========================================================
trading state          HALTED: every new order; REDUCING: every buy (a long-only
                       account adds exposure only by buying)
order shape            quantity not a whole positive number of lots, bad price
tradable               the permission table says the stock is suspended or delisted
                       (``rules.permissions``; live only)
known symbol           no price for the symbol yet
price limits           a limit price outside the day's limits (cn)
order value            quantity x price > ``max_order_value``
orders per minute      ``max_orders_per_minute`` orders in the last 60 s (event time)
daily loss             (buys) the day's loss reached ``daily_loss_limit``
position weight        (buys) the position after the order > ``max_position_weight``
gross exposure         (buys) all positions after the order > ``max_gross_exposure``
cash                   (buys) cost + fees > cash not frozen by open orders
sellable quantity      (sells) more than the sellable quantity (T+1, open sells)
=====================  ===========================================================

States: ACTIVE, REDUCING, HALTED. The daily loss limit switches ACTIVE to
REDUCING (a ``breach`` alert) until the next trading day; an admin sets any
state (:meth:`RiskEngine.set_state`), and a state set by an admin stays until
an admin changes it. Drawdown from the equity peak beyond ``drawdown_alert``
raises a ``drawdown`` alert (once, until equity recovers above it). Every
alert is written to the journal and handed to the listeners (the runtime
publishes them on the bus, hence ``/ws/risk-alerts``).

Limits are changed at run time with :meth:`RiskEngine.set_limits`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from quantdesk.domain.trading import (
    AlertKind,
    Order,
    OrderStatus,
    RiskAlert,
    Side,
    TradingState,
)
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.brokers.base import Broker
from quantdesk.trading.journal import TradingJournal
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import IdFactory, OrderRequest, random_ids

__all__ = ["AlertListener", "Exposure", "RiskEngine"]

log = logging.getLogger("quantdesk.risk")

AlertListener = Callable[[RiskAlert], None]
_MINUTE = 60_000
_add_reduce = np.add.reduce
# enum members as module constants (a lookup on the enum class costs more, per use)
_BUY = Side.BUY
_SELL = Side.SELL
_REJECTED = OrderStatus.REJECTED
_ACTIVE = TradingState.ACTIVE


class Exposure:
    """Valuation of the account at one moment (floats: a valuation, never booked).

    ``gross`` is the value of all positions with the effect of the open orders
    (resting buys add, resting sells take away); :meth:`symbol` the same for
    one symbol (looked up when first asked, then kept in ``by_symbol``);
    :meth:`add` books an order just placed.
    """

    __slots__ = ("_lookup", "available_cash", "by_symbol", "equity", "gross")

    def __init__(
        self,
        equity: float,
        gross: float,
        available_cash: float,
        by_symbol: dict[str, float],
        lookup: Callable[[str], float] | None = None,
    ) -> None:
        self.equity = equity
        self.gross = gross
        self.available_cash = available_cash
        self.by_symbol = by_symbol
        self._lookup = lookup

    def symbol(self, sym: str) -> float:
        v = self.by_symbol.get(sym)
        if v is None:
            v = self.by_symbol[sym] = self._lookup(sym) if self._lookup is not None else 0.0
        return v

    def add(self, sym: str, signed: float) -> None:
        v = self.by_symbol.get(sym)
        if v is None:  # self.symbol(sym), inline
            v = self._lookup(sym) if self._lookup is not None else 0.0
        self.by_symbol[sym] = v + signed
        self.gross += signed


class _PaperValues:
    """One symbol's exposure on the paper broker: shares x last price (cost if never
    priced), plus its resting orders (what :meth:`Exposure.symbol` looks up)."""

    __slots__ = ("holdings", "index", "last", "n", "pending", "qty")

    def __init__(self, ledger: Any, market: Any, qty: Any, n: int, pending: dict[str, float]):
        self.holdings = ledger.holdings
        self.index = market.index
        self.last = market.last
        self.qty = qty
        self.n = n
        self.pending = pending

    def __call__(self, sym: str) -> float:
        i = self.index.get(sym)
        v = 0.0
        if i is not None and i < self.n:
            q = self.qty.item(i)
            if q:
                v = q * self.last.item(i)
                if v != v:
                    v = float(self.holdings[sym].cost)
        return v + self.pending.get(sym, 0.0) if self.pending else v


class RiskEngine:
    """Pre-trade checks and trading states for one account on one broker."""

    def __init__(
        self,
        rules: MarketRules,
        broker: Broker,
        journal: TradingJournal,
        limits: RiskLimits | None = None,
        *,
        ids: IdFactory | None = None,
        alert_ids: IdFactory | None = None,
    ) -> None:
        self.rules = rules
        self.broker = broker
        self.journal = journal
        self._limits = limits or RiskLimits()
        #: the broker's submit for requests checked here (the paper broker skips its own
        #: shape check: _check denied malformed requests already)
        self._submit = getattr(broker, "submit_checked", broker.submit)
        #: the paper broker's ledger and market view, read directly (None: another broker)
        self._ledger: Any = getattr(broker, "ledger", None)
        self._market: Any = getattr(broker, "market", None)
        self._max_value = float(self._limits.max_order_value)
        c = rules.costs
        self._fee_rates = (
            float(c.min_commission),
            float(c.commission_rate),
            float(c.transfer_fee_rate),
        )
        self._ids = ids or random_ids()
        self._alert_ids = alert_ids or random_ids()
        self._lock = threading.Lock()
        self.state = TradingState.ACTIVE
        self._admin_state = False
        self._accepted: deque[int] = deque()
        self.denials: Counter[str] = Counter()
        self.alerts: list[RiskAlert] = []
        self._listeners: list[AlertListener] = []
        self._day = -1
        self._day_start = 0.0
        self._peak = 0.0
        self._in_drawdown = False

    # -- limits and state ---------------------------------------------------------

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    def set_limits(self, now: int = 0, **changes: Any) -> RiskLimits:
        """Change limits at run time (validated; a bad value changes nothing)."""
        with self._lock:
            self._limits = self._limits.updated(**changes)
            self._max_value = float(self._limits.max_order_value)
        log.info("risk limits changed: %s", changes)
        return self._limits

    def set_state(self, state: TradingState, now: int, reason: str = "set by an admin") -> None:
        """Set the trading state by hand (it stays until changed by hand)."""
        self._admin_state = state is not TradingState.ACTIVE
        self._switch(TradingState(state), now, reason)

    def add_listener(self, listener: AlertListener) -> None:
        self._listeners.append(listener)

    def _switch(self, state: TradingState, now: int, reason: str) -> None:
        if state is self.state:
            return
        old, self.state = self.state, state
        self._alert(now, AlertKind.STATE, f"trading state {old.value} -> {state.value}: {reason}")

    def _alert(
        self, now: int, kind: AlertKind, message: str, symbol: str = "", oid: str = ""
    ) -> None:
        alert = RiskAlert(self._alert_ids(), now, kind, message, symbol, oid, self.state)
        self.alerts.append(alert)
        self.journal.save_alert(alert)
        for fn in self._listeners:
            fn(alert)

    # -- equity watch -------------------------------------------------------------

    def on_equity(self, now: int, equity: float, day: int | None = None) -> None:
        """Track the day's start, the peak and the daily loss; switch states, alert."""
        d = self.rules.day_of(now) if day is None else day
        if d != self._day:
            self._day = d
            self._day_start = equity
            if self.state is TradingState.REDUCING and not self._admin_state:
                self._switch(TradingState.ACTIVE, now, "a new trading day")
        if equity > self._peak:
            self._peak = equity
            self._in_drawdown = False
        lim = self._limits
        if self._day_start > 0 and self.state is _ACTIVE:
            loss = (self._day_start - equity) / self._day_start
            if loss >= lim.daily_loss_limit:
                self._alert(
                    now,
                    AlertKind.BREACH,
                    f"daily loss {loss:.2%} reached the limit {lim.daily_loss_limit:.2%}",
                )
                self._switch(TradingState.REDUCING, now, "daily loss limit")
        if self._peak > 0 and not self._in_drawdown:
            dd = (self._peak - equity) / self._peak
            if dd >= lim.drawdown_alert:
                self._in_drawdown = True
                self._alert(
                    now,
                    AlertKind.DRAWDOWN,
                    f"drawdown {dd:.2%} from the peak reached {lim.drawdown_alert:.2%}",
                )

    # -- the submit path ----------------------------------------------------------

    def exposure(self) -> Exposure:
        """The account valued at last prices, with the open orders' effect on exposure
        (fast path for the paper broker: its positions as an array beside the prices)."""
        broker = self.broker
        ledger, market = self._ledger, self._market
        qty = getattr(broker, "quantities", None) if ledger is not None else None
        if market is not None and qty is not None:
            return self._paper_exposure(ledger, market, qty)
        acct = broker.account()
        by_symbol = {p.symbol: float(p.market_value) for p in broker.positions() if p.quantity}
        return Exposure(
            float(acct.equity), sum(by_symbol.values()), float(acct.available_cash), by_symbol
        )

    def _paper_exposure(self, ledger: Any, market: Any, qty: Any) -> Exposure:
        last = market.last
        n = min(len(qty), len(last))
        held = qty[:n].nonzero()[0]
        positions = 0.0
        if len(held):
            values = qty[held] * last[held]
            total = _add_reduce(values)  # values.sum() without its Python wrapper
            if total != total:  # a NaN: a position never priced, valued at cost
                for j in np.isnan(values).nonzero()[0]:
                    values[j] = float(ledger.holdings[market.symbols[held[j]]].cost)
                total = _add_reduce(values)
            positions = float(total)
        # exposure after the open orders: resting buys add, resting sells take away
        pending: dict[str, float] = {}
        for o in self.broker._open.values():  # type: ignore[attr-defined]
            p = float(o.limit_price) if o.limit_price is not None else market.last_price(o.symbol)
            if p is None:
                continue
            signed = o.remaining * p * (1 if o.side is _BUY else -1)
            pending[o.symbol] = pending.get(o.symbol, 0.0) + signed
        return Exposure(
            float(ledger.cash) + positions,
            positions + sum(pending.values()) if pending else positions,
            float(ledger.available_cash),
            {},
            _PaperValues(ledger, market, qty, n, pending),
        )

    def submit(self, request: OrderRequest, now: int) -> Order:
        """Check one order; deny it (stored) or pass it to the broker."""
        return self.submit_many([request], now)[0]

    def submit_many(self, requests: Sequence[OrderRequest], now: int) -> list[Order]:
        """Check and place orders in turn (the account is valued once for all of them)."""
        out: list[Order] = []
        if not requests:
            return out
        exp = self.exposure()
        day = self.rules.day_of(now)
        self.on_equity(now, exp.equity, day)
        for req in requests:
            reason, value = self._check(req, now, day, exp)
            if reason is not None:
                out.append(self._deny(req, now, reason))
                continue
            order = self._submit(req, now)
            if order.status is not _REJECTED:
                self._accepted.append(now)
                # exposure after the order: buys add, sells take away (once they fill)
                if req.side is _BUY:
                    exp.add(req.symbol, value)
                    exp.available_cash -= value
                else:
                    exp.add(req.symbol, -value)
            out.append(order)
        return out

    def cancel(self, order_id: str, now: int) -> Order:
        """Cancels always pass, whatever the state."""
        return self.broker.cancel(order_id, now)

    def _deny(self, req: OrderRequest, now: int, reason: str) -> Order:
        oid = self._ids()
        order = req.to_order(oid, now).evolve(status=OrderStatus.DENIED, reason=reason)
        self.journal.save_order(order)
        self.denials[reason.split(":")[0]] += 1
        self._alert(now, AlertKind.DENIED, f"order denied: {reason}", req.symbol, oid)
        return order

    def _check(
        self, req: OrderRequest, now: int, day: int, exp: Exposure
    ) -> tuple[str | None, float]:
        state = self.state
        side = req.side
        if state is not _ACTIVE:
            if state is TradingState.HALTED:
                return "trading halted: cancels only", 0.0
            if side is _BUY:
                return "trading reducing: buys add exposure", 0.0
        err = req.shape_error()
        if err:
            return f"bad order: {err}", 0.0
        sym = req.symbol
        rules = self.rules
        if rules.permissions is not None:
            blocked = rules.permissions.blocked(sym)
            if blocked is not None:
                return f"not tradable: {blocked}", 0.0
        ledger = self._ledger
        # the position matters to the odd-lot rule of sells only
        held = ledger.quantity(sym) if ledger is not None and side is _SELL else 0
        err = rules.quantity_error(side, req.quantity, held)
        if err:
            return f"bad quantity: {err}", 0.0
        market = self._market
        limit = req.limit_price
        ask = None
        band = None
        if market is not None:  # the paper broker: read its market view directly
            last = market.last_price(sym)
            if last is not None:
                if limit is not None:
                    band = market.band(sym, day)
                else:
                    book = market.books.get(sym)
                    ask = book.asks[0][0] if book is not None and book.asks else None
        else:
            quote = self.broker.quote(sym)
            last = quote.last if quote is not None else None
            ask = quote.ask if quote is not None else None
        if last is None:
            return f"unknown symbol: no price for {sym!r}", 0.0
        if limit is not None and band is not None and not band.contains(limit):
            return (
                f"price outside the day's limits: {limit} not in [{band.low}, {band.high}]",
                0.0,
            )
        px = float(limit) if limit is not None else (ask or last)
        value = px * req.quantity
        lim = self._limits
        max_value = self._max_value
        if max_value > 0 and value > max_value:
            return f"order value: {value:,.2f} exceeds {lim.max_order_value:,.2f}", value
        per_minute = lim.max_orders_per_minute
        if per_minute > 0:
            accepted = self._accepted
            while accepted and accepted[0] <= now - _MINUTE:
                accepted.popleft()
            if len(accepted) >= per_minute:
                return f"orders per minute: {per_minute} reached", value
        if side is _SELL:
            if ledger is not None:
                sellable = ledger.sellable(sym, day)
            else:
                sellable = next(
                    (p.sellable_quantity for p in self.broker.positions() if p.symbol == sym),
                    0,
                )
            if req.quantity > sellable:
                return f"sellable quantity: {req.quantity} exceeds {sellable}", value
            return None, value
        eq = exp.equity
        if eq <= 0:
            return "equity: the account has none", value
        weight = (exp.symbol(sym) + value) / eq
        if weight > lim.max_position_weight + 1e-12:
            return (
                f"position weight: {weight:.2%} exceeds {lim.max_position_weight:.2%}",
                value,
            )
        gross = (exp.gross + value) / eq
        if gross > lim.max_gross_exposure + 1e-12:
            return f"gross exposure: {gross:.2%} exceeds {lim.max_gross_exposure:.2%}", value
        if value > 0:
            min_commission, rate, transfer = self._fee_rates
            # a buy's fees, estimated in floats (the broker books the exact ones)
            cost = value + (max(min_commission, rate * value) + transfer * value + 0.01)
        else:
            cost = 0.0
        if cost > exp.available_cash + 1e-9:
            return f"cash: needs {cost:,.2f}, available {exp.available_cash:,.2f}", value
        return None, value
