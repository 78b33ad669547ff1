"""The streaming sentiment operator: tweets in, per-symbol sentiment factors out.

:class:`SentimentAggregator` is a plain synchronous operator (no I/O, no
clock reads): every tweet is scored (many at once), attributed to the symbols
it names (cashtags and company names) and folded into per-symbol state in
event time (``created_at``). For each (tweet, symbol) it emits three
:class:`~quantdesk.domain.messages.FactorValue` (interval ``""``) at the
tweet's time, so signal rules can watch them like any other factor:

=================  ==========================================================
name               value
=================  ==========================================================
sentiment_count    tweets about the symbol in the window ``(ts - window, ts]``
sentiment_mean     mean score of those tweets, in [-1, 1]
sentiment_ewma     time-decayed mean: each tweet weighs ``0.5 ** (age / half_life)``
=================  ==========================================================

:meth:`SentimentAggregator.on_tweets_scored` also returns every scored tweet
as a :class:`~quantdesk.domain.ScoredTweet` (for the ``tweets`` table and
``/api/tweets``): tweets with an id, attributed or not, keyed by the first id
of their edit history so an edit replaces the earlier version.

Out-of-order tweets: a tweet older than the symbol's newest one still counts
if it falls inside the window (weighted by its age in the EWMA; the values
are emitted at the newest time); an older one is rejected as ``too_late``.
Tweets without ``created_at`` are rejected (``missing_created_at``); tweets
naming no universe stock are counted in ``unattributed``.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from quantdesk.domain.messages import FactorValue, ScoredTweet
from quantdesk.sentiment.clean import clean
from quantdesk.sentiment.model import SentimentModel
from quantdesk.sentiment.tweets import Tweet, TweetError, parse_tweet

__all__ = ["FACTOR_NAMES", "SentimentAggregator", "SymbolSentiment"]

FACTOR_NAMES = ("sentiment_count", "sentiment_mean", "sentiment_ewma")


@dataclass(slots=True)
class SymbolSentiment:
    """Rolling state of one symbol."""

    last_ts: int = 0
    window: deque[tuple[int, float]] = field(default_factory=deque)
    total: float = 0.0
    ewma: float = 0.0
    wsum: float = 0.0
    wtotal: float = 0.0
    seen: bool = False


class SentimentAggregator:
    """Score tweets and keep per-symbol rolling count, mean and EWMA of their scores."""

    def __init__(
        self,
        model: SentimentModel,
        *,
        window_ms: int = 15 * 60_000,
        half_life_ms: int = 5 * 60_000,
        source: str = "mocker",
    ) -> None:
        if window_ms <= 0 or half_life_ms <= 0:
            raise ValueError("window_ms and half_life_ms must be > 0")
        self.model = model
        self.source = source
        self.window_ms = window_ms
        self.half_life_ms = half_life_ms
        self.state: dict[str, SymbolSentiment] = {}
        self.rejects: Counter[str] = Counter()
        self.scored = 0
        self.unattributed = 0

    def on_raw(self, lines: Iterable[bytes | str]) -> list[FactorValue]:
        """Validate raw JSON lines (rejects counted by reason), then :meth:`on_tweets`."""
        tweets = []
        for line in lines:
            if isinstance(line, bytes | str) and not line.strip():
                continue
            try:
                tweets.append(parse_tweet(line, require_time=True))
            except TweetError as exc:
                self.rejects[exc.reason] += 1
        return self.on_tweets(tweets)

    def on_tweets(self, tweets: Sequence[Tweet]) -> list[FactorValue]:
        """Score a batch of tweets in one pass and fold them in, in the given order."""
        return self.on_tweets_scored(tweets)[0]

    def on_tweets_scored(
        self, tweets: Sequence[Tweet]
    ) -> tuple[list[FactorValue], list[ScoredTweet]]:
        """:meth:`on_tweets`, plus the scored tweets that have an id (to store)."""
        timed = [t for t in tweets if t.created_at is not None]
        self.rejects["missing_created_at"] += len(tweets) - len(timed)
        if not self.rejects["missing_created_at"]:
            del self.rejects["missing_created_at"]
        cleaned = [clean(t.text, self.model.resolver) for t in timed]
        scores, labels = self.model.score_tokens([c.tokens for c in cleaned])
        self.scored += len(timed)
        out: list[FactorValue] = []
        scored: list[ScoredTweet] = []
        for tweet, c, score, label in zip(timed, cleaned, scores, labels, strict=True):
            assert tweet.created_at is not None
            if tweet.id is not None:
                key = _stable_id(tweet, tweet.id)
                scored.append(
                    ScoredTweet(
                        id=key,
                        time=tweet.created_at,
                        text=tweet.text,
                        symbols=tuple(c.symbols),
                        score=float(score),
                        label=str(label),
                        source=self.source,
                        author_id=tweet.author_id,
                        version_id=None if tweet.id == key else tweet.id,
                    )
                )
            if not c.symbols:
                self.unattributed += 1
                continue
            for symbol in c.symbols:
                out.extend(self._update(symbol, tweet.created_at, float(score)))
        return out, scored

    def on_scored(self, symbol: str, ts: int, score: float) -> list[FactorValue]:
        """Fold one already-scored observation in (for replays and tests)."""
        return self._update(symbol, ts, score)

    def _update(self, symbol: str, ts: int, score: float) -> list[FactorValue]:
        st = self.state.get(symbol)
        if st is None:
            st = self.state[symbol] = SymbolSentiment()
        if st.seen and ts <= st.last_ts - self.window_ms:
            self.rejects["too_late"] += 1
            return []
        now = max(ts, st.last_ts) if st.seen else ts
        decay = 0.5 ** ((now - st.last_ts) / self.half_life_ms) if st.seen else 0.0
        weight = 0.5 ** ((now - ts) / self.half_life_ms)
        st.wsum = st.wsum * decay + weight * score
        st.wtotal = st.wtotal * decay + weight
        st.ewma = st.wsum / st.wtotal
        st.seen = True
        st.last_ts = now
        if st.window and ts < st.window[-1][0]:
            keys = [t for t, _ in st.window]
            st.window.insert(bisect.bisect_right(keys, ts), (ts, score))
        else:
            st.window.append((ts, score))
        st.total += score
        cutoff = now - self.window_ms
        while st.window and st.window[0][0] <= cutoff:
            st.total -= st.window.popleft()[1]
        n = len(st.window)
        mean = st.total / n if n else 0.0
        return [
            FactorValue(symbol, now, "sentiment_count", float(n)),
            FactorValue(symbol, now, "sentiment_mean", mean),
            FactorValue(symbol, now, "sentiment_ewma", st.ewma),
        ]

    # -- checkpoints ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The per-symbol state and counters, JSON-ready (see :meth:`restore`)."""
        return {
            "symbols": {
                sym: [
                    st.last_ts,
                    [[t, v] for t, v in st.window],
                    st.total,
                    st.ewma,
                    st.wsum,
                    st.wtotal,
                    st.seen,
                ]
                for sym, st in self.state.items()
            },
            "rejects": dict(self.rejects),
            "scored": self.scored,
            "unattributed": self.unattributed,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from a :meth:`snapshot`."""
        self.state = {}
        for sym, (last_ts, window, total, ewma, wsum, wtotal, seen) in snapshot.get(
            "symbols", {}
        ).items():
            self.state[sym] = SymbolSentiment(
                int(last_ts),
                deque((int(t), float(v)) for t, v in window),
                float(total),
                float(ewma),
                float(wsum),
                float(wtotal),
                bool(seen),
            )
        self.rejects = Counter({k: int(v) for k, v in snapshot.get("rejects", {}).items()})
        self.scored = int(snapshot.get("scored", 0))
        self.unattributed = int(snapshot.get("unattributed", 0))


def _stable_id(tweet: Tweet, tid: str) -> str:
    """The first id of the edit history (every edit gets a new id), else the tweet's own."""
    history = tweet.edit_history_tweet_ids
    return history[0] if history and history[0].isdigit() else tid
