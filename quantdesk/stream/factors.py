"""Real-time order-book factors (seed A: OBI and MicroPrice; seed C: spread, depth).

Every factor is computed from one :class:`~quantdesk.domain.messages.BookSnapshot`
(L1-L5 levels, best first) and nothing else, so the pure functions and the
:class:`BookFactors` operator give identical results in the live stream, in
replay and in backtests.

Definitions (``b_i``/``a_i`` are bid/ask sizes at level ``i``, 1 = best;
only the top ``k`` levels a book actually has are used):

========================  =====================================================
``obi``                   ``(sum b_i - sum a_i) / (sum b_i + sum a_i)``, in [-1, 1]
``obi_weighted``          the same with weight ``w_i = 1 / i`` on level ``i``
                          (level 1 counts fully, level 2 half, ...), in [-1, 1]
``microprice``            ``(bid_1 * a_1 + ask_1 * b_1) / (b_1 + a_1)``: the mid
                          pulled toward the side with the smaller queue
``spread``                ``ask_1 - bid_1`` (price units)
``spread_bps``            ``spread / mid * 10_000``
``mid``                   ``(bid_1 + ask_1) / 2``
``bid_depth``/``ask_depth``  ``sum b_i`` / ``sum a_i`` over the top ``k`` levels
========================  =====================================================

Invalid books raise :class:`BookError` whose ``reason`` is one of
:data:`BOOK_ERROR_REASONS`, so a runner can count rejects per reason and
dead-letter the message. A book is valid when both sides are non-empty, every
price and size is finite and positive, each side is strictly ordered best
first (bids descending, asks ascending) and the book is not crossed or locked
(``best_bid < best_ask``). Every level of the snapshot is checked, not only the
top ``k``.
"""

from __future__ import annotations

import math
from typing import Final

from quantdesk.domain.messages import BookSnapshot, FactorValue
from quantdesk.errors import BookError as BookError
from quantdesk.errors import ConfigError

__all__ = [
    "BAD_PRICE",
    "BAD_SIZE",
    "BOOK_ERROR_REASONS",
    "CROSSED",
    "EMPTY_SIDE",
    "FACTOR_NAMES",
    "NOT_FINITE",
    "UNSORTED",
    "BookError",
    "BookFactors",
    "depth",
    "microprice",
    "mid",
    "obi",
    "spread",
    "spread_bps",
    "validate_book",
    "weighted_obi",
]

#: ``BookError.reason`` values.
EMPTY_SIDE: Final = "empty_side"
NOT_FINITE: Final = "not_finite"
BAD_PRICE: Final = "bad_price"
BAD_SIZE: Final = "bad_size"
UNSORTED: Final = "unsorted"
CROSSED: Final = "crossed"
BOOK_ERROR_REASONS: Final = frozenset(
    {EMPTY_SIDE, NOT_FINITE, BAD_PRICE, BAD_SIZE, UNSORTED, CROSSED}
)

#: Names of the values :meth:`BookFactors.on_book` emits, in emission order.
FACTOR_NAMES: Final = (
    "obi",
    "obi_weighted",
    "microprice",
    "spread",
    "spread_bps",
    "mid",
    "bid_depth",
    "ask_depth",
)

_INF: Final = math.inf
# Level weights w_i = 1/i, precomputed for the usual L1-L10 books.
_WEIGHTS: Final = tuple(1.0 / i for i in range(1, 11))


def _check_side(snapshot: BookSnapshot, side: str) -> None:
    levels = snapshot.bids if side == "bid" else snapshot.asks
    if not levels:
        raise BookError(
            EMPTY_SIDE,
            f"book {snapshot.symbol} at ts={snapshot.ts}: no {side} levels; "
            "a book needs at least one bid and one ask",
        )
    last = _INF if side == "bid" else -_INF
    for i, (price, size) in enumerate(levels, 1):
        if not 0.0 < price < _INF:
            _bad_number(snapshot, side, i, "price", price, BAD_PRICE)
        if not 0.0 < size < _INF:
            _bad_number(snapshot, side, i, "size", size, BAD_SIZE)
        if (side == "bid" and price >= last) or (side == "ask" and price <= last):
            raise BookError(
                UNSORTED,
                f"book {snapshot.symbol} at ts={snapshot.ts}: {side} level {i} price "
                f"{price} is out of order; levels must be best first and distinct",
            )
        last = price


def _bad_number(
    snapshot: BookSnapshot, side: str, level: int, what: str, value: float, reason: str
) -> None:
    if not math.isfinite(value):
        reason = NOT_FINITE
    raise BookError(
        reason,
        f"book {snapshot.symbol} at ts={snapshot.ts}: {side} level {level} {what} "
        f"is {value!r}; prices and sizes must be finite and > 0",
    )


def validate_book(snapshot: BookSnapshot) -> None:
    """Raise :class:`BookError` unless ``snapshot`` is a usable, uncrossed book."""
    # Fast path, one chained comparison per value: it checks sign, finiteness
    # (NaN fails every comparison) and strict ordering at once. Any failure
    # goes to the slow path, which names the exact reason.
    bids, asks = snapshot.bids, snapshot.asks
    if bids and asks:
        last = _INF
        for price, size in bids:
            if not (0.0 < price < last and 0.0 < size < _INF):
                break
            last = price
        else:
            last = 0.0
            for price, size in asks:
                if not (last < price < _INF and 0.0 < size < _INF):
                    break
                last = price
            else:
                if bids[0][0] < asks[0][0]:
                    return
    _diagnose(snapshot)


