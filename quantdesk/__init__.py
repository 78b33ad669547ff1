"""quantdesk: a self-hosted, real-time quantitative stock platform.

Notebook API::

    import quantdesk
    df = quantdesk.load_bars("600036.SH", "5m", start="2026-11-02")
    bars = quantdesk.aggregate_trades(trades_df, intervals=["1m", "5m"], calendar="XSHG")
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["__version__", "aggregate_trades", "backtest", "load_bars"]


def _to_ms(value: Any, name: str) -> int | None:
    if value is None:
        return None
    import pandas as pd

    from quantdesk.errors import DataError

    if isinstance(value, int):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{name}: not a date/time (got {value!r})") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize(_dt.UTC)
    return int(ts.value // 1_000_000)


def load_bars(
    symbol: str,
    interval: str = "1m",
    start: Any = None,
    end: Any = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Bars of ``symbol`` from the configured store as a DataFrame.

    ``start`` (inclusive) and ``end`` (exclusive) take a datetime, a string
    (``"2026-11-02"``, naive means UTC) or epoch milliseconds. The ``time``
    column is tz-aware UTC (the bar start); columns are those of
    ``market_klines``.
    """
    from quantdesk.config import load_settings
    from quantdesk.domain import normalize_interval
    from quantdesk.storage import open_store

    settings = load_settings()
    with open_store(settings.resolved_database_url) as store:
        return store.bars_frame(
            symbol, normalize_interval(interval), _to_ms(start, "start"), _to_ms(end, "end"), limit
        )


def __getattr__(name: str) -> Any:
    if name == "aggregate_trades":
        from quantdesk.bars import aggregate_trades

        return aggregate_trades
    if name == "backtest":
        from quantdesk.backtest import backtest

        return backtest
    raise AttributeError(f"module 'quantdesk' has no attribute {name!r}")
