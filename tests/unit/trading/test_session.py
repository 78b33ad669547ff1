"""Parity: bars fed live to a TradingSession give the backtester's fills and equity."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.data import history_from_frame
from quantdesk.domain.messages import Bar, Signal
from quantdesk.risk import RiskLimits
from quantdesk.trading.history import BarHistory
from quantdesk.trading.journal import MemoryJournal
from quantdesk.trading.orders import OrderRequest, counter_ids
from quantdesk.trading.session import TradingSession
from quantdesk.trading.strategies import FramePredictions, make_strategy
from quantdesk.trading.strategies.base import StepContext, Strategy
from tests.unit.trading.helpers import cn, daily_panel, trading_days
from tests.unit.trading.test_strategies import intraday_panel, predictions


def replay(
    h: BarHistory, name: str, interval: str, **kw: Any
) -> tuple[MemoryJournal, TradingSession]:
    journal = MemoryJournal()
    ids = counter_ids("o")
    preds = kw.pop("predictions", None)
    session = TradingSession.create(
        make_strategy(name, **kw),
        cn(),
        h.symbols,
        journal,
        interval=interval,
        cash=D("1000000"),
        limits=RiskLimits(),
        predictions=preds,
        ids=ids,
        alert_ids=counter_ids("a"),
    )
    fields = {f: h.field(f) for f in ("open", "high", "low", "close", "volume")}
    for i, t in enumerate(h.times.tolist()):
        bars = [
            Bar(
                sym,
                interval,
                t,
                *(float(fields[f][i, j]) for f in ("open", "high", "low", "close", "volume")),
                0.0,
                1,
            )
            for j, sym in enumerate(h.symbols)
            if not np.isnan(fields["close"][i, j])
        ]
        session.on_bars(t, bars)
    return journal, session


@pytest.mark.parametrize(
    ("name", "interval", "params"),
    [
        ("ma_cross", "1d", {"fast": 3, "slow": 8}),
        ("momentum", "1d", {"lookback": 5, "top_k": 3}),
        ("t1", "5m", {"top_k": 2}),
    ],
)
def test_live_session_equals_backtest(name: str, interval: str, params: dict[str, Any]) -> None:
    if interval == "1d":
        frame = daily_panel(n_sym=6, n_days=50, seed=8)
        extra: dict[str, Any] = {}
    else:
        days = trading_days(4)
        frame = intraday_panel(days, seed=2)
        extra = {"predictions": FramePredictions(predictions(days))}
    # a symbol without bars on some days
    frame = frame.drop(frame.index[(frame.symbol == frame.symbol.iloc[0]) & (frame.index % 7 == 3)])
    bt = run_backtest(
        history_from_frame(frame),
        make_strategy(name, **params),
        market="cn",
        interval=interval,
        **extra,
    )
    journal, session = replay(history_from_frame(frame), name, interval, **params, **extra)
    live = journal.load_fills()
    assert len(live) > 0
    assert live == bt.fill_records
    assert [e for _, e in session.equity] == pytest.approx(bt.equity.tolist())


class _Recorder(Strategy):
    """Records the signals each step hands the strategy."""

    name = "recorder"
    interval = "5m"

    def __init__(self) -> None:
        self.seen: list[Signal] = []

    def on_step(self, ctx: StepContext) -> list[OrderRequest]:
        self.seen += ctx.signals
        return []


def test_live_signals_reach_the_strategy_once_and_are_then_forgotten() -> None:
    """A live session keeps only the signals still to be read (issue 16: the list of
    every signal since the start grew for as long as ``quantdesk run`` ran)."""
    h = history_from_frame(intraday_panel(trading_days(3), seed=2))
    strategy = _Recorder()
    session = TradingSession.create(strategy, cn(), h.symbols, MemoryJournal(), interval="5m")
    signals = session.trader.signals
    assert signals is not None
    sym, close = h.symbols[0], h.field("close")
    sent: list[Signal] = []
    for i, t in enumerate(h.times.tolist()):
        for ts in (t - 60_000, t):  # both belong to the step of bar time t
            sig = Signal(sym, ts, "rsi_14", 50.0, "buy", f"r{i}")
            session.add_signal(sig)
            sent.append(sig)
        bars = [
            Bar(s, "5m", t, *(float(close[i, j]),) * 4, 100.0, 0.0, 1)
            for j, s in enumerate(h.symbols)
            if not np.isnan(close[i, j])
        ]
        session.on_bars(t, bars)
        assert len(signals) == 0
    assert len(sent) > 100
    assert strategy.seen == sent
