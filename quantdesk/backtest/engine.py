"""The backtest loop: stored bars through the very classes that trade live.

One step per bar time, over the whole cross-section at once (NumPy rows, not
a Python object per bar):

1. the paper broker matches the open orders against this bar's open
   (:meth:`PaperBroker.on_bars`): an order decided at the previous step
   trades at this bar's open, within the volume share, with slippage;
2. the market view takes this bar's closes (the day's previous close rolls
   over on the first bar of a new day, for the price limits);
3. the account is valued (cash + shares x last close) and the risk engine
   watches the equity (daily loss, drawdown);
4. the history cursor moves past this bar and the strategy decides at the
   bar's end (:meth:`Trader.decide`): its orders pass the risk engine and
   reach the broker, to trade at the next bar.

So a strategy only ever sees bars that had closed at its decision time, and
the strategy, risk engine, paper broker and market rules are the same
objects as in live trading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.domain.trading import Fill, Order, RiskAlert, Side, money
from quantdesk.risk.engine import RiskEngine
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.history import BarHistory
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import counter_ids
from quantdesk.trading.quotes import MarketView
from quantdesk.trading.signal_feed import SignalList
from quantdesk.trading.steps import schedule
from quantdesk.trading.strategies.base import Strategy
from quantdesk.trading.strategies.predictions import PredictionSource
from quantdesk.trading.trader import Trader

__all__ = ["FILL_COLUMNS", "Backtester", "RawResult", "fills_frame"]

I64 = npt.NDArray[np.int64]

#: The columns of ``BacktestResult.fills``, in order.
FILL_COLUMNS = (
    "time",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "stamp_duty",
    "transfer_fee",
)


@dataclass
class RawResult:
    """What one run produced, before statistics."""

    times: I64
    equity: npt.NDArray[np.float64]
    step_days: I64
    fills: list[Fill]
    orders: list[Order]
    alerts: list[RiskAlert]
    denials: dict[str, int]
    notes: list[str]
    elapsed: float
    bars: int
    cpu: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Backtester:
    """Runs one strategy over a bar panel with the paper broker and the risk engine."""

    def __init__(
        self,
        history: BarHistory,
        strategy: Strategy,
        rules: MarketRules,
        *,
        interval: str,
        cash: Decimal | float = Decimal("1000000"),
        limits: RiskLimits | None = None,
        fill_volume_share: float = 0.25,
        slippage_ticks: int = 0,
        predictions: PredictionSource | None = None,
        signals: SignalList | None = None,
    ) -> None:
        self.history = history
        self.strategy = strategy
        self.rules = rules
        self.interval = interval
        self.journal = MemoryJournal()
        self.market = MarketView(rules, history.symbols)
        ids = counter_ids("o")
        self.broker = PaperBroker(
            rules,
            self.journal,
            cash=money(Decimal(str(cash))),
            market=self.market,
            ids=ids,
            fill_volume_share=fill_volume_share,
            slippage_ticks=slippage_ticks,
        )
        self.risk = RiskEngine(
            rules, self.broker, self.journal, limits, ids=ids, alert_ids=counter_ids("a")
        )
        # shares held per symbol (history order), kept by the fills: values the account
        # in one dot product per step
        self._quantities = np.zeros(len(history.symbols))
        index = history.index

        def _on_fill(update: object) -> None:
            if isinstance(update, Fill):
                sign = 1 if update.side is Side.BUY else -1
                self._quantities[index[update.symbol]] += sign * update.quantity

        self.broker.add_listener(_on_fill)
        self.trader = Trader(
            strategy,
            self.risk,
            self.broker,
            history,
            predictions=predictions,
            signals=signals,
        )

    # -- the loop --------------------------------------------------------------------

    def run(self) -> RawResult:
        h = self.history
        h.seek(len(h._times))
        times = np.array(h.times)
        n = len(times)
        sched = schedule(self.rules.calendar, times, self.interval)
        bar_day, decision, order_day = sched.bar_day, sched.decision, sched.order_day
        local_times, session = sched.local_time, sched.session
        data = h._data
        op, hi, lo, cl, vol = (data[f] for f in ("open", "high", "low", "close", "volume"))
        index = h.index
        market = self.market
        broker = self.broker
        ledger = broker.ledger
        risk = self.risk
        trader = self.trader
        qty = self._quantities
        equity = np.empty(n)
        all_idx = np.arange(len(h.symbols))
        valid_close = ~np.isnan(cl)
        bars = int(valid_close.sum())
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i in range(n):
            t = int(times[i])
            d = int(bar_day[i])
            if broker._open:
                broker.on_bars(t, d, index, op[i], hi[i], lo[i], vol[i])
            ok = valid_close[i]
            idx = all_idx[ok]
            market.on_cross_section(idx, t, d, cl[i][ok])
            held = np.flatnonzero(qty)
            eq = (
                float(ledger.cash) + float(qty[held] @ market.last[held])
                if len(held)
                else (float(ledger.cash))
            )
            equity[i] = eq
            now = int(decision[i])
            risk.on_equity(now, eq, d)
            h.seek(i + 1)
            ctx = trader.context(
                now,
                day=int(order_day[i]),
                local_time=local_times[i],
                session=int(session[i]),
                signals_upto=t,
            )
            trader.decide(ctx, eq)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        return RawResult(
            times=times,
            equity=equity,
            step_days=bar_day,
            fills=self.journal.load_fills(),
            orders=self.journal.load_orders(),
            alerts=list(risk.alerts),
            denials=dict(risk.denials),
            notes=list(trader.notes),
            elapsed=elapsed,
            bars=bars,
            cpu=cpu,
        )


def fills_frame(fills: list[Fill]) -> pd.DataFrame:
    """Fills as the result's DataFrame (exactly :data:`FILL_COLUMNS`; money as float64,
    exact to the cent; ``time`` tz-aware UTC)."""
    df = pd.DataFrame(
        {
            "time": pd.to_datetime(
                np.fromiter((f.time for f in fills), np.int64, len(fills)), unit="ms", utc=True
            ),
            "symbol": pd.Series([f.symbol for f in fills], dtype=object),
            "side": pd.Series([f.side.value for f in fills], dtype=object),
            "quantity": np.fromiter((f.quantity for f in fills), np.int64, len(fills)),
            "price": np.fromiter((float(f.price) for f in fills), np.float64, len(fills)),
            "commission": np.fromiter((float(f.commission) for f in fills), np.float64, len(fills)),
            "stamp_duty": np.fromiter((float(f.stamp_duty) for f in fills), np.float64, len(fills)),
            "transfer_fee": np.fromiter(
                (float(f.transfer_fee) for f in fills), np.float64, len(fills)
            ),
        }
    )
    return df.loc[:, list(FILL_COLUMNS)]
