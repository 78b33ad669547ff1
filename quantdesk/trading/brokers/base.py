"""The broker interface (seed B's data/broker service): quotes, account, orders.

Swapping a broker is implementing this class and registering it::

    from quantdesk.trading.brokers import BROKERS
    BROKERS.register("mybroker", "mypkg.broker:MyBroker")   # QUANTDESK_BROKER=mybroker

=============================  ========  ===================================================
method                         required  what it does
=============================  ========  ===================================================
``account()``                  yes       :class:`Account`: cash, frozen cash, equity
``positions()``                yes       open :class:`Position` list (quantity, sellable)
``orders(open_only)``          yes       :class:`Order` list, oldest first
``fills(since)``               yes       :class:`Fill` list with ``time >= since``
``submit(request, now)``       yes       place an :class:`OrderRequest`; return the
                                         :class:`Order` (accepted, rejected or already
                                         filled). Same ``client_order_id`` twice: the
                                         first order, nothing placed again
``cancel(order_id, now)``      yes       cancel an open order; return it
``quote(symbol)``              yes       latest :class:`Quote` (last, bid, ask) or None
``add_listener(fn)``           yes       ``fn(update)`` for every order change and fill
                                         (push); brokers that only poll call it from
                                         :meth:`poll`
``poll(now)``                  optional  fetch updates from a remote broker (default:
                                         nothing to do)
``on_book(snapshot)``          optional  market data for a simulated broker: match
``on_bar(bar)``                optional  open orders against a book or a bar (default:
                                         ignored; a real broker matches on its side)
``close()``                    optional  release connections (default: nothing)
=============================  ========  ===================================================

Times are epoch ms UTC. Money and prices are :class:`decimal.Decimal`
(:mod:`quantdesk.domain.trading`). Implementations:

======  ==============================================================================
paper   :class:`quantdesk.trading.brokers.paper.PaperBroker`: the platform's own
        simulated broker (market rules, fees, T+1), crash-safe on a journal
alpaca  :class:`quantdesk.trading.brokers.alpaca.AlpacaBroker`: Alpaca's paper trading
        API (REST orders, account, positions; the ``trade_updates`` stream)
======  ==============================================================================

Every implementation has ``from_settings(settings, journal=None)``, the
constructor the runtime calls for ``QUANTDESK_BROKER``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from quantdesk.domain.messages import Bar, BookSnapshot
from quantdesk.domain.trading import Account, Fill, Order, Position
from quantdesk.trading.orders import OrderRequest

__all__ = ["Broker", "BrokerUpdate", "Listener", "Quote"]

BrokerUpdate = Order | Fill
Listener = Callable[[BrokerUpdate], None]


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest price of a symbol: ``last`` trade or bar close, best ``bid``/``ask``."""

    symbol: str
    time: int
    last: float
    bid: float | None = None
    ask: float | None = None


class Broker(abc.ABC):
    """A place where orders are filled; see the module docstring for the contract."""

    name: str = ""

    @abc.abstractmethod
    def account(self) -> Account: ...

    @abc.abstractmethod
    def positions(self) -> list[Position]: ...

    @abc.abstractmethod
    def orders(self, open_only: bool = False) -> list[Order]: ...

    @abc.abstractmethod
    def fills(self, since: int | None = None) -> list[Fill]: ...

    @abc.abstractmethod
    def submit(self, request: OrderRequest, now: int) -> Order: ...

    @abc.abstractmethod
    def cancel(self, order_id: str, now: int) -> Order: ...

    @abc.abstractmethod
    def quote(self, symbol: str) -> Quote | None: ...

    @abc.abstractmethod
    def add_listener(self, listener: Listener) -> None: ...

    def poll(self, now: int) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Fetch order and fill updates from a remote broker (push brokers: nothing)."""

    def on_book(self, snapshot: BookSnapshot) -> list[Fill]:
        """Market data for a simulated broker; a real broker ignores it."""
        return []

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Market data for a simulated broker; a real broker ignores it."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
