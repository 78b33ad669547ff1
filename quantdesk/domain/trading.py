"""Trading value types: orders, fills, positions, the account and risk alerts.

Money is exact. Every amount of money (cash, fees, P&L) is a
:class:`decimal.Decimal` with two decimal places (fen / cents, :data:`CENT`);
every price is a ``Decimal`` on the market's tick (0.01 for A-shares and US
stocks above $1; :data:`PRICE_QUANTUM` = 0.0001 is the finest we store).
Quantities are whole shares (``int``). Floats appear only in valuations that
are never booked (an equity curve, a weight) and in market data messages.
Why ``Decimal`` and not integer fen: the types are read by people and by the
API, where ``Decimal("12.34")`` is what it says; the arithmetic on the trading
path (a handful of operations per fill) costs microseconds either way, and
storage keeps exact integers (:mod:`quantdesk.storage.trading` stores money
as BIGINT cents and prices as BIGINT 1/10,000ths).

Rounding: :func:`money` rounds half up to the cent, as A-share brokers round
each fee (see :mod:`quantdesk.trading.costs`).

Times are epoch milliseconds UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final, NamedTuple

__all__ = [
    "CENT",
    "PRICE_QUANTUM",
    "ZERO",
    "Account",
    "AlertKind",
    "Fill",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "RiskAlert",
    "Side",
    "TimeInForce",
    "TradingState",
    "money",
    "price",
]

CENT: Final = Decimal("0.01")
PRICE_QUANTUM: Final = Decimal("0.0001")
ZERO: Final = Decimal("0.00")


def money(value: Decimal | int | float | str) -> Decimal:
    """``value`` rounded half up to the cent (floats go through their shortest repr)."""
    if type(value) is Decimal:
        return value.quantize(CENT, ROUND_HALF_UP)
    d = (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )
    return d.quantize(CENT, ROUND_HALF_UP)


def price(value: Decimal | int | float | str, tick: Decimal = CENT) -> Decimal:
    """``value`` rounded half up to ``tick`` (floats go through their shortest repr)."""
    d = (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )
    return (d / tick).quantize(Decimal(1), ROUND_HALF_UP) * tick


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class TimeInForce(StrEnum):
    """``day``: cancelled at the trading day's close; ``gtc``: until filled or
    cancelled; ``ioc``: what does not fill at once (on the next book or bar) is cancelled."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"


class OrderStatus(StrEnum):
    NEW = "new"  # stored, not yet acted on by the broker
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # refused by the broker (market rules)
    DENIED = "denied"  # refused by the risk engine before reaching the broker

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_OPEN: Final = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


class TradingState(StrEnum):
    """NautilusTrader's three states: ``active``; ``reducing`` (nothing that adds
    exposure: sells only, for a long-only account); ``halted`` (cancels only)."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class AlertKind(StrEnum):
    BREACH = "breach"  # a limit was breached (e.g. the daily loss limit)
    DRAWDOWN = "drawdown"
    DENIED = "denied"  # an order was denied
    STATE = "state"  # the trading state changed


class Order(NamedTuple):
    """An order and its current state (a new version replaces the old: :meth:`evolve`).

    ``quantity`` in shares (> 0); ``limit_price`` only for limit orders;
    ``filled_quantity`` and ``filled_value`` (sum of price x quantity of its fills,
    exact) grow with fills; ``reason`` says why it was rejected, denied or
    cancelled. ``created``/``updated`` are epoch ms UTC.

    Immutable. *Decision:* a ``NamedTuple`` rather than a frozen dataclass, because
    the paper broker makes three versions of every order and a fill on its hot path
    (a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``:
    ten times the cost of a tuple, a third of a backtest's time per order). Build
    and read it as a dataclass (by keyword, by attribute); never by position.
    """

    id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: int
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    status: OrderStatus = OrderStatus.NEW
    reason: str = ""
    created: int = 0
    updated: int = 0
    filled_quantity: int = 0
    filled_value: Decimal = ZERO
    commission: Decimal = ZERO

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def average_price(self) -> Decimal | None:
        if not self.filled_quantity:
            return None
        return (self.filled_value / self.filled_quantity).quantize(PRICE_QUANTUM, ROUND_HALF_UP)

    def evolve(self, **changes: Any) -> Order:
        """A copy with ``changes`` applied (what ``dataclasses.replace`` does, faster:
        the paper broker makes two or three versions of every order)."""
        unknown = changes.keys() - _ORDER_FIELD_SET
        if unknown:
            raise TypeError(f"Order has no field(s) {', '.join(sorted(unknown))}")
        g = changes.get
        return Order(
            g("id", self.id),
            g("client_order_id", self.client_order_id),
            g("symbol", self.symbol),
            g("side", self.side),
            g("type", self.type),
            g("quantity", self.quantity),
            g("limit_price", self.limit_price),
            g("time_in_force", self.time_in_force),
            g("status", self.status),
            g("reason", self.reason),
            g("created", self.created),
            g("updated", self.updated),
            g("filled_quantity", self.filled_quantity),
            g("filled_value", self.filled_value),
            g("commission", self.commission),
        )


_ORDER_FIELD_SET: Final = frozenset(Order._fields)


class Fill(NamedTuple):
    """One execution of (part of) an order; ``id`` makes it idempotent.

    Immutable; a ``NamedTuple`` for the reason given under :class:`Order`.
    """

    id: str
    order_id: str
    time: int
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal = ZERO
    stamp_duty: Decimal = ZERO
    transfer_fee: Decimal = ZERO

    @property
    def value(self) -> Decimal:
        """price x quantity, exact."""
        return self.price * self.quantity

    @property
    def fees(self) -> Decimal:
        return self.commission + self.stamp_duty + self.transfer_fee

    @property
    def cash_flow(self) -> Decimal:
        """What the fill does to cash: buys pay value + fees, sells get value - fees."""
        if self.side is Side.BUY:
            return -(self.value + self.fees)
        return self.value - self.fees


@dataclass(frozen=True, slots=True)
class Position:
    """A holding. ``sellable_quantity`` is what may be sold now (T+1, open sells).

    ``average_cost`` includes the buy fees (cost basis / quantity);
    ``realised_pnl`` is net of every fee; ``unrealised_pnl`` is
    quantity x last price - cost basis.
    """

    symbol: str
    quantity: int
    sellable_quantity: int
    average_cost: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    last_price: Decimal | None = None

    @property
    def market_value(self) -> Decimal:
        return money((self.last_price or self.average_cost) * self.quantity)


@dataclass(frozen=True, slots=True)
class Account:
    """Cash, cash frozen by open buy orders, and equity (cash + positions at last prices)."""

    cash: Decimal
    frozen_cash: Decimal
    equity: Decimal
    market_value: Decimal = ZERO
    currency: str = "CNY"

    @property
    def available_cash(self) -> Decimal:
        return self.cash - self.frozen_cash


@dataclass(frozen=True, slots=True)
class RiskAlert:
    """A stored, published risk event: a breach, a drawdown, a denial, a state change."""

    id: str
    time: int
    kind: AlertKind
    message: str
    symbol: str = ""
    order_id: str = ""
    state: TradingState = TradingState.ACTIVE
