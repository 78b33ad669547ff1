"""Backtest statistics, for the strategy and for equal-weight buy-and-hold.

=================  ==================================================================
figure             definition
=================  ==================================================================
total_return       final equity / initial cash - 1
annual_return      (1 + total_return) ^ (252 / trading days) - 1
sharpe             mean / standard deviation of daily returns x sqrt(252) (no
                   risk-free rate; 0 when the returns do not vary)
max_drawdown       largest fall from a running peak of the equity curve (a fraction)
turnover           value traded (buys and sells) / mean equity
fees               commission + stamp duty + transfer fee paid
trades             number of fills
win_rate           share of sells with a positive realised P&L (after every fee)
=================  ==================================================================

Daily returns use each trading day's last equity, starting from the initial
cash. The buy-and-hold benchmark holds every symbol of the universe in equal
parts from its first close, frictionless (no fees, no lots): a yardstick, not
a simulation.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from quantdesk.domain.trading import Fill, Side
from quantdesk.trading.ledger import Ledger
from quantdesk.trading.market import MarketRules

__all__ = ["benchmark_curve", "curve_stats", "trade_stats"]

F64 = npt.NDArray[np.float64]
TRADING_DAYS = 252


def curve_stats(equity: F64, step_days: npt.NDArray[np.int64], cash: float) -> dict[str, float]:
    """Return, annual return, Sharpe and max drawdown of an equity curve."""
    if len(equity) == 0 or cash <= 0:
        return {"total_return": 0.0, "annual_return": 0.0, "sharpe": 0.0, "max_drawdown": 0.0}
    last_of_day = np.r_[step_days[1:] != step_days[:-1], True]
    daily = np.r_[cash, equity[last_of_day]]
    rets = daily[1:] / daily[:-1] - 1
    total = float(equity[-1] / cash - 1)
    days = len(rets)
    annual = (1 + total) ** (TRADING_DAYS / days) - 1 if days and total > -1 else -1.0
    sd = float(rets.std(ddof=1)) if days > 1 else 0.0
    sharpe = float(rets.mean() / sd * math.sqrt(TRADING_DAYS)) if sd > 1e-15 else 0.0
    curve = np.r_[cash, equity]
    peak = np.maximum.accumulate(curve)
    mdd = float(np.max(1 - curve / peak)) if len(curve) else 0.0
    return {
        "total_return": total,
        "annual_return": float(annual),
        "sharpe": sharpe,
        "max_drawdown": mdd,
    }


def trade_stats(
    fills: list[Fill], rules: MarketRules, cash: Decimal, mean_equity: float
) -> dict[str, Any]:
    """Turnover, fees, trades and win rate from the fills (replayed through a ledger)."""
    ledger = Ledger(rules, cash)
    wins = sells = 0
    traded = Decimal(0)
    fees = Decimal(0)
    for f in fills:
        before = ledger.holdings[f.symbol].realised if f.symbol in ledger.holdings else Decimal(0)
        ledger.apply(f)
        traded += f.value
        fees += f.fees
        if f.side is Side.SELL:
            sells += 1
            wins += ledger.holdings[f.symbol].realised > before
    return {
        "turnover": float(traded) / mean_equity if mean_equity > 0 else 0.0,
        "fees": float(fees),
        "trades": len(fills),
        "win_rate": wins / sells if sells else 0.0,
    }


def benchmark_curve(close: F64, cash: float) -> F64:
    """Equity of equal-weight buy-and-hold of every column from its first close."""
    if close.size == 0:
        return np.empty(0)
    filled = pd.DataFrame(close).ffill().to_numpy()
    ok = ~np.isnan(filled)
    first_row = np.argmax(ok, axis=0)
    has = ok.any(axis=0)
    first = np.where(has, filled[first_row, np.arange(filled.shape[1])], np.nan)
    rel = np.where(ok, filled / first, 1.0)[:, has]
    if rel.shape[1] == 0:
        return np.full(len(close), cash)
    return cash * rel.mean(axis=1)
