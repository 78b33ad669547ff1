"""The account as a ledger: cash and positions are what the fills say.

The ledger starts from an initial cash amount and applies fills, each once
(by fill id): a buy pays ``value + fees`` and adds shares (not sellable until
the settlement day: T+1 on A-shares), a sell receives ``value - fees`` at
once (cash from a sale is usable the same day). Replaying the same fills
rebuilds the same account exactly (:meth:`Ledger.rebuild`): nothing about
cash or positions is stored apart from the fills.

Open orders hold *freezes* (vn.py's paper account does the same): a buy
freezes the cash it may cost, a sell freezes the shares it may sell; a fill,
a cancel or a rejection changes or frees them. Freezes are not booked: after
a restart they come back from the open orders.

Cost basis includes the buy fees, so ``realised + unrealised P&L`` of all
positions equals ``equity - initial cash`` to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from quantdesk.domain.trading import CENT, ZERO, Account, Fill, Position, Side, money
from quantdesk.errors import TradingError
from quantdesk.trading.market import MarketRules

__all__ = ["Holding", "Ledger"]

_BUY = Side.BUY  # an enum member as a constant (cheaper per use)


@dataclass(slots=True)
class Holding:
    """One symbol's shares. ``bought_qty`` shares were bought on trading day ``bought_day``."""

    quantity: int = 0
    cost: Decimal = ZERO
    realised: Decimal = ZERO
    bought_day: int = -1
    bought_qty: int = 0
    frozen: int = 0

    def unsettled(self, day: int, settlement_days: int) -> int:
        if settlement_days <= 0 or self.bought_day < 0:
            return 0
        return self.bought_qty if day < self.bought_day + settlement_days else 0


