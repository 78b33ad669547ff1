"""The live desk's account at a remote broker (``QUANTDESK_BROKER=alpaca`` ...).

:class:`RoutedAccount` is what :class:`~quantdesk.trading.desk.TradingDesk`
trades through when the broker is not the platform's own paper broker: the
same strategy and risk engine, but every order is routed to the remote broker
(:class:`~quantdesk.trading.brokers.base.Broker`, e.g.
:class:`~quantdesk.trading.brokers.alpaca.AlpacaBroker`), which fills it on its
side; its order and fill updates come back to the desk's listeners.

Crash safety, as the paper broker's:

1. An order is stored (``new``) in the journal before it is sent, under its own
   id; that id is the order's ``client_order_id`` at the remote broker, so
   sending it again after a crash places nothing twice (the broker answers with
   the order it already has).
2. Fills are stored insert-if-new by the remote broker's execution id and
   booked in the local :class:`~quantdesk.trading.ledger.Ledger` once (its
   ``applied`` set): a fill seen on the stream and again in a catch-up is booked
   once.
3. At start the ledger is rebuilt from the stored fills, orders still ``new``
   are sent again (same client order id), and the broker's orders and fills
   are fetched (:meth:`Broker.poll`): what filled while the process was down is
   booked now.

The account and positions shown are the remote broker's (its figures are the
truth); the local ledger is what the strategy and the risk engine's quantity
checks read (cash from the broker's account at the first start, then the
desk's own fills: fills of orders this desk did not place are not booked).
Remote updates arrive on the broker's own thread and are applied under
:attr:`lock`, the desk's lock.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

from quantdesk.domain.trading import Account, Fill, Order, OrderStatus, Position, money
from quantdesk.errors import NotFoundError, OrderRejected, TradingError
from quantdesk.trading.brokers.base import Broker, BrokerUpdate, Listener, Quote
from quantdesk.trading.journal import TradingJournal
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import IdFactory, OrderRequest, random_ids
from quantdesk.trading.quotes import MarketView

__all__ = ["RoutedAccount"]

log = logging.getLogger("quantdesk.trading.routed")


class RoutedAccount(Broker):
    """Orders routed to ``remote``; its fills booked in a local ledger and journal."""

    def __init__(
        self,
        remote: Broker,
        rules: MarketRules,
        journal: TradingJournal,
        *,
        market: MarketView | None = None,
        ids: IdFactory | None = None,
        cash: Decimal | None = None,
    ) -> None:
        self.remote = remote
        self.name = remote.name
        self.rules = rules
        self.journal = journal
        self.market = market if market is not None else MarketView(rules)
        self._ids = ids or random_ids()
        #: the desk's lock: remote updates are applied under it
        self.lock = threading.RLock()
        self.now = 0
        self._listeners: list[Listener] = []
        self._orders: dict[str, Order] = {}  # every order of this account, by local id
        self._open: dict[str, Order] = {}
        self._remote_id: dict[str, str] = {}  # local id -> remote id
        self._local_id: dict[str, str] = {}  # remote id -> local id
        with self.lock:
            self._recover(cash)
        remote.add_listener(self._on_remote)
        remote.poll(self.now)  # catch up: what changed while the process was down

    # -- recovery -----------------------------------------------------------------

    def _recover(self, cash: Decimal | None) -> None:
        default = cash if cash is not None else money(self.remote.account().cash)
        initial = self.journal.initial_cash(default)
        fills = self.journal.load_fills()
        self.ledger = Ledger.rebuild(self.rules, initial, fills)
        for f in fills:
            self.now = max(self.now, f.time)
        for o in self.journal.load_orders():
            self._orders[o.id] = o
            self.now = max(self.now, o.updated)
        for o in list(self._orders.values()):
            if o.status is OrderStatus.NEW:
                self._send(o, o.created)  # stored, maybe never sent: send (idempotent)
            elif o.is_open:
                self._open[o.id] = o

    # -- the broker interface -------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, updates: list[BrokerUpdate]) -> None:
        for u in updates:
            for fn in self._listeners:
                fn(u)

    def account(self) -> Account:
        return self.remote.account()

    def positions(self, now: int | None = None) -> list[Position]:
        return self.remote.positions()

    def orders(self, open_only: bool = False) -> list[Order]:
        with self.lock:
            if open_only:
                return sorted(self._open.values(), key=lambda o: (o.created, o.id))
        return self.journal.load_orders()

    def fills(self, since: int | None = None) -> list[Fill]:
        return [f for f in self.journal.load_fills() if since is None or f.time >= since]

    def quote(self, symbol: str) -> Quote | None:
        return self.market.quote(symbol) or self.remote.quote(symbol)

    def submit(self, request: OrderRequest, now: int) -> Order:
        """Store the order, then send it; the answer (accepted, rejected or already
        filled) is stored and handed to the listeners."""
        err = request.shape_error()
        if err:
            raise OrderRejected(err)
        with self.lock:
            if request.client_order_id:
                known = self.journal.find_client_order(request.client_order_id)
                if known is not None:
                    return self._orders.get(known.id, known)
            self.now = max(self.now, now)
            oid = self._ids()
            order = request.to_order(oid, now)
            self.journal.save_order(order)
            self._orders[oid] = order
            return self._send(order, now)

    def _send(self, order: Order, now: int) -> Order:
        request = OrderRequest(
            order.symbol,
            order.side,
            order.quantity,
            order.type,
            order.limit_price,
            order.time_in_force,
            order.id,  # the local id is the remote client order id: resending is idempotent
        )
        answer = self.remote.submit(request, now)
        if answer.status is OrderStatus.REJECTED:
            done = order.evolve(status=OrderStatus.REJECTED, reason=answer.reason, updated=now)
            self._store(done)
            self._emit([done])
            return done
        self._remote_id[order.id] = answer.id
        self._local_id[answer.id] = order.id
        current = self._merge(order, answer, now)
        self._store(current)
        self._emit([current])
        return current

    def cancel(self, order_id: str, now: int, reason: str = "cancelled") -> Order:
        with self.lock:
            order = self._open.get(order_id)
            if order is None:
                stored = self._orders.get(order_id)
                if stored is None:
                    raise NotFoundError(f"no order {order_id!r}")
                raise TradingError(f"order {order_id} is not open (it is {stored.status.value})")
            answer = self.remote.cancel(self._remote_id.get(order_id, order_id), now)
            current = self._merge(order, answer, now)
            self._store(current)
        self._emit([current])
        return current

    def expire_day_orders(self, now: int) -> list[Order]:
        """Nothing to do here: the remote broker expires its day orders (the update comes)."""
        return []

    def on_bars(self, *args: object, **kwargs: object) -> list[Fill]:
        """Bars never fill here: the remote broker fills on its own market."""
        return []

    def poll(self, now: int) -> None:
        self.remote.poll(now)

    def close(self) -> None:
        self.remote.close()

    # -- remote updates ------------------------------------------------------------

    def _merge(self, local: Order, remote: Order, now: int) -> Order:
        """The local order with the remote one's status and fills (ids stay local)."""
        return local._replace(
            status=remote.status,
            reason=remote.reason,
            updated=max(local.updated, remote.updated or now),
            filled_quantity=remote.filled_quantity,
            filled_value=remote.filled_value,
        )

    def _store(self, order: Order) -> None:
        self.journal.save_order(order)
        self._orders[order.id] = order
        if order.is_open:
            self._open[order.id] = order
        else:
            self._open.pop(order.id, None)

    def _on_remote(self, update: BrokerUpdate) -> None:
        out: list[BrokerUpdate] = []
        with self.lock:
            if isinstance(update, Fill):
                fill = self._book(update)
                if fill is not None:
                    out.append(fill)
            else:
                local_id = self._local_id.get(update.id) or update.client_order_id
                local = self._orders.get(local_id)
                if local is None:
                    return  # an order this desk did not place
                self._remote_id[local_id] = update.id
                self._local_id[update.id] = local_id
                if not local.is_open or update.filled_quantity < local.filled_quantity:
                    return  # an older version (a catch-up racing the stream): keep the newer
                current = self._merge(local, update, update.updated)
                if current != local:
                    self._store(current)
                    out.append(current)
            self._emit(out)

    def _book(self, fill: Fill) -> Fill | None:
        local_id = self._local_id.get(fill.order_id)
        if local_id is None:
            log.debug("fill %s of an order this desk did not place: not booked", fill.id)
            return None
        if fill.id in self.ledger.applied:
            return None
        fill = fill._replace(order_id=local_id)
        try:
            self.ledger.apply(fill)
        except TradingError as exc:  # the remote account had cash or shares we did not
            log.warning(
                "fill %s not booked (the broker's account stays the truth): %s", fill.id, exc
            )
            return None
        self.journal.save_execution([fill], [])  # insert-if-new by fill id
        self.now = max(self.now, fill.time)
        return fill

    # -- for the desk ----------------------------------------------------------------

    @property
    def open_count(self) -> int:
        return len(self._open)
