"""The trading path, the same live and in backtests: strategy -> risk engine -> broker.

A :class:`Trader` owns nothing but the wiring. At each decision time the
caller (the backtester's loop, or the live runtime when a cross-section of
bars closes) calls :meth:`Trader.decide`; the strategy sees a
:class:`StepContext` built from the bar history (up to its cursor), the
ledger, predictions and the signals since the previous decision; its order
requests go through :meth:`RiskEngine.submit_many` to the broker.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np

from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain.trading import Order
from quantdesk.risk.engine import RiskEngine
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.brokers.routed import RoutedAccount
from quantdesk.trading.history import BarHistory
from quantdesk.trading.signal_feed import SignalList
from quantdesk.trading.strategies.base import Portfolio, StepContext, Strategy
from quantdesk.trading.strategies.predictions import PredictionSource

__all__ = ["Trader", "session_of"]

log = logging.getLogger("quantdesk.trading")


def session_of(cal: ExchangeCalendar, decision_ms: int) -> int:
    """Which session of its day a decision at ``decision_ms`` follows (0: the first; a
    decision at a session's close still belongs to it); -1 when the market is closed."""
    seg = cal.segment_at(decision_ms - 1)
    if seg < 0:
        return -1
    return seg - int(np.searchsorted(cal.day_index, cal.day_index[seg], side="left"))


class Trader:
    """One strategy trading one paper account through the risk engine."""

    def __init__(
        self,
        strategy: Strategy,
        risk: RiskEngine,
        broker: PaperBroker | RoutedAccount,
        history: BarHistory,
        *,
        predictions: PredictionSource | None = None,
        signals: SignalList | None = None,
    ) -> None:
        self.strategy = strategy
        self.risk = risk
        self.broker = broker
        self.rules = broker.rules
        self.history = history
        self.predictions = predictions
        self.signals = signals
        self.portfolio = Portfolio(broker.ledger, history.symbols)
        self.notes: list[str] = []
        self._signals_upto = -(2**62)
        self._started = False

    def context(
        self,
        now: int,
        *,
        day: int | None = None,
        local_time: dt.time | None = None,
        session: int | None = None,
        signals_upto: int | None = None,
    ) -> StepContext:
        """What the strategy sees at decision time ``now`` (the optional values are
        derived from ``now`` when not given; the backtester precomputes them)."""
        rules = self.rules
        cal = rules.calendar
        d = rules.day_of(now) if day is None else day
        if local_time is None:
            local_time = dt.datetime.fromtimestamp(now / 1000, tz=cal.tz).time()
        if session is None:
            session = session_of(cal, now)
        sigs = []
        if self.signals is not None:
            upto = now if signals_upto is None else signals_upto
            sigs = self.signals.between(self._signals_upto, upto)
            self._signals_upto = upto
        return StepContext(
            time=now,
            day=d,
            date=cal.days[d],
            local_time=local_time,
            session=session,
            history=self.history,
            portfolio=self.portfolio,
            rules=rules,
            predictions=self.predictions,
            signals=sigs,
        )

    def decide(self, ctx: StepContext, equity: float) -> list[Order]:
        """Ask the strategy, then place what it asks through the risk engine."""
        self.portfolio.equity = equity
        if not self._started:
            self._started = True
            self.strategy.on_start(ctx)
        requests = self.strategy.on_step(ctx)
        if ctx.notes:
            for n in ctx.notes:
                log.info("%s", n)
            self.notes += ctx.notes
        if not requests:
            return []
        return self.risk.submit_many(requests, ctx.time)
