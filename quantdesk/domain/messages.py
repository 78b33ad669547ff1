"""Domain messages and value types.

All times are integers: epoch milliseconds, UTC. Prices are floats in the
instrument's currency; sizes are shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BAR_COLUMNS: tuple[str, ...] = (
    "symbol",
    "interval",
    "time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
    "source",
)


@dataclass(frozen=True, slots=True)
class Trade:
    """One print: ``ts`` epoch ms UTC, ``price``, ``size`` in shares."""

    symbol: str
    ts: int
    price: float
    size: float
    trade_id: str | None = None
    source: str = "simulator"


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Top-of-book levels, best first: ``bids[i] = (price, size)``."""

    symbol: str
    ts: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    source: str = "simulator"


@dataclass(slots=True)
class Bar:
    """An OHLCV bar; ``time`` is the bar start (epoch ms UTC)."""

    symbol: str
    interval: str
    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trades: int
    source: str = "simulator"
    final: bool = True

    def as_row(self) -> tuple[str, str, int, float, float, float, float, float, float, int, str]:
        return (
            self.symbol,
            self.interval,
            self.time,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.vwap,
            self.trades,
            self.source,
        )


@dataclass(frozen=True, slots=True)
class StockMeta:
    """One row of ``stock_metadata`` (seed D), plus the market it trades on."""

    symbol: str
    name: str
    market: str
    sector: str
    base_price: float
    volatility: float
    base_volume: float
    calendar: str


@dataclass(slots=True)
class StockState:
    """Per-stock simulator state (``stock_state``), persisted between runs."""

    symbol: str
    time: int
    price: float
    volatility: float
    trend: float
    regime: str
    next_regime_check: int
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FactorValue:
    """A real-time factor or indicator value (``obi``, ``microprice``, ``rsi_14`` ...)."""

    symbol: str
    ts: int
    name: str
    value: float
    interval: str = ""


@dataclass(frozen=True, slots=True)
class Signal:
    """A threshold crossing: ``side`` is ``buy`` or ``sell``."""

    symbol: str
    ts: int
    factor: str
    value: float
    side: str
    rule_id: str


@dataclass(frozen=True, slots=True)
class ScoredTweet:
    """A tweet with its sentiment, as stored in ``tweets`` and served by ``/api/tweets``.

    ``id`` is the tweet's stable id: the first id of ``edit_history_tweet_ids``
    (Twitter gives every edit a new id and lists the earlier ones first), so an
    edit replaces the stored row. ``version_id`` is the id of this version (None:
    the same as ``id``); a stored row is only replaced by the same or a later
    version. ``time`` is this version's ``created_at`` (epoch ms UTC); ``text`` is
    kept exactly as received (untrusted: escape it where it is displayed);
    ``symbols`` are the universe symbols it names; ``score`` in [-1, 1];
    ``label`` positive/negative/neutral; ``source`` e.g. ``mocker``, ``file``,
    ``twitter``.
    """

    id: str
    time: int
    text: str
    symbols: tuple[str, ...]
    score: float
    label: str
    source: str
    author_id: str | None = None
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """One served prediction, as published on the bus (topic ``predictions``) and
    ``/ws/ai-predictions``: for ``symbol``, the ``target_day`` (ISO date) predicted by
    ``model`` version ``version`` (served as ``alias``: champion, challenger, or "" for
    an explicit version) at ``made_at`` (epoch ms UTC). ``predicted_open`` /
    ``predicted_close`` are prices (open None where the model does not predict it),
    ``predicted_return`` the ratio to ``reference`` (the price the model's ratios are
    relative to)."""

    symbol: str
    target_day: str
    model: str
    version: int
    alias: str
    made_at: int
    predicted_open: float | None
    predicted_close: float | None
    predicted_return: float
    reference: float
