"""The stream processor: raw bus messages in, bars, factors, signals and dead letters out.

One object wires the operators in the order of the data flow, with no I/O:

* ``trades`` batches -> :class:`~quantdesk.stream.validate.TradeValidator`
  -> :class:`~quantdesk.stream.bars.BarAggregator` -> final bars ->
  :class:`~quantdesk.stream.indicators.BarIndicators` -> factor values;
* ``book`` snapshots -> :class:`~quantdesk.stream.factors.BookFactors`;
* ``clock`` heartbeats -> the bar watermark (bars close at a session's end);
* tweets (from a tweet source) -> :class:`~quantdesk.stream.sentiment.SentimentAggregator`
  (when given) -> ``sentiment_*`` factor values and scored tweets;
* every factor value -> :class:`~quantdesk.stream.signals.SignalEngine`.

Anything malformed (undecodable payloads, invalid trades and books, trades
too late to place) is counted by reason in :attr:`StreamProcessor.rejects`
and returned as a :class:`~quantdesk.bus.DeadLetter` with its raw payload;
the stream goes on. The embedded runner and the Kafka worker both drive this
class, so one process and many give the same results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from quantdesk.bus import DeadLetter, Heartbeat, MessageError, TradeBatch, decode
from quantdesk.calendars import ExchangeCalendar
from quantdesk.domain import INTERVALS, Bar, BookSnapshot, FactorValue, ScoredTweet, Signal
from quantdesk.storage.base import PriceRow
from quantdesk.stream.bars import BarAggregator
from quantdesk.stream.factors import BookError, BookFactors
from quantdesk.stream.indicators import BarIndicators
from quantdesk.stream.signals import SignalEngine, SignalRule
from quantdesk.stream.validate import TradeValidator

if TYPE_CHECKING:
    from quantdesk.sentiment.tweets import Tweet
    from quantdesk.stream.sentiment import SentimentAggregator


@dataclass(slots=True)
class Output:
    """What processing produced; the runner sinks and publishes it."""

    bars: list[Bar] = field(default_factory=list)
    factors: list[FactorValue] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    prices: dict[str, PriceRow] = field(default_factory=dict)
    tweets: list[ScoredTweet] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.bars or self.factors or self.signals or self.dead or self.prices or self.tweets
        )


class StreamProcessor:
    """Decode, validate and run every operator over one input stream."""

    def __init__(
        self,
        calendar: ExchangeCalendar | None,
        symbols: Collection[str] | None = None,
        *,
        rules: Iterable[SignalRule] = (),
        book_levels: int = 5,
        grace_ms: int = 2_000,
        partial_every_ms: int = 1_000,
        max_skew_ms: int = 3_600_000,
        source: str = "simulator",
        sentiment: SentimentAggregator | None = None,
    ) -> None:
        self.validator = TradeValidator(symbols, max_skew_ms=max_skew_ms)
        self.bars = BarAggregator(
            calendar, INTERVALS, grace_ms=grace_ms, partial_every_ms=partial_every_ms, source=source
        )
        self.books = BookFactors(book_levels)
        day_of = None
        if calendar is not None:
            cal = calendar

            def day_of(t: int) -> int:
                return int(cal.day_index[max(cal.segment_at(t), 0)])

        self.indicators = BarIndicators(day_of)
        self.signals = SignalEngine(rules)
        #: the tweet operator (None: no tweets)
        self.sentiment = sentiment
        self.rejects: Counter[str] = Counter()
        self.trades_in = 0

    # -- input ----------------------------------------------------------------

    def handle(self, topic: str, raw: bytes, out: Output) -> None:
        """Process one raw message from ``topic`` into ``out``."""
        try:
            obj = decode(raw)
        except MessageError as exc:
            self._dead(out, exc.reason, topic, raw, str(exc))
            return
        if isinstance(obj, TradeBatch):
            self.on_trades(obj, out, topic)
        elif isinstance(obj, BookSnapshot):
            self.on_book(obj, out, topic, raw)
        elif isinstance(obj, Heartbeat):
            self._bars(self.bars.advance(obj.ts, obj.symbol), out)
        else:
            self._dead(
                out, "unexpected_type", topic, raw, f"{type(obj).__name__} on an input topic"
            )

    def on_trades(self, batch: TradeBatch, out: Output, topic: str = "trades") -> None:
        ok, rejects = self.validator.check(
            batch.symbol,
            batch.ts,
            batch.price,
            batch.size,
            batch.ids,
            self.bars.watermark_of(batch.symbol),
        )
        for i, reason in rejects:
            self._dead(out, reason, topic, _trade_json(batch, i), f"trade {i} of a batch")
        if not ok.all():
            if not ok.any():
                return
            batch = TradeBatch(
                batch.symbol,
                batch.ts[ok],
                batch.price[ok],
                batch.size[ok],
                batch.source,
                None if batch.ids is None else [x for x, k in zip(batch.ids, ok, strict=True) if k],
            )
        self.trades_in += len(batch)
        before = self.bars.counters["outside_session"]
        self._bars(self.bars.on_trades(batch.symbol, batch.ts, batch.price, batch.size), out)
        outside = self.bars.counters["outside_session"] - before
        if outside:
            self.rejects["outside_session"] += outside
        for symbol, ts, price, size in self.bars.take_rejects():
            raw = orjson.dumps({"symbol": symbol, "ts": ts, "price": price, "size": size})
            self._dead(out, "too_late", topic, raw, "older than the bar retention")
        last = len(batch) - 1
        out.prices[batch.symbol] = PriceRow(
            batch.symbol,
            int(batch.ts[last]),
            float(batch.price[last]),
            float(batch.size.sum()),
            batch.source,
        )

    def on_book(
        self, book: BookSnapshot, out: Output, topic: str = "quotes", raw: bytes = b""
    ) -> None:
        try:
            factors = self.books.on_book(book)
        except BookError as exc:
            self._dead(out, f"book_{exc.reason}", topic, raw or _book_json(book), str(exc))
            return
        self._factors(factors, out)

    def on_tweets(self, tweets: Sequence[Tweet], out: Output) -> None:
        """Tweets from a tweet source: scored tweets to the sinks, sentiment factors through
        the signal rules."""
        if self.sentiment is None or not tweets:
            return
        factors, scored = self.sentiment.on_tweets_scored(tweets)
        out.tweets.extend(scored)
        self._factors(factors, out)

    def on_factors(self, factors: list[FactorValue], out: Output) -> None:
        """Factor values computed elsewhere (e.g. tweet sentiment): signals, then sinks."""
        self._factors(factors, out)

    def advance(self, event_time: int, out: Output) -> None:
        """Move the event-time watermark (the embedded runner's clock)."""
        self._bars(self.bars.advance(event_time), out)

    def flush(self, out: Output) -> None:
        """End of stream: every open bar becomes final."""
        self._bars(self.bars.flush(), out)

    # -- internals ------------------------------------------------------------

    def _bars(self, bars: list[Bar], out: Output) -> None:
        if not bars:
            return
        out.bars.extend(bars)
        for bar in bars:
            if bar.final:
                self._factors(self.indicators.on_bar(bar), out)

    def _factors(self, factors: list[FactorValue], out: Output) -> None:
        out.factors.extend(factors)
        for fv in factors:
            signals = self.signals.on_factor(fv)
            if signals:
                out.signals.extend(signals)

    def reject(self, letter: DeadLetter, out: Output) -> None:
        """Count a message rejected elsewhere (e.g. a bad tweet line) and set it aside."""
        self.rejects[letter.reason] += 1
        out.dead.append(letter)

    def _dead(self, out: Output, reason: str, topic: str, raw: bytes, error: str) -> None:
        self.reject(DeadLetter(reason, topic, raw, error), out)

    # -- checkpoints ------------------------------------------------------------

    def snapshot(self, symbols: Collection[str] | None = None) -> dict[str, Any]:
        """Operator state (bars, indicators, signal series) of ``symbols``, JSON-ready."""
        chosen = None if symbols is None else set(symbols)
        snap: dict[str, Any] = {
            "bars": self.bars.snapshot(chosen),
            "indicators": self.indicators.snapshot(chosen),
            "signals": self.signals.snapshot(chosen),
        }
        if self.sentiment is not None and symbols is None:
            snap["sentiment"] = self.sentiment.snapshot()
        return snap

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.bars.restore(snapshot.get("bars", {}))
        self.indicators.restore(snapshot.get("indicators", []))
        self.signals.restore(snapshot.get("signals", []))
        if self.sentiment is not None and "sentiment" in snapshot:
            self.sentiment.restore(snapshot["sentiment"])


def _trade_json(batch: TradeBatch, i: int) -> bytes:
    price, size = float(batch.price[i]), float(batch.size[i])
    return orjson.dumps(
        {
            "symbol": batch.symbol,
            "ts": int(batch.ts[i]),
            "price": price if np.isfinite(price) else str(price),
            "size": size if np.isfinite(size) else str(size),
            "id": None if batch.ids is None else batch.ids[i],
        }
    )


def _book_json(book: BookSnapshot) -> bytes:
    return orjson.dumps(
        {"symbol": book.symbol, "ts": book.ts, "bids": book.bids, "asks": book.asks}
    )