class Ledger:
    """Cash and holdings of one account, from its fills."""

    def __init__(self, rules: MarketRules, initial_cash: Decimal) -> None:
        if initial_cash < 0:
            raise TradingError(f"initial cash must be >= 0 (got {initial_cash})")
        self.rules = rules
        self.initial_cash = money(initial_cash)
        self.cash = self.initial_cash
        self.holdings: dict[str, Holding] = {}
        self.applied: set[str] = set()
        self.frozen_cash: dict[str, Decimal] = {}
        self._frozen_total = ZERO
        self._frozen_sell: dict[str, tuple[str, int]] = {}
        self.fees_paid = ZERO

    # -- fills ------------------------------------------------------------------

    def apply(self, fill: Fill, day: int | None = None) -> bool:
        """Book ``fill`` unless it was booked before; True when booked now.

        ``day`` is the fill's trading day index (computed from its time if None).
        Raises :class:`TradingError` (nothing booked) when the fill would sell
        more shares than held or leave cash negative.
        """
        if fill.id in self.applied:
            return False
        if fill.quantity <= 0:
            raise TradingError(f"fill {fill.id}: quantity must be positive (got {fill.quantity})")
        h = self.holdings.get(fill.symbol)
        if h is None:
            h = self.holdings[fill.symbol] = Holding()
        value = fill.price * fill.quantity
        fees = fill.commission + fill.stamp_duty + fill.transfer_fee
        if fill.side is _BUY:
            cost = (value + fees).quantize(CENT, ROUND_HALF_UP)
            if cost > self.cash:
                raise TradingError(
                    f"fill {fill.id}: costs {cost} but cash is {self.cash} (cash never negative)"
                )
            d = self.rules.day_of(fill.time) if day is None else day
            self.cash -= cost
            h.quantity += fill.quantity
            h.cost += cost
            if d != h.bought_day:
                h.bought_day, h.bought_qty = d, 0
            h.bought_qty += fill.quantity
        else:
            if fill.quantity > h.quantity:
                raise TradingError(
                    f"fill {fill.id}: sells {fill.quantity} {fill.symbol} but {h.quantity} held"
                )
            proceeds = (value - fees).quantize(CENT, ROUND_HALF_UP)
            released = (
                h.cost
                if fill.quantity == h.quantity
                else money(h.cost * fill.quantity / h.quantity)
            )
            self.cash += proceeds
            h.realised += proceeds - released
            h.cost -= released
            h.quantity -= fill.quantity
        self.fees_paid += fees
        self.applied.add(fill.id)
        return True

    @classmethod
    def rebuild(cls, rules: MarketRules, initial_cash: Decimal, fills: Iterable[Fill]) -> Ledger:
        """A ledger from ``fills`` (applied in time order, ties by id)."""
        ledger = cls(rules, initial_cash)
        for f in sorted(fills, key=lambda f: (f.time, f.id)):
            ledger.apply(f)
        return ledger

    # -- freezes ----------------------------------------------------------------

    def freeze_cash(self, order_id: str, amount: Decimal) -> None:
        """Set the cash frozen by an open buy order (0 frees it)."""
        old = self.frozen_cash.pop(order_id, ZERO)
        self._frozen_total -= old
        if amount > 0:
            self.frozen_cash[order_id] = amount
            self._frozen_total += amount

    def freeze_shares(self, order_id: str, symbol: str, quantity: int) -> None:
        """Set the shares frozen by an open sell order (0 frees them)."""
        old = self._frozen_sell.pop(order_id, None)
        if old is not None:
            self.holdings[old[0]].frozen -= old[1]
        if quantity > 0:
            h = self.holdings.get(symbol)
            if h is None:
                h = self.holdings[symbol] = Holding()
            h.frozen += quantity
            self._frozen_sell[order_id] = (symbol, quantity)

    def release(self, order_id: str) -> None:
        """Free everything an order froze (it filled, was cancelled or rejected)."""
        self._frozen_total -= self.frozen_cash.pop(order_id, ZERO)
        old = self._frozen_sell.pop(order_id, None)
        if old is not None:
            self.holdings[old[0]].frozen -= old[1]

    # -- views ------------------------------------------------------------------

    @property
    def total_frozen_cash(self) -> Decimal:
        return self._frozen_total

    @property
    def available_cash(self) -> Decimal:
        return self.cash - self.total_frozen_cash

    def quantity(self, symbol: str) -> int:
        h = self.holdings.get(symbol)
        return h.quantity if h is not None else 0

    def sellable(self, symbol: str, day: int) -> int:
        """Shares of ``symbol`` that an order for trading day ``day`` may sell."""
        h = self.holdings.get(symbol)
        if h is None:
            return 0
        settle = self.rules.settlement_days  # h.unsettled(day, settle), inline
        bought = h.bought_day
        unsettled = h.bought_qty if settle > 0 and bought >= 0 and day < bought + settle else 0
        q = h.quantity - unsettled - h.frozen
        return q if q > 0 else 0

    def market_value(self, prices: Mapping[str, float | Decimal]) -> Decimal:
        total = ZERO
        for sym, h in self.holdings.items():
            if h.quantity:
                p = prices.get(sym)
                total += money(_dec(p) * h.quantity) if p is not None else h.cost
        return total

    def account(self, prices: Mapping[str, float | Decimal]) -> Account:
        """Cash, frozen cash and equity with positions at ``prices`` (cost if unknown)."""
        mv = self.market_value(prices)
        return Account(
            cash=self.cash,
            frozen_cash=self.total_frozen_cash,
            equity=self.cash + mv,
            market_value=mv,
            currency=self.rules.currency,
        )

    def positions(self, prices: Mapping[str, float | Decimal], day: int) -> list[Position]:
        """Open positions (quantity > 0), by symbol."""
        out = []
        for sym in sorted(self.holdings):
            h = self.holdings[sym]
            if h.quantity <= 0:
                continue
            p = prices.get(sym)
            last = _dec(p) if p is not None else None
            mv = money(last * h.quantity) if last is not None else h.cost
            out.append(
                Position(
                    symbol=sym,
                    quantity=h.quantity,
                    sellable_quantity=self.sellable(sym, day),
                    average_cost=(h.cost / h.quantity).quantize(Decimal("0.0001")),
                    realised_pnl=h.realised,
                    unrealised_pnl=mv - h.cost,
                    last_price=last,
                )
            )
        return out

    def realised_pnl(self) -> Decimal:
        return sum((h.realised for h in self.holdings.values()), ZERO)

    def state(self) -> tuple[Decimal, dict[str, tuple[int, Decimal, Decimal, int, int]]]:
        """Cash and every holding's booked state (for comparisons in tests)."""
        return self.cash, {
            s: (h.quantity, h.cost, h.realised, h.bought_day, h.bought_qty)
            for s, h in sorted(self.holdings.items())
            if h.quantity or h.realised
        }


def _dec(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))
