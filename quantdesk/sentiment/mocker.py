"""A deterministic tweet mocker in the Twitter API v2 filtered-stream JSON shape.

Every tweet is one object::

    {"data": {"id": "1859...", "text": "...", "edit_history_tweet_ids": ["1859..."],
              "created_at": "2026-01-05T01:30:00.123Z", "author_id": "..."},
     "matching_rules": [{"id": "...", "tag": "cashtag AAPL"}]}

* ``id``: a 19-digit snowflake-like id that grows with ``created_at``.
* ``edit_history_tweet_ids`` always holds the tweet's own id. About 3% of
  tweets were "edited": their list holds the earlier versions' ids first,
  oldest first, and the tweet's own (latest) id last - the order Twitter
  documents ("ascending order ... most recent version in the last position").
* ``matching_rules``: one rule per stock named (id and tag ``cashtag <SYMBOL>``).

Texts come from templates (bullish, bearish, neutral) filled with cashtags
or company names, slang, emojis, URLs, @mentions, #hashtags and negations.
The same seed gives the same tweets.

**Coupling to prices.** Each non-neutral tweet about a symbol is bullish with
probability ``0.5 + 0.5 * strength * mood(symbol, created_at + lead_ms)``, so
``strength`` 0 gives coin flips and 1 makes sentiment follow ``mood`` fully.
``mood`` is any function ``(symbol, epoch_ms) -> [-1, 1]``:

* :class:`LatentMood` (the default): smooth, seeded per-symbol noise. Price
  generators may read the same function as a drift term; the simulator of
  ``quantdesk.sources.simulator`` does not (yet).
* :func:`mood_from_prices`: the forward return over ``horizon_ms`` of a price
  series you pass in (e.g. simulator history), squashed with ``tanh``. Tweets
  then lead the price moves of that series by ``lead_ms + horizon_ms``.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from quantdesk.domain.messages import StockMeta
from quantdesk.domain.time import from_ms

__all__ = [
    "LabeledTweet",
    "LatentMood",
    "MoodFn",
    "TweetMocker",
    "mood_from_prices",
]

MoodFn = Callable[[str, int], float]
_TWITTER_EPOCH_MS: Final = 1_288_834_974_657

# {t}: the stock (cashtag or name); {b}/{r}/{n}: a bullish/bearish/neutral phrase;
# {eb}/{er}: bullish/bearish emojis.
_BULL_TEMPLATES: Final = (
    "{t} {b} {eb}",
    "Just loaded up on more {t}, {b} {eb}",
    "{t} to the moon {eb}{eb}",
    "Not selling my {t}, {b}",
    "Earnings beat for {t}! Guidance raised, {b}",
    "{eb} {t} breaking out above resistance, {b}",
    "I'm not worried about {t} at all, {b}",
    "Diamond hands on {t} 💎🙌 never selling",
    "{t} upgraded to buy, price target raised. {b}",
    "Bought the dip on {t}. {b} {eb}",
    "Who else is long {t}? {b}",
    "{t} calls printing today {eb} {b}",
    "No way {t} stays this cheap, {b}",
    "{t} record revenue, {b}",
    "Strong buy on {t}, {b} {eb}",
)
_BEAR_TEMPLATES: Final = (
    "{t} {r} {er}",
    "Dumped all my {t}, {r} {er}",
    "Not bullish on {t} anymore, {r}",
    "{t} missed earnings badly. {r} {er}",
    "{er} {t} breaking down below support, {r}",
    "Bagholder of {t} since last month {er} {r}",
    "{t} downgraded to sell, {r}",
    "Never buying {t} again. {r}",
    "{t} puts printing {er} {r}",
    "{t} is not looking good, {r}",
    "Shorting {t} here, {r} {er}",
    "{t} guidance cut, {r}",
    "Can't believe I held {t} through this {er} {r}",
    "{t} is a value trap, {r}",
    "Stay away from {t}. {r} {er}",
)
_NEUTRAL_TEMPLATES: Final = (
    "{t} reports earnings on Thursday after the close",
    "What is everyone's take on {t}?",
    "{t} trading flat ahead of the Fed meeting",
    "Watching {t} today 👀",
    "{t} annual shareholder meeting is next week",
    "Anyone have notes on the {t} conference call?",
    "{t} volume about average so far",
    "Adding {t} to my watchlist, will check the chart later 🤔",
    "{t} ex-dividend date is coming up",
    "New filing from {t} posted this morning",
    "Thread on {t} sector exposure below",
    "{t} opens in ten minutes",
    "{t} {n}",
    "Reading the {t} 10-K tonight, {n}",
    "{t} investor day scheduled for March, {n}",
    "Does {t} pay a dividend this quarter? {n}",
    "Comparing {t} with its peers, {n}",
    "{t} added to the index rebalance list, {n}",
    "Podcast episode about {t} is out, {n}",
    "{t} CFO speaks at a conference tomorrow, {n}",
)
_NEUTRAL_PHRASES: Final = (
    "no position",
    "just curious",
    "thoughts?",
    "link below",
    "not financial advice",
    "will update later",
    "numbers at 4pm",
    "anyone know?",
    "details in the thread",
    "still reading",
    "no opinion yet",
    "source in bio",
)
_BULL_PHRASES: Final = (
    "bullish af",
    "this is going to rip",
    "huge upside from here",
    "easy money",
    "buying more",
    "can't stop won't stop",
    "loving this rally",
    "LFG",
    "best stock in my portfolio",
    "great entry",
    "so undervalued",
    "momentum is insane",
    "green candles all day",
    "strong fundamentals",
    "short squeeze incoming",
    "tendies incoming",
)
_BEAR_PHRASES: Final = (
    "bearish",
    "this is going to crash",
    "so overvalued",
    "getting wrecked",
    "selling everything",
    "red all day",
    "terrible management",
    "worst trade of my life",
    "dead cat bounce",
    "bag holding hard",
    "rug pull",
    "down bad",
    "weak guidance",
    "losing money every day",
    "get out while you can",
    "it's over",
)
_BULL_EMOJIS: Final = ("🚀", "📈", "🔥", "💰", "🐂", "😁", "🤑", "👍", "🌕")
_BEAR_EMOJIS: Final = ("📉", "😭", "🐻", "💀", "🩸", "🤡", "😡", "👎", "⚠️")
_HASHTAGS: Final = ("#stocks", "#investing", "#trading", "#wallstreetbets", "#earnings", "#markets")
_MENTIONS: Final = ("@StockTwitsFan", "@marketwatch_guy", "@chartqueen", "@daytrader99", "@elonfan")

TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "positive": _BULL_TEMPLATES,
    "negative": _BEAR_TEMPLATES,
    "neutral": _NEUTRAL_TEMPLATES,
}


def _unit_hash(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class LatentMood:
    """A smooth per-symbol mood in [-1, 1]: seeded value noise with knots every ``period_ms``.

    Pure and deterministic: ``mood(symbol, ts)`` depends only on the seed, the
    symbol and ``ts`` (cosine interpolation between knots).
    """

    def __init__(self, seed: int = 0, period_ms: int = 3_600_000) -> None:
        if period_ms <= 0:
            raise ValueError("period_ms must be > 0")
        self.seed = seed
        self.period_ms = period_ms

    def __call__(self, symbol: str, ts: int) -> float:
        k, rem = divmod(ts, self.period_ms)
        a = 2.0 * _unit_hash(self.seed, symbol, k) - 1.0
        b = 2.0 * _unit_hash(self.seed, symbol, k + 1) - 1.0
        w = (1.0 - math.cos(math.pi * rem / self.period_ms)) / 2.0
        return a + (b - a) * w


def mood_from_prices(
    prices: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    horizon_ms: int,
    scale: float = 0.01,
) -> MoodFn:
    """A mood that is ``tanh(forward_return / scale)`` over ``horizon_ms`` of the given series.

    ``prices[symbol] = (times_ms ascending, closes)``; outside a series (or for
    an unknown symbol) the mood is 0.
    """
    series = {s: (list(t), list(c)) for s, (t, c) in prices.items()}

    def price_at(times: list[int], closes: list[float], ts: int) -> float | None:
        i = bisect.bisect_right(times, ts) - 1
        return closes[i] if 0 <= i < len(closes) and ts <= times[-1] else None

    def mood(symbol: str, ts: int) -> float:
        if symbol not in series:
            return 0.0
        times, closes = series[symbol]
        now, later = price_at(times, closes, ts), price_at(times, closes, ts + horizon_ms)
        if not now or later is None:
            return 0.0
        return math.tanh((later / now - 1.0) / scale)

    return mood


@dataclass(frozen=True, slots=True)
class LabeledTweet:
    """A mocked tweet with its generating label and template key (for training data)."""

    tweet: dict[str, Any]
    label: str
    template: str


class TweetMocker:
    """Deterministic generator of filtered-stream tweets about a stock universe.

    ``rate_per_s`` is the mean tweet rate (exponential gaps); ``neutral_share``
    the share of neutral chatter; ``strength``, ``mood`` and ``lead_ms`` are the
    price coupling of the module docstring. ``templates`` narrows the template
    keys used (e.g. ``"positive:3"``), for held-out evaluations.
    """

    def __init__(
        self,
        universe: Sequence[StockMeta],
        *,
        seed: int = 0,
        rate_per_s: float = 10.0,
        start_ms: int = 1_767_576_600_000,
        neutral_share: float = 0.3,
        strength: float = 0.0,
        mood: MoodFn | None = None,
        lead_ms: int = 0,
        edit_share: float = 0.03,
        templates: Sequence[str] | None = None,
    ) -> None:
        if not universe:
            raise ValueError("the universe is empty")
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        if not 0.0 <= neutral_share <= 1.0:
            raise ValueError(f"neutral_share must be in [0, 1], got {neutral_share}")
        self.universe = list(universe)
        self.rate_per_s = rate_per_s
        self.neutral_share = neutral_share
        self.strength = strength
        self.mood: MoodFn = mood if mood is not None else LatentMood(seed)
        self.lead_ms = lead_ms
        self.edit_share = edit_share
        self._rng = random.Random(seed)
        self._now = start_ms
        self._keys = set(templates) if templates is not None else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.next_labeled().tweet

    def state(self) -> dict[str, Any]:
        """Where the generator stands (random state and clock), JSON-ready."""
        version, internal, gauss = self._rng.getstate()
        return {"rng": [version, list(internal), gauss], "now": self._now}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state`: the same tweets follow."""
        version, internal, gauss = state["rng"]
        self._rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
        self._now = int(state["now"])

    def generate(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` tweets."""
        return [self.next_labeled().tweet for _ in range(count)]

    def next_labeled(self) -> LabeledTweet:
        """The next tweet, with the label and template key it was generated from."""
        rng = self._rng
        self._now += max(1, round(rng.expovariate(self.rate_per_s) * 1000))
        ts = self._now
        while True:
            meta = rng.choice(self.universe)
            if rng.random() < self.neutral_share:
                label = "neutral"
            else:
                m = max(-1.0, min(1.0, self.mood(meta.symbol, ts + self.lead_ms)))
                label = "positive" if rng.random() < 0.5 + 0.5 * self.strength * m else "negative"
            i = rng.randrange(len(TEMPLATES[label]))
            key = f"{label}:{i}"
            if self._keys is None or key in self._keys:
                break
        text = self._fill(TEMPLATES[label][i], meta, label)
        return LabeledTweet(self._envelope(text, ts, [meta]), label, key)

    def _fill(self, template: str, meta: StockMeta, label: str) -> str:
        rng = self._rng
        code = meta.symbol.split(".")[0]
        name = _short_name(meta.name)
        t = rng.choice((f"${code}", f"${code}", name)) if rng.random() < 0.85 else meta.name
        text = template.format(
            t="\x00",
            b=rng.choice(_BULL_PHRASES),
            r=rng.choice(_BEAR_PHRASES),
            n=rng.choice(_NEUTRAL_PHRASES),
            eb=rng.choice(_BULL_EMOJIS) if rng.random() < 0.7 else "",
            er=rng.choice(_BEAR_EMOJIS) if rng.random() < 0.7 else "",
        )
        extras = []
        if rng.random() < 0.25:
            extras.append(rng.choice(_HASHTAGS))
        if rng.random() < 0.2:
            text = f"{rng.choice(_MENTIONS)} {text}"
        if rng.random() < 0.2:
            extras.append(f"https://t.co/{rng.getrandbits(40):010x}")
        if rng.random() < 0.3:
            text = text.lower()
        text = text.replace("\x00", t)
        return " ".join([" ".join(text.split()), *extras])

    def _envelope(self, text: str, ts: int, metas: list[StockMeta]) -> dict[str, Any]:
        rng = self._rng
        tid = _snowflake(ts, rng.getrandbits(22))
        history = [tid]
        if rng.random() < self.edit_share:
            n = rng.randint(1, 3)
            earlier = sorted(
                _snowflake(ts - rng.randint(1_000, 1_800_000), rng.getrandbits(22))
                for _ in range(n)
            )
            history = [str(e) for e in sorted(int(x) for x in earlier)] + [tid]
        created = from_ms(ts)
        return {
            "data": {
                "id": tid,
                "text": text,
                "edit_history_tweet_ids": history,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts % 1000:03d}Z",
                "author_id": str(rng.randrange(10**8, 10**19)),
            },
            "matching_rules": [
                {
                    "id": str(1_600_000_000_000_000_000 + int(_unit_hash("rule", m.symbol) * 1e15)),
                    "tag": f"cashtag {m.symbol}",
                }
                for m in metas
            ],
        }


def _snowflake(ts: int, low: int) -> str:
    return str(((ts - _TWITTER_EPOCH_MS) << 22) | low)


def _short_name(name: str) -> str:
    from quantdesk.sentiment.clean import _name_forms

    forms = _name_forms(name)
    return forms[-1]


def training_rows(
    universe: Sequence[StockMeta], count: int, seed: int = 0
) -> list[tuple[str, str, str]]:
    """``(text, label, group)`` rows of distinct mocked tweets; ``group`` is the template key.

    This is how ``quantdesk/sentiment/data/train_data.csv`` was made
    (``count=4000, seed=20260105`` over both preset universes).
    """
    mocker = TweetMocker(universe, seed=seed, neutral_share=1 / 3, edit_share=0.0)
    seen: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    attempts = 0
    while len(rows) < count and attempts < count * 20:
        attempts += 1
        lt = mocker.next_labeled()
        text = lt.tweet["data"]["text"]
        if text not in seen:
            seen.add(text)
            rows.append((text, lt.label, lt.template))
    return rows
