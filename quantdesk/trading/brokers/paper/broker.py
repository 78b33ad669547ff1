"""The paper broker: the platform's own simulated broker, crash-safe on a journal.

Crash safety (what a SIGKILL at any moment leaves behind is consistent):

1. An order is written (status ``new``) before it is acted on.
2. Its acceptance or rejection and any fills it gets at once are written in
   one transaction; so are all the fills one market event (book or bar)
   causes, with the orders they change.
3. Fill ids are ``<order id>-<n>`` (the order's n-th fill) and stored with
   insert-if-new, so a fill is never booked twice.
4. Cash and positions are never stored: at start the broker rebuilds its
   :class:`~quantdesk.trading.ledger.Ledger` from the stored fills, freezes
   again what the open orders froze, and acts on orders still ``new``. (A
   limit buy freezes ``remaining x limit + fees`` again exactly; a market
   buy's freeze is an estimate at the reference price of the moment, so after
   a restart it is estimated again at the first price that comes. Cash can
   never go negative either way: a buy fill is cut to what the cash pays for.)
5. A market event at or before the newest stored fill time of its symbol was
   processed before the crash and is ignored, so a replayed book or bar does
   not fill again.

If the journal cannot be written the error propagates: the broker's memory is
then ahead of the store and the process must restart (and rebuild).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from quantdesk.domain.messages import Bar, BookSnapshot
from quantdesk.domain.trading import (
    CENT,
    ZERO,
    Account,
    Fill,
    Order,
    OrderStatus,
    Position,
    Side,
    TimeInForce,
    money,
)
from quantdesk.errors import NotFoundError, OrderRejected, TradingError
from quantdesk.trading.brokers.base import Broker, BrokerUpdate, Listener, Quote
from quantdesk.trading.brokers.paper.matching import bar_price, book_levels
from quantdesk.trading.costs import Fees
from quantdesk.trading.journal import MemoryJournal, TradingJournal
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import MarketRules, rules_for
from quantdesk.trading.orders import IdFactory, OrderRequest, random_ids
from quantdesk.trading.quotes import MarketView

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

__all__ = ["PaperBroker"]

log = logging.getLogger("quantdesk.trading.paper")

F64 = npt.NDArray[np.float64]


class PaperBroker(Broker):
    """Fills orders against books (live) or bars (backtests) under the market's rules."""

    name = "paper"

    def __init__(
        self,
        rules: MarketRules,
        journal: TradingJournal | None = None,
        *,
        cash: Decimal = Decimal("1000000"),
        market: MarketView | None = None,
        ids: IdFactory | None = None,
        fill_volume_share: float = 0.25,
        slippage_ticks: int = 0,
        sessions: bool = True,
    ) -> None:
        self.rules = rules
        self.journal: TradingJournal = journal if journal is not None else MemoryJournal()
        self.market = market if market is not None else MarketView(rules)
        self._ids = ids or random_ids()
        self.fill_volume_share = fill_volume_share
        self.slippage_ticks = slippage_ticks
        self.sessions = sessions
        self._listeners: list[Listener] = []
        self._open: dict[str, Order] = {}
        self._by_symbol: dict[str, list[str]] = defaultdict(list)
        self._order_day: dict[str, int] = {}
        self._fill_count: dict[str, int] = defaultdict(int)
        self._seen: dict[str, int] = {}
        self._consumed: dict[str, tuple[int, list[float], list[float]]] = {}
        self._bar_used: dict[str, tuple[int, float]] = {}
        self._ref: dict[str, Decimal] = {}
        self.now = 0
        self._cost_key: tuple[int, Decimal, int] | None = None
        self._cost = ZERO
        self._fees_key: tuple[Side, int, Decimal, int, Decimal] | None = None
        self._fees_last = Fees(ZERO, ZERO, ZERO)
        self._checked: tuple[str, Decimal | None] = ("", None)
        #: trading day index -> its date (what rules.date_of_day reads)
        self._days = rules.calendar.days
        self._recover(money(cash))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        journal: TradingJournal | None = None,
        *,
        market: str | None = None,
        **kwargs: Any,
    ) -> PaperBroker:
        """A paper broker with the market rules, volume share and slippage of ``settings``."""
        rules = rules_for(market or settings.market, settings)
        kwargs.setdefault("fill_volume_share", settings.fill_volume_share)
        kwargs.setdefault("slippage_ticks", settings.slippage_ticks)
        return cls(rules, journal, **kwargs)

    # -- recovery -----------------------------------------------------------------

    def _recover(self, cash: Decimal) -> None:
        initial = self.journal.initial_cash(cash)
        fills = self.journal.load_fills()
        self.ledger = Ledger.rebuild(self.rules, initial, fills)
        self._qty = np.zeros(len(self.market.last))
        for sym, h in self.ledger.holdings.items():
            if h.quantity:
                self._shares(sym, h.quantity)
        for f in fills:
            self._fill_count[f.order_id] += 1
            if f.time > self._seen.get(f.symbol, -1):
                self._seen[f.symbol] = f.time
            self.now = max(self.now, f.time)
        for o in self.journal.load_orders(open_only=True):
            self.now = max(self.now, o.updated)
            if o.status is OrderStatus.NEW:
                self._act(o, o.created, recovering=True)
            else:
                self._track(o, self.rules.day_of(o.created))
        if fills:
            log.info(
                "paper account rebuilt from %d fills: cash %s, %d open orders",
                len(fills),
                self.ledger.cash,
                len(self._open),
            )

    # -- positions as an array ---------------------------------------------------------

    @property
    def quantities(self) -> F64:
        """Shares held per symbol, aligned with the market view's arrays (``market.index``):
        the risk engine and the backtester value the account with one dot product."""
        return self._qty

    def _shares(self, symbol: str, change: int) -> None:
        i = self.market.index.get(symbol)
        if i is None:
            i = self.market.add(symbol)
        if i >= len(self._qty):
            self._qty = np.r_[self._qty, np.zeros(len(self.market.last) - len(self._qty))]
        self._qty[i] += change

    # -- the broker interface -------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, updates: Sequence[BrokerUpdate]) -> None:
        # callers on the hot paths test ``self._listeners`` first (no list to build)
        for u in updates:
            for fn in self._listeners:
                fn(u)

    def account(self) -> Account:
        return self.ledger.account(self.market.prices())

    def positions(self, now: int | None = None) -> list[Position]:
        day = self.rules.day_of(now if now is not None else max(self.now, 1))
        return self.ledger.positions(self.market.prices(), day)

    def orders(self, open_only: bool = False) -> list[Order]:
        if open_only:
            return sorted(self._open.values(), key=lambda o: (o.created, o.id))
        return self.journal.load_orders()

    def fills(self, since: int | None = None) -> list[Fill]:
        return [f for f in self.journal.load_fills() if since is None or f.time >= since]

    def quote(self, symbol: str) -> Quote | None:
        return self.market.quote(symbol)

    def open_order(self, order_id: str) -> Order | None:
        return self._open.get(order_id)

    def submit(self, request: OrderRequest, now: int) -> Order:
        """Store the order, then accept (and maybe fill at once) or reject it."""
        err = request.shape_error()
        if err:
            raise OrderRejected(err)
        return self._place(request, now, False)

    def submit_checked(self, request: OrderRequest, now: int) -> Order:
        """:meth:`submit` on the risk engine's path: the request passed its checks a moment
        ago on this broker's own ledger and market view (shape, lots, known symbol, price
        limits, sellable quantity), so only what the risk engine does not check exactly
        is checked here (the tick, and the cash in exact money)."""
        return self._place(request, now, True)

    def _place(self, request: OrderRequest, now: int, checked: bool) -> Order:
        if request.client_order_id:
            existing = self.journal.find_client_order(request.client_order_id)
            if existing is not None:
                return self._open.get(existing.id, existing)
        if now > self.now:
            self.now = now
        oid = self._ids()
        order = _new(  # request.to_order(oid, now), inline
            Order,
            (
                oid,
                request.client_order_id or oid,
                request.symbol,
                request.side,
                request.type,
                request.quantity,
                request.limit_price,
                request.time_in_force,
                _NEW,
                "",  # reason
                now,  # created
                now,  # updated
                0,  # filled_quantity
                ZERO,  # filled_value
                ZERO,  # commission
            ),
        )
        self.journal.save_order(order)
        return self._act(order, now, checked=checked)

    def cancel(self, order_id: str, now: int, reason: str = "cancelled") -> Order:
        order = self._open.get(order_id)
        if order is None:
            try:
                stored = next(o for o in self.journal.load_orders() if o.id == order_id)
            except StopIteration:
                raise NotFoundError(f"no order {order_id!r}") from None
            raise TradingError(f"order {order_id} is not open (it is {stored.status.value})")
        done = self._close(order, OrderStatus.CANCELLED, reason, now)
        self.journal.save_order(done)
        self._emit([done])
        return done

    def expire_day_orders(self, now: int) -> list[Order]:
        """Cancel the open ``day`` orders whose trading day is over at ``now`` (the day's
        settlement; otherwise they expire at the next market event)."""
        day = self.rules.day_of(now)
        done = [
            self._close(o, OrderStatus.CANCELLED, _EXPIRED, now)
            for o in list(self._open.values())
            if o.time_in_force is TimeInForce.DAY and day > self._order_day[o.id]
        ]
        if done:
            self.journal.save_execution([], done)
            self._emit(done)
        return done

    def on_book(self, snapshot: BookSnapshot) -> list[Fill]:
        """Match the symbol's open orders against a book snapshot (walking its levels)."""
        self.market.on_book(snapshot)
        sym, ts = snapshot.symbol, snapshot.ts
        self.now = max(self.now, ts)
        ids = self._by_symbol.get(sym)
        if not ids or ts <= self._seen.get(sym, -1):
            return []
        if self.sessions and not self.rules.in_session(ts):
            return []
        day = self.rules.day_of(ts)
        fills: list[Fill] = []
        changed: list[Order] = []
        for oid in list(ids):
            order = self._open[oid]
            if order.side is Side.BUY and oid not in self._ref:
                self._refreeze(order)
            if order.created > ts:
                continue
            if self._expired(order, day):
                changed.append(self._close(order, OrderStatus.CANCELLED, _EXPIRED, ts))
                continue
            new = self._match_book(order, snapshot, ts, day)
            fills += new
            order = self._open.get(oid) or self._last_closed
            if order.time_in_force is TimeInForce.IOC and order.is_open:
                order = self._close(order, OrderStatus.CANCELLED, _IOC, ts)
            if new or not order.is_open:
                changed.append(order)
        self._commit(fills, changed, sym, ts)
        return fills

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Match the symbol's open orders against one bar (at its open)."""
        if not bar.final:
            return []
        day = self.rules.day_of(bar.time)
        self.market.on_price(bar.symbol, bar.time, bar.close, day)
        self.now = max(self.now, bar.time)
        ids = self._by_symbol.get(bar.symbol)
        if not ids:
            return []
        fills: list[Fill] = []
        changed: list[Order] = []
        in_session = not self.sessions or self.rules.in_session(bar.time)
        self._match_bar_orders(
            bar.symbol,
            list(ids),
            bar.time,
            day,
            bar.open,
            bar.high,
            bar.low,
            bar.volume,
            fills,
            changed,
            in_session,
        )
        self._commit(fills, changed, bar.symbol, bar.time)
        return fills

    def on_bars(
        self,
        t_ms: int,
        day: int,
        index: dict[str, int],
        open_: F64,
        high: F64,
        low: F64,
        volume: F64,
    ) -> list[Fill]:
        """One cross-section of bars (a backtest step): match every open order.

        ``index`` maps a symbol to its position in the arrays; a NaN open means
        the symbol has no bar at this step. Prices are *not* fed to the market
        view here (the backtester does that once per step, vectorised).
        """
        self.now = max(self.now, t_ms)
        if not self._open:
            return []
        # the whole cross-section is one market event: one transaction for its effects
        fills: list[Fill] = []
        changed: list[Order] = []
        touched: list[str] = []
        in_session = not self.sessions or self.rules.in_session(t_ms)
        by_symbol = self._by_symbol
        match = self._match_bar_orders
        for sym, ids in list(by_symbol.items()):
            i = index.get(sym, -1)
            o = open_.item(i) if i >= 0 else math.nan
            if o != o:  # no bar for the symbol at this step
                for oid in list(ids):
                    order = self._open[oid]
                    if self._expired(order, day):
                        changed.append(self._close(order, _CANCELLED, _EXPIRED, t_ms))
                continue
            n = len(fills)
            match(
                sym,
                ids.copy(),  # matching closes orders, which leave the list
                t_ms,
                day,
                o,
                high.item(i),
                low.item(i),
                volume.item(i),
                fills,
                changed,
                in_session,
            )
            if len(fills) > n:
                touched.append(sym)
        if fills or changed:
            self.journal.save_execution(fills, changed)
            seen = self._seen
            for sym in touched:
                seen[sym] = max(seen.get(sym, -1), t_ms)
            if self._listeners:
                self._emit([*changed, *fills])
        return fills

    # -- acting on an order -------------------------------------------------------------

    def _act(
        self, order: Order, now: int, *, recovering: bool = False, checked: bool = False
    ) -> Order:
        day = self.rules.day_of(now)
        reason = self._check(order, day, recovering, checked)
        if reason is not None:
            done = order.evolve(status=OrderStatus.REJECTED, reason=reason, updated=now)
            self.journal.save_order(done)
            self._emit([done])
            return done
        order = _new(  # order.evolve(status=ACCEPTED, updated=now), spelled out (hot)
            Order,
            (
                order.id,
                order.client_order_id,
                order.symbol,
                order.side,
                order.type,
                order.quantity,
                order.limit_price,
                order.time_in_force,
                _ACCEPTED,
                order.reason,
                order.created,
                now,
                order.filled_quantity,
                order.filled_value,
                order.commission,
            ),
        )
        self._track(order, day)
        fills: list[Fill] = []
        book = self.market.books.get(order.symbol)
        if book is not None and self.rules.day_of(book.ts) != day:
            book = None  # a book of an earlier day is no market to trade against
        if book is not None and (not self.sessions or self.rules.in_session(now)):
            fills = self._match_book(order, book, now, day)
        current = self._open.get(order.id) or self._last_closed
        if current.time_in_force is _IOC_TIF and current.is_open and book is not None:
            current = self._close(current, _CANCELLED, _IOC, now)
        self.journal.save_execution(fills, [current])
        if self._listeners:
            self._emit([current, *fills])
        return current

    def _check(self, order: Order, day: int, recovering: bool, checked: bool = False) -> str | None:
        """Why the broker rejects ``order`` (None: accepted). ``checked``: the risk engine
        checked the symbol, the lots, the price limits and the sellable quantity."""
        sym = order.symbol
        if not checked:
            if not self.market.known(sym) and not recovering:
                return f"unknown symbol {sym!r}: no price for it yet"
            held = self.ledger.quantity(sym)
            err = self.rules.quantity_error(order.side, order.quantity, held)
            if err:
                return err
        if order.limit_price is not None:
            if order.limit_price % self.rules.tick != 0:
                return f"limit price {order.limit_price} is not on the tick {self.rules.tick}"
            band = None if checked else self.market.band(sym, day)
            if band is not None and not band.contains(order.limit_price):
                return (
                    f"limit price {order.limit_price} outside the day's limits"
                    f" [{band.low}, {band.high}]"
                )
        if order.side is _SELL:
            if checked:
                return None
            sellable = self.ledger.sellable(sym, day)
            if order.quantity > sellable:
                return f"sell {order.quantity} {sym} exceeds the sellable quantity {sellable}"
            return None
        ref = self._reference_price(order)
        self._checked = (order.id, ref)  # _track takes it from here (the same moment)
        if ref is None:
            return None if recovering else f"unknown symbol {sym!r}: no price for it yet"
        need = self._buy_cost(order.quantity, ref, day)
        avail = self.ledger.available_cash
        if need > avail:
            return f"insufficient cash: the buy needs {need}, available {avail}"
        return None

    def _reference_price(self, order: Order) -> Decimal | None:
        if order.limit_price is not None:
            return order.limit_price
        book = self.market.books.get(order.symbol)
        if book is not None and book.asks:
            return self.rules.round_price(book.asks[0][0])
        last = self.market.last_price(order.symbol)
        return None if last is None else self.rules.round_price(last)

    def _buy_cost(self, quantity: int, price: Decimal, day: int) -> Decimal:
        """What buying ``quantity`` at ``price`` costs with its fees (the last one asked is
        remembered: a buy is costed when checked, then again when its cash is frozen)."""
        key = (quantity, price, day)
        if key == self._cost_key:
            return self._cost
        commission, stamp_duty, transfer_fee = self._fees(_BUY, quantity, price, day, ZERO)
        # money(price * quantity + fees.total), inline
        cost = (price * quantity + (commission + stamp_duty + transfer_fee)).quantize(
            CENT, ROUND_HALF_UP
        )
        self._cost_key, self._cost = key, cost
        return cost

    def _fees(self, side: Side, quantity: int, price: Decimal, day: int, before: Decimal) -> Fees:
        """The fees of a fill (remembered once: a buy's fill is costed when its quantity is
        decided, then booked with the same figures)."""
        key = (side, quantity, price, day, before)
        if key == self._fees_key:
            return self._fees_last
        fees = self.rules.costs.fill_fees(side, quantity, price, self._days[day], before)
        self._fees_key, self._fees_last = key, fees
        return fees

    def _track(self, order: Order, day: int) -> None:
        """Hold ``order`` open (an order of trading day ``day``) and freeze what it may
        use: a sell's shares, a buy's cost at its reference price (:meth:`_freeze`; a buy
        with no price known yet freezes nothing until one is)."""
        oid = order.id
        self._open[oid] = order
        self._by_symbol[order.symbol].append(oid)
        self._order_day[oid] = day
        if order.side is _SELL:
            self.ledger.freeze_shares(oid, order.symbol, order.remaining)
            return
        checked = self._checked
        ref = checked[1] if checked[0] == oid else self._reference_price(order)
        if ref is not None:
            self._ref[oid] = ref
            self.ledger.freeze_cash(oid, self._buy_cost(order.remaining, ref, day))

    def _freeze(self, order: Order) -> None:
        if order.side is _SELL:
            self.ledger.freeze_shares(order.id, order.symbol, order.remaining)
            return
        ref = self._ref.get(order.id)
        if ref is None:
            return
        day = self._order_day[order.id]
        self.ledger.freeze_cash(order.id, self._buy_cost(order.remaining, ref, day))

    def _refreeze(self, order: Order) -> None:
        """A buy recovered without a price to freeze cash at: freeze now that one is known."""
        ref = self._reference_price(order)
        if ref is not None:
            self._ref[order.id] = ref
            self._freeze(order)

    def _close(self, order: Order, status: OrderStatus, reason: str, now: int) -> Order:
        done = order.evolve(status=status, reason=reason, updated=max(now, order.updated))
        self._untrack(done)
        return done

    def _untrack(self, order: Order) -> None:
        oid = order.id
        self._open.pop(oid, None)
        ids = self._by_symbol.get(order.symbol)
        if ids is not None and oid in ids:
            if len(ids) == 1:
                del self._by_symbol[order.symbol]
            else:
                ids.remove(oid)
        self._order_day.pop(oid, None)
        self._ref.pop(oid, None)
        self.ledger.release(oid)
        self._last_closed = order

    def _expired(self, order: Order, day: int) -> bool:
        return order.time_in_force is TimeInForce.DAY and day > self._order_day[order.id]

    # -- fills --------------------------------------------------------------------------

    def _book_consumption(self, snapshot: BookSnapshot) -> tuple[list[float], list[float]]:
        key = self._consumed.get(snapshot.symbol)
        if key is None or key[0] != snapshot.ts:
            key = (snapshot.ts, [0.0] * len(snapshot.asks), [0.0] * len(snapshot.bids))
            self._consumed[snapshot.symbol] = key
        return key[1], key[2]

    def _match_book(self, order: Order, snapshot: BookSnapshot, now: int, day: int) -> list[Fill]:
        asks_used, bids_used = self._book_consumption(snapshot)
        buy = order.side is Side.BUY
        used = asks_used if buy else bids_used
        levels = book_levels(
            order.side,
            order.limit_price,
            snapshot.asks if buy else snapshot.bids,
            self.rules,
            self.market.band(order.symbol, day),
        )
        fills = []
        for i, px, size in levels:
            if not order.is_open:
                break
            q = self._fill_quantity(order, px, size - used[i], day)
            if q <= 0:
                continue  # less than a lot here (or no cash): try the next level
            used[i] += q
            fill = self._book_fill(order, now, day, px, q)
            fills.append(fill)
            order = self._open.get(order.id) or self._last_closed
        return fills

    def _match_bar_orders(
        self,
        sym: str,
        ids: list[str],
        t: int,
        day: int,
        o: float,
        h: float,
        lo: float,
        v: float,
        fills: list[Fill],
        changed: list[Order],
        in_session: bool,
    ) -> None:
        """Match the orders ``ids`` of ``sym`` against its bar at ``t``: their fills and the
        orders they change (filled, expired, cancelled) go to ``fills`` and ``changed``."""
        if t <= self._seen.get(sym, -1):
            return
        band = self.market.band_for_bar(sym, day, lo, h)
        open_orders = self._open
        bar_used = self._bar_used
        share = self.fill_volume_share
        rules = self.rules
        slippage = self.slippage_ticks
        for oid in ids:
            order = open_orders[oid]
            side = order.side
            if side is _BUY and oid not in self._ref:
                self._refreeze(order)
            if order.created > t:
                continue
            if order.time_in_force is _DAY and day > self._order_day[oid]:
                changed.append(self._close(order, _CANCELLED, _EXPIRED, t))
                continue
            if not in_session:
                continue
            px = bar_price(side, order.type, order.limit_price, o, h, lo, rules, band, slippage)
            fill = None
            if px is not None:
                # the bar's volume left to this symbol's orders (_bar_capacity, inline)
                used = bar_used.get(sym)
                if used is None or used[0] != t:
                    used = bar_used[sym] = (t, 0.0)
                cap = math.floor(share * v) - used[1] if v > 0 else 0.0
                q = self._fill_quantity(order, px, cap, day)
                if q > 0:
                    bar_used[sym] = (t, used[1] + q)
                    fill = self._book_fill(order, t, day, px, q)
            order = open_orders.get(oid) or self._last_closed
            if order.time_in_force is _IOC_TIF and order.status in _OPEN_STATUSES:
                order = self._close(order, _CANCELLED, _IOC, t)
            if fill is not None:
                changed.append(order)
                fills.append(fill)
            elif order.status not in _OPEN_STATUSES:
                changed.append(order)

    def _bar_capacity(self, sym: str, t: int, volume: float) -> float:
        used = self._bar_used.get(sym)
        if used is None or used[0] != t:
            used = self._bar_used[sym] = (t, 0.0)
        if not volume > 0:
            return 0.0
        return math.floor(self.fill_volume_share * volume) - used[1]

    def _fill_quantity(self, order: Order, px: Decimal, available: float, day: int) -> int:
        """Shares to fill now: at most ``available``, whole lots (a sell may end on its
        odd lot), and for a buy no more than the cash allows."""
        want = order.quantity - order.filled_quantity
        if available <= 0:
            return 0
        lot = self.rules.lot_size
        q = want
        if available < want:  # min(want, int(available)), then whole lots
            q = (int(available) // lot) * lot
        if order.side is _BUY and q > 0:
            ledger = self.ledger
            cash = ledger.cash - ledger.total_frozen_cash
            cash += ledger.frozen_cash.get(order.id, ZERO)
            while q > 0 and self._buy_cost(q, px, day) > cash:
                # shrink to what the cash pays for, in lots
                afford = int(cash / (px * Decimal("1.001"))) if px > 0 else 0
                q = min(q - lot, (afford // lot) * lot)
        return q if q > 0 else 0

    def _book_fill(self, order: Order, t: int, day: int, px: Decimal, q: int) -> Fill:
        oid, side = order.id, order.side
        commission, stamp_duty, transfer_fee = self._fees(side, q, px, day, order.filled_value)
        n = self._fill_count[oid] + 1
        self._fill_count[oid] = n
        fill = _new(  # by position, in Fill's field order (the hot path)
            Fill,
            (
                f"{oid}-{n}",  # id
                oid,  # order_id
                t,  # time
                order.symbol,  # symbol
                side,  # side
                q,  # quantity
                px,  # price
                commission,
                stamp_duty,
                transfer_fee,
            ),
        )
        self.ledger.apply(fill, day)
        change = q if side is _BUY else -q
        i = self.market.index.get(order.symbol)
        qty = self._qty
        if i is not None and i < len(qty):
            qty[i] = qty.item(i) + change
        else:
            self._shares(order.symbol, change)
        filled = order.filled_quantity + q
        status = _FILLED if filled >= order.quantity else _PARTIALLY_FILLED
        updated = _new(  # order.evolve(...) spelled out: the hottest line of a backtest
            Order,
            (
                order.id,
                order.client_order_id,
                order.symbol,
                order.side,
                order.type,
                order.quantity,
                order.limit_price,
                order.time_in_force,
                status,
                order.reason,
                order.created,
                t if t > order.updated else order.updated,
                filled,
                order.filled_value + px * q,
                order.commission + commission,
            ),
        )
        if status is _FILLED:
            self._untrack(updated)
        else:
            self._open[order.id] = updated
            self._freeze(updated)
        return fill

    def _commit(self, fills: list[Fill], changed: list[Order], sym: str, t: int) -> None:
        if not fills and not changed:
            return
        self.journal.save_execution(fills, changed)
        if fills:
            self._seen[sym] = max(self._seen.get(sym, -1), t)
        self._emit([*changed, *fills])

    _last_closed: Order


_EXPIRED = "expired: a day order not filled by the close of its day"
_IOC = "cancelled: immediate-or-cancel remainder"
#: ``tuple.__new__(Order, (every field in order))`` makes the same Order as ``Order(...)``
#: without the Python frame of a NamedTuple's ``__new__`` (the hot path makes four of
#: these per order; every field is given, so no default is missed)
_new = tuple.__new__
# enum members as module constants (a lookup on the enum class costs more, per use)
_BUY = Side.BUY
_SELL = Side.SELL
_NEW = OrderStatus.NEW
_ACCEPTED = OrderStatus.ACCEPTED
_DAY = TimeInForce.DAY
_IOC_TIF = TimeInForce.IOC
_CANCELLED = OrderStatus.CANCELLED
_FILLED = OrderStatus.FILLED
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_OPEN_STATUSES = frozenset(s for s in OrderStatus if s.is_open)
