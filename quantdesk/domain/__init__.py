"""Messages and value types shared by every package."""

from quantdesk.domain.intervals import (
    INTERVAL_MINUTES,
    INTERVALS,
    ROLLUP_INTERVALS,
    interval_ms,
    normalize_interval,
)
from quantdesk.domain.messages import (
    BAR_COLUMNS,
    Bar,
    BookSnapshot,
    FactorValue,
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
    "ROLLUP_INTERVALS",
    "Bar",
    "BookSnapshot",
    "FactorValue",
    "ScoredTweet",
    "Signal",
    "StockMeta",
    "StockState",
    "Trade",
    "interval_ms",
    "normalize_interval",
]
