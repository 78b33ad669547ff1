"""Backtests: stored bars through the same strategy, risk engine and paper broker as live.

::

    import quantdesk
    result = quantdesk.backtest(strategy="ma_cross", start="2026-01-01", market="cn")
    result.fills      # DataFrame: time, symbol, side, quantity, price, commission, ...
    result.equity     # Series of account equity by bar time (UTC)
    result.stats      # total/annual return, Sharpe, max drawdown, ...; ["buy_and_hold"]
"""

import sys as _sys
import types as _types
from typing import Any as _Any

from quantdesk.backtest.engine import FILL_COLUMNS, Backtester
from quantdesk.backtest.runner import BacktestResult, backtest, run_backtest

__all__ = ["FILL_COLUMNS", "BacktestResult", "Backtester", "backtest", "run_backtest"]


class _CallablePackage(_types.ModuleType):
    """``quantdesk.backtest`` is this package *and* the function: once the package is
    imported, ``quantdesk.backtest`` names it, so calling it runs :func:`backtest`."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> BacktestResult:
        return backtest(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
