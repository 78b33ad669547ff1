"""``quantdesk.backtest(...)``: load bars, run, compute statistics, store the run."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.backtest.engine import Backtester, RawResult, fills_frame
from quantdesk.backtest.stats import benchmark_curve, curve_stats, trade_stats
from quantdesk.domain.intervals import normalize_interval
from quantdesk.domain.trading import Fill, Order, RiskAlert, money
from quantdesk.errors import ConfigError, DataError
from quantdesk.risk.limits import RiskLimits
from quantdesk.trading.history import BarHistory
from quantdesk.trading.market import rules_for
from quantdesk.trading.signal_feed import SignalList, bar_signals
from quantdesk.trading.strategies import STRATEGIES, make_strategy
from quantdesk.trading.strategies.base import Strategy
from quantdesk.trading.strategies.predictions import PredictionSource

if TYPE_CHECKING:
    from quantdesk.config.settings import Settings

__all__ = ["BacktestResult", "backtest", "run_backtest"]


@dataclass
class BacktestResult:
    """A finished run: ``fills`` (DataFrame), ``equity`` (Series, tz-aware UTC index),
    ``benchmark`` (equal-weight buy-and-hold equity), ``stats`` (dict; the benchmark's
    under ``stats["buy_and_hold"]``), plus orders, risk alerts, denials, notes and
    ``times`` (the bar times, epoch ms UTC)."""

    run_id: str
    strategy: str
    market: str
    interval: str
    fills: pd.DataFrame
    equity: pd.Series
    benchmark: pd.Series
    stats: dict[str, Any]
    fill_records: list[Fill] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    alerts: list[RiskAlert] = field(default_factory=list)
    denials: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    bars: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    times: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"BacktestResult({self.strategy} on {self.market} {self.interval}: "
            f"total {s['total_return']:+.2%}, sharpe {s['sharpe']:.2f}, "
            f"max drawdown {s['max_drawdown']:.2%}, {s['trades']} fills; "
            f"buy-and-hold {s['buy_and_hold']['total_return']:+.2%})"
        )


def _to_ms(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{name}: not a date/time (got {value!r})") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


def run_backtest(
    history: BarHistory,
    strategy: Strategy | str,
    *,
    market: str = "cn",
    interval: str | None = None,
    cash: float | Decimal = 1_000_000,
    settings: Settings | None = None,
    limits: RiskLimits | None = None,
    predictions: PredictionSource | None = None,
    signals: SignalList | None = None,
    signal_rules: Sequence[Any] | None = None,
    **params: Any,
) -> BacktestResult:
    """Run a strategy over an in-memory panel (no store needed; nothing saved)."""
    from quantdesk.config import load_settings

    s = settings if settings is not None else load_settings()
    strat = make_strategy(strategy, s, **params) if isinstance(strategy, str) else strategy
    iv = normalize_interval(interval or strat.interval)
    rules = rules_for(market, s)
    cash_d = money(Decimal(str(cash)))
    if cash_d <= 0:
        raise ConfigError(f"--cash: must be > 0 (got {cash})")
    if signals is None and strat.name == "signals":
        from quantdesk.stream.signals import rules_from_config

        raw = signal_rules if signal_rules is not None else s.signal_rules
        signals = bar_signals(history, rules_from_config(list(raw)), iv)
    bt = Backtester(
        history,
        strat,
        rules,
        interval=iv,
        cash=cash_d,
        limits=limits or RiskLimits.from_settings(s),
        fill_volume_share=s.fill_volume_share,
        slippage_ticks=s.slippage_ticks,
        predictions=predictions,
        signals=signals,
    )
    raw_result = bt.run()
    return _result(raw_result, history, strat, market, iv, cash_d, s, bt)


def _result(
    raw: RawResult,
    history: BarHistory,
    strat: Strategy,
    market: str,
    interval: str,
    cash: Decimal,
    settings: Settings,
    bt: Backtester,
) -> BacktestResult:
    index = pd.to_datetime(raw.times, unit="ms", utc=True)
    equity = pd.Series(raw.equity, index=index, name="equity")
    bench_values = benchmark_curve(history.field("close"), float(cash))
    bench = pd.Series(bench_values, index=index, name="buy_and_hold")
    stats: dict[str, Any] = curve_stats(raw.equity, raw.step_days, float(cash))
    mean_eq = float(np.mean(raw.equity)) if len(raw.equity) else float(cash)
    stats.update(trade_stats(raw.fills, bt.rules, cash, mean_eq))
    bh = curve_stats(bench_values, raw.step_days, float(cash))
    bh.update({"turnover": 1.0, "fees": 0.0, "trades": len(history.symbols), "win_rate": 0.0})
    stats["buy_and_hold"] = bh
    stats["bars"] = raw.bars
    stats["bars_per_second"] = raw.bars / raw.elapsed if raw.elapsed > 0 else 0.0
    return BacktestResult(
        run_id=uuid.uuid4().hex[:12],
        strategy=strat.name,
        market=market,
        interval=interval,
        fills=fills_frame(raw.fills),
        equity=equity,
        benchmark=bench,
        stats=stats,
        fill_records=raw.fills,
        orders=raw.orders,
        alerts=raw.alerts,
        denials=raw.denials,
        notes=raw.notes,
        settings=_run_settings(settings, bt, strat),
        bars=raw.bars,
        elapsed=raw.elapsed,
        cpu=raw.cpu,
        times=raw.times,
    )


def _run_settings(s: Settings, bt: Backtester, strat: Strategy) -> dict[str, Any]:
    keys = (
        "commission_rate",
        "min_commission",
        "stamp_duty",
        "transfer_fee",
        "us_commission_rate",
        "us_min_commission",
        "price_limit_main",
        "price_limit_star",
        "price_limit_chinext",
        "price_limit_st",
        "price_limit_bse",
        "st_symbols",
        "fill_volume_share",
        "slippage_ticks",
    )
    out: dict[str, Any] = {k: _plain(getattr(s, k)) for k in keys}
    out["risk_limits"] = bt.risk.limits.as_dict()
    out["strategy_params"] = {k: _plain(v) for k, v in vars(strat).items() if not k.startswith("_")}
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.time | dt.date):
        return v.isoformat()
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def backtest(
    strategy: str = "t1",
    start: Any = None,
    end: Any = None,
    symbols: Sequence[str] | None = None,
    market: str | None = None,
    cash: float | Decimal = 1_000_000,
    *,
    interval: str | None = None,
    predictions: PredictionSource | pd.DataFrame | None = None,
    limits: RiskLimits | None = None,
    save: bool = True,
    database_url: str | None = None,
    **params: Any,
) -> BacktestResult:
    """Backtest ``strategy`` on stored bars; the run is stored with its settings.

    ``start`` (inclusive) and ``end`` (exclusive) take dates, datetimes (naive
    = UTC) or epoch ms; ``symbols`` default to the market's stored universe;
    ``predictions`` (for ``t1``) a :class:`PredictionSource` or a DataFrame with
    columns ``symbol, target, value, made``; ``params`` go to the strategy.
    """
    from quantdesk.config import load_settings
    from quantdesk.storage import open_store
    from quantdesk.storage.sql import engine_for
    from quantdesk.storage.trading import BacktestStore

    s = load_settings()
    mkt = (market or s.market).lower()
    name = STRATEGIES.check(strategy)
    strat = make_strategy(name, s, **params)
    iv = normalize_interval(interval or strat.interval)
    lo, hi = _to_ms(start, "start"), _to_ms(end, "end")
    if lo is not None and hi is not None and lo >= hi:
        raise DataError("backtest: start must be before end")
    url = database_url or s.resolved_database_url
    from quantdesk.backtest.data import load_history
    from quantdesk.trading.strategies.predictions import FramePredictions

    with open_store(url) as store:
        syms = (
            list(symbols)
            if symbols
            else [m.symbol for m in store.list_metadata() if m.market == mkt]
        )
        if not syms:
            raise DataError(f"backtest: no {mkt} symbols stored; pass symbols=[...]")
        history = load_history(store, syms, iv, lo, hi)
        signal_list = None
        if name == "signals":
            stored = store.query_signals(start=lo, end=hi)
            if stored:
                signal_list = SignalList(x for x in stored if x.symbol in set(syms))
    preds: PredictionSource | None
    preds = FramePredictions(predictions) if isinstance(predictions, pd.DataFrame) else predictions
    t0 = time.perf_counter()
    result = run_backtest(
        history,
        strat,
        market=mkt,
        interval=iv,
        cash=cash,
        settings=s,
        limits=limits,
        predictions=preds,
        signals=signal_list,
    )
    result.settings["symbols"] = syms
    result.settings["wall_seconds"] = time.perf_counter() - t0
    if save:
        engine = engine_for(url)
        try:
            BacktestStore(engine).save_run(
                {
                    "id": result.run_id,
                    "created": int(time.time() * 1000),
                    "strategy": name,
                    "market": mkt,
                    "interval": iv,
                    "start": lo,
                    "end": hi,
                    "symbols": syms,
                    "cash": money(Decimal(str(cash))),
                    "settings": result.settings,
                    "stats": result.stats,
                    "equity": {
                        "time": result.times,
                        "equity": result.equity.to_numpy(),
                        "buy_and_hold": result.benchmark.to_numpy(),
                    },
                },
                result.fill_records,
            )
        finally:
            engine.dispose()
    return result
