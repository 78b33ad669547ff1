"""What a strategy or a person asks for: :class:`OrderRequest`, and order ids."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from quantdesk.domain.trading import Order, OrderStatus, OrderType, Side, TimeInForce

__all__ = ["IdFactory", "OrderRequest", "counter_ids", "random_ids"]

#: Makes a new order id.
IdFactory = Callable[[], str]


def random_ids() -> IdFactory:
    """Random 16-hex-digit ids (live trading: unique across restarts and processes)."""
    return lambda: uuid.uuid4().hex[:16]


def counter_ids(prefix: str = "o") -> IdFactory:
    """``o000001``, ``o000002`` ... (backtests: the same ids in every run)."""
    # a C-level callable (no Python frame per id): format(n) for n = 1, 2, ...
    template = prefix.replace("{", "{{").replace("}", "}}") + "{:06d}"
    return map(template.format, itertools.count(1)).__next__


class OrderRequest(NamedTuple):
    """An order to place. ``client_order_id`` makes a submit idempotent: submitting
    the same client order id again returns the order already placed.

    Immutable; a ``NamedTuple`` like :class:`~quantdesk.domain.trading.Order` (strategies
    make one per order). Build it by keyword or in the field order below.
    """

    symbol: str
    side: Side
    quantity: int
    type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str = ""

    def to_order(self, order_id: str, now: int) -> Order:
        return Order(
            order_id,
            self.client_order_id or order_id,
            self.symbol,
            self.side,
            self.type,
            self.quantity,
            self.limit_price,
            self.time_in_force,
            OrderStatus.NEW,
            "",
            now,
            now,
        )

    def shape_error(self) -> str | None:
        """Why the request is malformed regardless of any market (None if it is fine)."""
        q = self.quantity
        if (  # the usual market order, at once (what the checks below accept)
            type(q) is int
            and q > 0
            and self.limit_price is None
            and self.type is OrderType.MARKET
            and type(self.side) is Side
            and type(self.symbol) is str
            and self.symbol.strip()
        ):
            return None
        return self.shape_error_in_full()

    def shape_error_in_full(self) -> str | None:
        """:meth:`shape_error` without its shortcut for the usual market order (every
        check in turn; the same answer, tested)."""
        if not isinstance(self.symbol, str) or not self.symbol.strip():
            return "symbol must be a non-empty string"
        if not isinstance(self.side, Side):
            return f"side must be buy or sell (got {self.side!r})"
        if not isinstance(self.type, OrderType):
            return f"type must be market or limit (got {self.type!r})"
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            return f"quantity must be a whole number of shares (got {self.quantity!r})"
        if self.quantity <= 0:
            return f"quantity must be positive (got {self.quantity})"
        if self.type is OrderType.LIMIT:
            if self.limit_price is None:
                return "a limit order needs a limit price"
            if not isinstance(self.limit_price, Decimal) or not self.limit_price.is_finite():
                return f"limit price must be a finite decimal (got {self.limit_price!r})"
            if self.limit_price <= 0:
                return f"limit price must be positive (got {self.limit_price})"
        elif self.limit_price is not None:
            return "a market order takes no limit price"
        return None
