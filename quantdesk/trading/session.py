"""Live trading, one closed cross-section of bars at a time: the backtester's step.

:class:`TradingSession` is what the live runtime calls when the bars of a bar
time have closed (from the bus). It does exactly what one step of
:class:`quantdesk.backtest.Backtester` does, with the same objects: the paper
broker matches the open orders against these bars' opens, the market view
takes their closes, the bar history grows by one row, the risk engine watches
the equity, and the strategy decides at the bars' end through the risk engine.
So a session recorded live and replayed through the backtester gives the same
fills (tested). Signals that arrive live are added with :meth:`add_signal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from quantdesk.domain.messages import Bar, Signal
from quantdesk.domain.trading import Order
from quantdesk.risk.engine import RiskEngine
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.brokers.base import Broker
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.brokers.routed import RoutedAccount
from quantdesk.trading.history import FIELDS, BarHistory
from quantdesk.trading.journal import TradingJournal
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import IdFactory
from quantdesk.trading.quotes import MarketView
from quantdesk.trading.signal_feed import SignalList
from quantdesk.trading.steps import schedule
from quantdesk.trading.strategies.base import Strategy
from quantdesk.trading.strategies.predictions import PredictionSource
from quantdesk.trading.trader import Trader

__all__ = ["TradingSession"]


class TradingSession:
    """One strategy on one paper account, fed closed bars of a fixed universe."""

    def __init__(self, trader: Trader, interval: str, *, match_bars: bool = True) -> None:
        self.trader = trader
        self.interval = interval
        #: False when the broker matches orders against live books instead (its
        #: ``on_book``): bars then feed the history, the prices and the strategy only
        self.match_bars = match_bars
        self.broker = trader.broker
        self.rules = trader.rules
        self.history = trader.history
        self.equity: list[tuple[int, float]] = []
        self._all = np.arange(len(self.history.symbols))

    @classmethod
    def create(
        cls,
        strategy: Strategy,
        rules: MarketRules,
        symbols: Sequence[str],
        journal: TradingJournal,
        *,
        interval: str | None = None,
        cash: Decimal = Decimal("1000000"),
        limits: RiskLimits | None = None,
        predictions: PredictionSource | None = None,
        ids: IdFactory | None = None,
        alert_ids: IdFactory | None = None,
        fill_volume_share: float = 0.25,
        slippage_ticks: int = 0,
        match_bars: bool = True,
        remote: Broker | None = None,
    ) -> TradingSession:
        """Wire a paper broker, a risk engine and a trader for ``symbols``; with ``remote``
        (another broker) a :class:`RoutedAccount` routes the orders to it instead."""
        history = BarHistory(list(symbols))
        broker: PaperBroker | RoutedAccount
        if remote is not None:
            broker = RoutedAccount(
                remote, rules, journal, market=MarketView(rules, history.symbols), ids=ids
            )
        else:
            broker = PaperBroker(
                rules,
                journal,
                cash=cash,
                market=MarketView(rules, history.symbols),
                ids=ids,
                fill_volume_share=fill_volume_share,
                slippage_ticks=slippage_ticks,
            )
        risk = RiskEngine(rules, broker, journal, limits, ids=ids, alert_ids=alert_ids)
        trader = Trader(
            strategy, risk, broker, history, predictions=predictions, signals=SignalList([])
        )
        return cls(trader, interval or strategy.interval, match_bars=match_bars)

    @property
    def risk(self) -> RiskEngine:
        return self.trader.risk

    def add_signal(self, signal: Signal) -> None:
        assert self.trader.signals is not None
        self.trader.signals.add(signal)

    def _row(self, t_ms: int, bars: Iterable[Bar]) -> dict[str, npt.NDArray[np.float64]]:
        index = self.history.index
        n = len(self.history.symbols)
        row = {f: np.full(n, np.nan) for f in FIELDS}
        for bar in bars:
            i = index.get(bar.symbol)
            if i is None or bar.time != t_ms:
                continue
            row["open"][i], row["high"][i], row["low"][i] = bar.open, bar.high, bar.low
            row["close"][i], row["volume"][i] = bar.close, bar.volume
        return row

    def seed(self, t_ms: int, bars: Iterable[Bar]) -> None:
        """Bars known before trading starts (a warm start from the store): they join the
        history and the prices, and nothing is decided on them."""
        row = self._row(t_ms, bars)
        sched = schedule(self.rules.calendar, np.array([t_ms], dtype=np.int64), self.interval)
        ok = ~np.isnan(row["close"])
        self.broker.market.on_cross_section(
            self._all[ok], t_ms, int(sched.bar_day[0]), row["close"][ok]
        )
        self.history.append(t_ms, row)

    def on_bars(self, t_ms: int, bars: Iterable[Bar]) -> list[Order]:
        """The closed bars of bar time ``t_ms`` (symbols outside the universe are ignored);
        returns the orders the strategy placed at their close."""
        index = self.history.index
        row = self._row(t_ms, bars)
        sched = schedule(self.rules.calendar, np.array([t_ms], dtype=np.int64), self.interval)
        day = int(sched.bar_day[0])
        broker = self.broker
        if self.match_bars and broker.orders(open_only=True):
            broker.on_bars(t_ms, day, index, row["open"], row["high"], row["low"], row["volume"])
        ok = ~np.isnan(row["close"])
        broker.market.on_cross_section(self._all[ok], t_ms, day, row["close"][ok])
        self.history.append(t_ms, row)
        equity = float(broker.ledger.cash)
        market = broker.market
        for sym, h in broker.ledger.holdings.items():
            if h.quantity:
                equity += h.quantity * float(market.last[market.index[sym]])
        self.equity.append((t_ms, equity))
        now = int(sched.decision[0])
        self.trader.risk.on_equity(now, equity, day)
        ctx = self.trader.context(
            now,
            day=int(sched.order_day[0]),
            local_time=sched.local_time[0],
            session=int(sched.session[0]),
            signals_upto=t_ms,
        )
        if self.trader.signals is not None:  # read now, never again: a live run keeps none
            self.trader.signals.drop_through(t_ms)
        return self.trader.decide(ctx, equity)
