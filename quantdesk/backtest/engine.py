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

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.domain.trading import Fill, Order, RiskAlert, money
from quantdesk.risk.engine import RiskEngine
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.brokers.paper import PaperBroker
from quantdesk.trading.history import BarHistory
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.market import MarketRules
from quantdesk.trading.orders import counter_ids
from quantdesk.trading.quotes import MarketView
from quantdesk.trading.signal_feed import SignalList
from quantdesk.trading.steps import StepSchedule, schedule
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


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0
_GC_WAS_ENABLED = True


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a backtest loop runs.

    The loop makes no reference cycles (orders, fills and the ledger's
    numbers are freed by reference counting as usual), but it allocates
    thousands of small objects, and each allocation burst may trigger a full
    collection that walks every object of the process (tens of milliseconds
    with pandas loaded): as much as the loop itself on a 100-stock run. The
    collector resumes when the last concurrent loop ends, if it was running
    before.
    """
    global _GC_PAUSES, _GC_WAS_ENABLED
    with _GC_LOCK:
        if _GC_PAUSES == 0:
            _GC_WAS_ENABLED = gc.isenabled()
            gc.disable()
        _GC_PAUSES += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES -= 1
            if _GC_PAUSES == 0 and _GC_WAS_ENABLED:
                gc.enable()


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
        bars = int((~np.isnan(h._data["close"])).sum())
        with collector_paused():
            return self._loop(n, times, sched, bars)

    def _loop(self, n: int, times: I64, sched: StepSchedule, bars: int) -> RawResult:
        h = self.history
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
        equity = np.empty(n)
        all_idx = np.arange(len(h.symbols))
        valid_close = ~np.isnan(cl)
        full = valid_close.all(axis=1)
        everyone = slice(0, len(h.symbols))
        t0 = time.perf_counter()
        c0 = time.process_time()
        # Python ints once (indexing NumPy arrays per step makes NumPy scalars)
        times_l, bar_day_l, decision_l = times.tolist(), bar_day.tolist(), decision.tolist()
        order_day_l, session_l = order_day.tolist(), session.tolist()
        full_l = cast(list[bool], full.tolist())
        for i in range(n):
            t = times_l[i]
            d = bar_day_l[i]
            if broker._open:
                broker.on_bars(t, d, index, op[i], hi[i], lo[i], vol[i])
            if full_l[i]:
                market.on_cross_section(everyone, t, d, cl[i])
            else:
                ok = valid_close[i]
                market.on_cross_section(all_idx[ok], t, d, cl[i][ok])
            # the account in one dot product (the broker's shares beside the last prices)
            qty = broker.quantities
            held = qty.nonzero()[0]
            eq = (
                float(ledger.cash) + float(qty[held] @ market.last[held])
                if len(held)
                else (float(ledger.cash))
            )
            equity[i] = eq
            now = decision_l[i]
            risk.on_equity(now, eq, d)
            h.seek(i + 1)
            ctx = trader.context(
                now,
                day=order_day_l[i],
                local_time=local_times[i],
                session=session_l[i],
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
