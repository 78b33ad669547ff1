"""Messages and value types shared by every package."""

from quantdesk.domain.intervals import (
    INTERVAL_MINUTES,
    INTERVALS,
    PERIOD_INTERVALS,
    ROLLUP_INTERVALS,
    SESSION_INTERVALS,
    interval_ms,
    is_intraday,
    normalize_interval,
)
from quantdesk.domain.messages import (
    BAR_COLUMNS,
    Bar,
    BookSnapshot,
    FactorValue,
    Prediction,
    ScoredTweet,
    Signal,
    StockMeta,
    StockState,
    Trade,
)

__all__ = [
    "BAR_COLUMNS",
    "INTERVALS",
    "INTERVAL_MINUTES",
    "PERIOD_INTERVALS",
    "ROLLUP_INTERVALS",
    "SESSION_INTERVALS",
    "Bar",
    "BookSnapshot",
    "FactorValue",
    "Prediction",
    "ScoredTweet",
    "Signal",
    "StockMeta",
    "StockState",
    "Trade",
    "interval_ms",
    "is_intraday",
    "normalize_interval",
]
