"""The strategy interface: what a strategy sees at a decision time, and what it returns.

A strategy is called once per step (a closed cross-section of bars, live or
in a backtest) with a :class:`StepContext` and returns order requests; the
risk engine and the broker do the rest. It sees only what was known at the
decision time: the bar history up to the step (:class:`BarHistory` reads
stop at its cursor), predictions made by then, signals up to then.

==========================  ========  ================================================
member                      required  what it does
==========================  ========  ================================================
``name``                    yes       registry name
``on_step(ctx)``            yes       order requests for this decision time
``interval``                optional  bar interval it is meant for (default ``1d``)
``warmup``                  optional  bars it needs before its first decision (0)
``on_start(ctx)``           optional  called once before the first step
==========================  ========  ================================================

Register an implementation in :data:`quantdesk.trading.strategies.STRATEGIES`.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from quantdesk.domain.messages import Signal
from quantdesk.trading.history import BarHistory
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.strategies.predictions import PredictionSource

if TYPE_CHECKING:
    from quantdesk.trading.ledger import Ledger

__all__ = ["Portfolio", "StepContext", "Strategy"]


class Portfolio:
    """The account as a strategy sees it (read only; floats for sizing)."""

    def __init__(self, ledger: Ledger, symbols: Sequence[str]) -> None:
        self._ledger = ledger
        self._symbols = symbols
        self.equity = float(ledger.cash)

    @property
    def cash(self) -> float:
        return float(self._ledger.cash)

    @property
    def available_cash(self) -> float:
        return float(self._ledger.available_cash)

    def quantity(self, symbol: str) -> int:
        return self._ledger.quantity(symbol)

    def sellable(self, symbol: str, day: int) -> int:
        return self._ledger.sellable(symbol, day)

    def cost(self, symbol: str) -> float:
        """What the symbol's shares cost, fees included (0 when none are held)."""
        h = self._ledger.holdings.get(symbol)
        return float(h.cost) if h is not None and h.quantity else 0.0

    def holdings(self) -> dict[str, int]:
        """Symbols held (quantity > 0) and their quantities."""
        return {s: h.quantity for s, h in self._ledger.holdings.items() if h.quantity > 0}

    def quantities(self, index: dict[str, int]) -> npt.NDArray[np.int64]:
        """Quantities aligned with the history's symbols."""
        out = np.zeros(len(index), dtype=np.int64)
        for s, h in self._ledger.holdings.items():
            i = index.get(s)
            if i is not None and h.quantity:
                out[i] = h.quantity
        return out


@dataclass(slots=True)
class StepContext:
    """Everything known at one decision time.

    ``time`` is the decision time (epoch ms UTC: the end of the step's bars);
    ``day`` the trading day index an order placed now belongs to;
    ``local_time`` the exchange-local clock time; ``session`` the index of the
    session segment of the day the decision falls in (0: morning, 1: afternoon
    on A-shares), or -1 when the market is closed.
    """

    time: int
    day: int
    date: dt.date
    local_time: dt.time
    session: int
    history: BarHistory
    portfolio: Portfolio
    rules: MarketRules
    predictions: PredictionSource | None = None
    signals: list[Signal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.history.symbols

    def note(self, text: str) -> None:
        """Say something about this decision (logged, kept with the run)."""
        self.notes.append(text)


class Strategy(abc.ABC):
    """Decides orders at each step; see the module docstring for the contract."""

    name: str = ""
    interval: str = "1d"
    warmup: int = 0

    def on_start(self, ctx: StepContext) -> None:  # noqa: B027 - optional hook
        """Called once before the first step."""

    @abc.abstractmethod
    def on_step(self, ctx: StepContext) -> list[OrderRequest]: ...
