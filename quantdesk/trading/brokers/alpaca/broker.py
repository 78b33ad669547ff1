"""``alpaca``: Alpaca's paper (or live) trading API as a :class:`Broker`.

Orders, account and positions over REST; order and fill updates pushed from
the ``trade_updates`` stream to the listeners (started with the first
listener; after a reconnect the broker catches up from REST, so no event is
lost and none is handed out twice). Key and secret come from the environment
only (``QUANTDESK_ALPACA_KEY_ID``, ``QUANTDESK_ALPACA_SECRET_KEY``); the URLs
default to the paper endpoints.

Mapping: Alpaca's ``new``/``accepted``/``pending_*`` are ``accepted`` (open),
``partially_filled`` and ``filled`` as named, ``canceled``/``expired``/
``done_for_day``/``replaced`` are ``cancelled`` (the reason says which), and
``rejected`` is ``rejected``. A fill's id is the execution id (the stream's
``execution_id``; the part after ``::`` of a FILL activity id). US stocks are
commission-free at Alpaca: fills carry zero fees. Fractional quantities are
not supported (whole shares). An order Alpaca refuses (HTTP 4xx, e.g.
insufficient buying power) comes back ``rejected`` with Alpaca's message and
nothing placed; resubmitting a client order id returns the order placed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantdesk.domain.trading import (
    ZERO,
    Account,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    money,
)
from quantdesk.errors import NotFoundError, OrderRejected, TradingError
from quantdesk.trading.brokers.alpaca.rest import AlpacaError, AlpacaRest
from quantdesk.trading.brokers.alpaca.stream import TradeUpdates
from quantdesk.trading.brokers.base import Broker, BrokerUpdate, Listener, Quote
from quantdesk.trading.orders import OrderRequest

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

__all__ = ["AlpacaBroker"]

log = logging.getLogger("quantdesk.trading.alpaca")

_STATUS = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "pending_cancel": OrderStatus.ACCEPTED,
    "pending_replace": OrderStatus.ACCEPTED,
    "calculated": OrderStatus.ACCEPTED,
    "stopped": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "done_for_day": OrderStatus.CANCELLED,
    "replaced": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}


def _ms(ts: Any) -> int:
    if not ts:
        return 0
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        t = t.tz_localize("UTC")
    return int(t.value // 1_000_000)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _qty(value: Any) -> int:
    return int(Decimal(str(value))) if value not in (None, "") else 0


def order_from(d: dict[str, Any]) -> Order:
    """An Alpaca order document as an :class:`Order`."""
    raw_status = str(d.get("status", "new"))
    status = _STATUS.get(raw_status, OrderStatus.ACCEPTED)
    if status is OrderStatus.ACCEPTED and _qty(d.get("filled_qty")) > 0:
        status = OrderStatus.PARTIALLY_FILLED
    filled = _qty(d.get("filled_qty"))
    avg = d.get("filled_avg_price")
    kind = str(d.get("order_type") or d.get("type") or "market")
    tif = str(d.get("time_in_force", "day"))
    return Order(
        id=str(d["id"]),
        client_order_id=str(d.get("client_order_id") or d["id"]),
        symbol=str(d["symbol"]),
        side=Side(str(d["side"])),
        type=OrderType.LIMIT if kind == "limit" else OrderType.MARKET,
        quantity=_qty(d.get("qty")),
        limit_price=_dec(d["limit_price"]) if d.get("limit_price") else None,
        time_in_force=TimeInForce(tif) if tif in {"day", "gtc", "ioc"} else TimeInForce.DAY,
        status=status,
        reason=raw_status if status in (OrderStatus.CANCELLED, OrderStatus.REJECTED) else "",
        created=_ms(d.get("created_at") or d.get("submitted_at")),
        updated=_ms(d.get("updated_at") or d.get("created_at")),
        filled_quantity=filled,
        filled_value=(_dec(avg) * filled) if avg else ZERO,
    )


class AlpacaBroker(Broker):
    """Alpaca's trading API behind the broker interface."""

    name = "alpaca"

    def __init__(
        self,
        key_id: str,
        secret: str,
        *,
        base_url: str = "https://paper-api.alpaca.markets",
        data_url: str = "https://data.alpaca.markets",
        stream_url: str = "wss://paper-api.alpaca.markets/stream",
        timeout: float = 10.0,
    ) -> None:
        self.rest = AlpacaRest(
            key_id, secret, base_url=base_url, data_url=data_url, timeout=timeout
        )
        self._key, self._secret = key_id, secret
        self.stream_url = stream_url
        self._listeners: list[Listener] = []
        self._stream: TradeUpdates | None = None
        self._lock = threading.Lock()
        self._seen_fills: set[str] = set()
        self._versions: dict[str, tuple[int, str, int]] = {}
        self._connects = 0

    @classmethod
    def from_settings(cls, settings: Settings, journal: Any = None, **kwargs: Any) -> AlpacaBroker:
        return cls(
            settings.alpaca_key_id.get_secret_value(),
            settings.alpaca_secret_key.get_secret_value(),
            base_url=settings.alpaca_url,
            data_url=settings.alpaca_data_url,
            stream_url=settings.alpaca_stream_url,
        )

    # -- reads --------------------------------------------------------------------------

    def account(self) -> Account:
        d = self.rest.account()
        cash = money(_dec(d.get("cash")))
        equity = money(_dec(d.get("equity") or d.get("portfolio_value") or cash))
        buying = _dec(d.get("non_marginable_buying_power") or d.get("buying_power") or cash)
        frozen = money(max(ZERO, cash - buying)) if buying <= cash else ZERO
        return Account(
            cash=cash,
            frozen_cash=frozen,
            equity=equity,
            market_value=money(_dec(d.get("long_market_value") or (equity - cash))),
            currency=str(d.get("currency", "USD")),
        )

    def positions(self) -> list[Position]:
        out = []
        for p in self.rest.positions():
            qty = _qty(p.get("qty"))
            if qty <= 0:
                continue
            out.append(
                Position(
                    symbol=str(p["symbol"]),
                    quantity=qty,
                    sellable_quantity=_qty(p.get("qty_available", qty)),
                    average_cost=_dec(p.get("avg_entry_price")),
                    realised_pnl=ZERO,  # Alpaca reports no realised P&L per position
                    unrealised_pnl=money(_dec(p.get("unrealized_pl"))),
                    last_price=_dec(p["current_price"]) if p.get("current_price") else None,
                )
            )
        return sorted(out, key=lambda p: p.symbol)

    def orders(self, open_only: bool = False) -> list[Order]:
        return [order_from(d) for d in self.rest.orders("open" if open_only else "all")]

    def fills(self, since: int | None = None) -> list[Fill]:
        after = None
        if since is not None:
            after = pd.Timestamp(since, unit="ms", tz="UTC").isoformat()
        out = []
        for a in self.rest.fills(after):
            if str(a.get("activity_type", "FILL")) != "FILL":
                continue
            out.append(self._fill_from_activity(a))
        return [f for f in out if since is None or f.time >= since]

    def quote(self, symbol: str) -> Quote | None:
        try:
            d = self.rest.latest_quote(symbol)
        except NotFoundError:
            return None
        q = d.get("quote") or {}
        bid = float(q.get("bp") or 0) or None
        ask = float(q.get("ap") or 0) or None
        if bid is None and ask is None:
            return None
        last = (bid + ask) / 2 if bid is not None and ask is not None else (bid or ask)
        assert last is not None
        return Quote(symbol, _ms(q.get("t")), last, bid, ask)

    # -- orders -------------------------------------------------------------------------

    def submit(self, request: OrderRequest, now: int) -> Order:
        err = request.shape_error()
        if err:
            raise OrderRejected(err)
        body: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": str(request.quantity),
            "side": request.side.value,
            "type": request.type.value,
            "time_in_force": request.time_in_force.value,
        }
        if request.limit_price is not None:
            body["limit_price"] = str(request.limit_price)
        if request.client_order_id:
            body["client_order_id"] = request.client_order_id
        try:
            return order_from(self.rest.submit(body))
        except AlpacaError as exc:
            if request.client_order_id and "client_order_id" in str(exc):
                return order_from(self.rest.order_by_client_id(request.client_order_id))
            if exc.status >= 500:
                raise
            rejected = request.to_order(request.client_order_id or f"rejected-{now}", now)
            return rejected.evolve(status=OrderStatus.REJECTED, reason=str(exc))

    def cancel(self, order_id: str, now: int) -> Order:
        try:
            self.rest.cancel(order_id)
        except NotFoundError:
            raise NotFoundError(f"no order {order_id!r}") from None
        except AlpacaError as exc:
            if exc.status == 422:
                raise TradingError(f"order {order_id} is not open ({exc})") from None
            raise
        return order_from(self.rest.order(order_id))

    # -- updates ------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)
            if self._stream is None:
                self._stream = TradeUpdates(
                    self.stream_url, self._key, self._secret, self._on_event, self._on_connect
                )
                self._stream.start()

    def _emit(self, updates: Sequence[BrokerUpdate]) -> None:
        for u in updates:
            for fn in list(self._listeners):
                fn(u)

    def _fresh(self, order: Order) -> bool:
        version = (order.updated, order.status.value, order.filled_quantity)
        if self._versions.get(order.id) == version:
            return False
        self._versions[order.id] = version
        return True

    def _on_event(self, data: dict[str, Any]) -> None:
        doc = data.get("order")
        if not isinstance(doc, dict):
            return
        order = order_from(doc)
        updates: list[BrokerUpdate] = []
        with self._lock:
            if self._fresh(order):
                updates.append(order)
            if data.get("event") in ("fill", "partial_fill"):
                fid = str(data.get("execution_id") or f"{order.id}-{order.filled_quantity}")
                if fid not in self._seen_fills:
                    self._seen_fills.add(fid)
                    updates.append(
                        Fill(
                            id=fid,
                            order_id=order.id,
                            time=_ms(data.get("timestamp")),
                            symbol=order.symbol,
                            side=order.side,
                            quantity=_qty(data.get("qty")),
                            price=_dec(data.get("price")),
                        )
                    )
        self._emit(updates)

    def _on_connect(self) -> None:
        self._connects += 1
        if self._connects > 1:  # a reconnect: catch up what the stream missed
            try:
                self.poll(0)
            except Exception as exc:  # the stream keeps running; the next reconnect retries
                log.warning("alpaca: catching up after a reconnect failed (%s)", exc)

    def _fill_from_activity(self, a: dict[str, Any]) -> Fill:
        fid = str(a.get("id", "")).split("::")[-1]
        return Fill(
            id=fid,
            order_id=str(a.get("order_id", "")),
            time=_ms(a.get("transaction_time")),
            symbol=str(a["symbol"]),
            side=Side(str(a["side"]).replace("sell_short", "sell")),
            quantity=_qty(a.get("qty")),
            price=_dec(a.get("price")),
        )

    def poll(self, now: int) -> None:
        """Fetch orders and fills from REST and hand the ones not yet seen to the listeners."""
        updates: list[BrokerUpdate] = []
        orders = [order_from(d) for d in self.rest.orders("all")]
        fills = [self._fill_from_activity(a) for a in self.rest.fills()]
        with self._lock:
            updates += [o for o in orders if self._fresh(o)]
            for f in fills:
                if f.id not in self._seen_fills:
                    self._seen_fills.add(f.id)
                    updates.append(f)
        self._emit(updates)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self.rest.close()