def _diagnose(snapshot: BookSnapshot) -> None:
    _check_side(snapshot, "bid")
    _check_side(snapshot, "ask")
    best_bid = snapshot.bids[0][0]
    best_ask = snapshot.asks[0][0]
    if best_bid >= best_ask:
        raise BookError(
            CROSSED,
            f"book {snapshot.symbol} at ts={snapshot.ts}: best bid {best_bid} >= "
            f"best ask {best_ask} (crossed or locked book)",
        )
    raise AssertionError("unreachable: the fast path rejected a valid book")  # pragma: no cover


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"book factor depth k must be an integer >= 1, got {k!r}")
    return k


def _imbalance(bid: float, ask: float) -> float:
    return (bid - ask) / (bid + ask)


def _sums(snapshot: BookSnapshot, k: int) -> tuple[float, float, float, float]:
    """``(bid depth, ask depth, weighted bid depth, weighted ask depth)`` over ``k`` levels."""
    bid = ask = wbid = wask = 0.0
    weights = _WEIGHTS if k <= len(_WEIGHTS) else tuple(1.0 / i for i in range(1, k + 1))
    for w, (_, size) in zip(weights, snapshot.bids[:k], strict=False):
        bid += size
        wbid += w * size
    for w, (_, size) in zip(weights, snapshot.asks[:k], strict=False):
        ask += size
        wask += w * size
    return bid, ask, wbid, wask


def obi(snapshot: BookSnapshot, k: int = 5) -> float:
    """Order book imbalance over the top ``k`` levels, in [-1, 1] (> 0: more bids)."""
    _check_k(k)
    validate_book(snapshot)
    bid, ask, _, _ = _sums(snapshot, k)
    return _imbalance(bid, ask)


def weighted_obi(snapshot: BookSnapshot, k: int = 5) -> float:
    """Level-weighted OBI over the top ``k`` levels, weight ``1/i`` on level ``i``."""
    _check_k(k)
    validate_book(snapshot)
    _, _, wbid, wask = _sums(snapshot, k)
    return _imbalance(wbid, wask)


def microprice(snapshot: BookSnapshot) -> float:
    """Size-weighted mid: ``(bid_1 * ask_size_1 + ask_1 * bid_size_1) / (sizes)``."""
    validate_book(snapshot)
    (bp, bs), (ap, as_) = snapshot.bids[0], snapshot.asks[0]
    return _microprice(bp, bs, ap, as_)


def _microprice(bp: float, bs: float, ap: float, as_: float) -> float:
    # Clamped so float rounding can never put it (by an ulp) outside [bid, ask].
    return min(max((bp * as_ + ap * bs) / (bs + as_), bp), ap)


def mid(snapshot: BookSnapshot) -> float:
    """``(best_bid + best_ask) / 2``."""
    validate_book(snapshot)
    return (snapshot.bids[0][0] + snapshot.asks[0][0]) / 2.0


def spread(snapshot: BookSnapshot) -> float:
    """``best_ask - best_bid`` in price units (> 0 for a valid book)."""
    validate_book(snapshot)
    return snapshot.asks[0][0] - snapshot.bids[0][0]


def spread_bps(snapshot: BookSnapshot) -> float:
    """The spread in basis points of the mid."""
    validate_book(snapshot)
    bp, ap = snapshot.bids[0][0], snapshot.asks[0][0]
    return (ap - bp) / ((ap + bp) / 2.0) * 10_000.0


def depth(snapshot: BookSnapshot, k: int = 5) -> tuple[float, float]:
    """``(bid size total, ask size total)`` over the top ``k`` levels."""
    _check_k(k)
    validate_book(snapshot)
    bid, ask, _, _ = _sums(snapshot, k)
    return bid, ask


class BookFactors:
    """Stream operator: one book snapshot in, the :data:`FACTOR_NAMES` values out.

    Stateless apart from ``k``; every value carries the snapshot's symbol and
    event time. Raises :class:`BookError` for an invalid book (nothing emitted).
    """

    __slots__ = ("k",)

    def __init__(self, k: int = 5) -> None:
        self.k = _check_k(k)

    def on_book(self, snapshot: BookSnapshot) -> list[FactorValue]:
        validate_book(snapshot)
        bid, ask, wbid, wask = _sums(snapshot, self.k)
        (bp, bs), (ap, as_) = snapshot.bids[0], snapshot.asks[0]
        mid_ = (bp + ap) / 2.0
        spread_ = ap - bp
        sym, ts = snapshot.symbol, snapshot.ts
        return [
            FactorValue(sym, ts, "obi", (bid - ask) / (bid + ask)),
            FactorValue(sym, ts, "obi_weighted", (wbid - wask) / (wbid + wask)),
            FactorValue(sym, ts, "microprice", _microprice(bp, bs, ap, as_)),
            FactorValue(sym, ts, "spread", spread_),
            FactorValue(sym, ts, "spread_bps", spread_ / mid_ * 10_000.0),
            FactorValue(sym, ts, "mid", mid_),
            FactorValue(sym, ts, "bid_depth", bid),
            FactorValue(sym, ts, "ask_depth", ask),
        ]
