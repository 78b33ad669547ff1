"""Book factors: hand-computed values, invariants (Hypothesis) and rejected books."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantdesk.domain.messages import BookSnapshot
from quantdesk.errors import ConfigError, DataError
from quantdesk.stream.factors import (
    BOOK_ERROR_REASONS,
    FACTOR_NAMES,
    BookError,
    BookFactors,
    depth,
    microprice,
    mid,
    obi,
    spread,
    spread_bps,
    validate_book,
    weighted_obi,
)

Levels = tuple[tuple[float, float], ...]


def book(bids: Levels, asks: Levels, symbol: str = "000001.SZ", ts: int = 1_000) -> BookSnapshot:
    return BookSnapshot(symbol=symbol, ts=ts, bids=bids, asks=asks)


BOOK = book(
    bids=((10.00, 300.0), (9.99, 200.0), (9.98, 100.0)),
    asks=((10.02, 100.0), (10.03, 200.0), (10.04, 400.0)),
)


# -- hand-computed -----------------------------------------------------------


def test_obi_hand_computed() -> None:
    assert obi(BOOK, k=5) == pytest.approx((600 - 700) / 1300)
    assert obi(BOOK, k=1) == pytest.approx(0.5)
    assert obi(BOOK, k=2) == pytest.approx((500 - 300) / 800)


def test_weighted_obi_uses_one_over_level_weights() -> None:
    wbid = 300 + 200 / 2 + 100 / 3
    wask = 100 + 200 / 2 + 400 / 3
    assert weighted_obi(BOOK, k=3) == pytest.approx((wbid - wask) / (wbid + wask))
    assert weighted_obi(BOOK, k=3) == pytest.approx(3 / 23)
    assert weighted_obi(BOOK, k=1) == obi(BOOK, k=1)


def test_microprice_spread_mid_depth_hand_computed() -> None:
    assert microprice(BOOK) == pytest.approx((10.00 * 100 + 10.02 * 300) / 400)
    assert microprice(BOOK) == pytest.approx(10.015)
    assert spread(BOOK) == pytest.approx(0.02)
    assert mid(BOOK) == pytest.approx(10.01)
    assert spread_bps(BOOK) == pytest.approx(0.02 / 10.01 * 10_000)
    assert depth(BOOK, k=2) == (500.0, 300.0)
    assert depth(BOOK) == (600.0, 700.0)


def test_book_factors_operator_emits_every_factor_in_order() -> None:
    values = BookFactors(k=5).on_book(BOOK)
    assert tuple(v.name for v in values) == FACTOR_NAMES
    assert all(v.symbol == "000001.SZ" and v.ts == 1_000 for v in values)
    got = {v.name: v.value for v in values}
    assert got == pytest.approx(
        {
            "obi": obi(BOOK, 5),
            "obi_weighted": weighted_obi(BOOK, 5),
            "microprice": microprice(BOOK),
            "spread": spread(BOOK),
            "spread_bps": spread_bps(BOOK),
            "mid": mid(BOOK),
            "bid_depth": 600.0,
            "ask_depth": 700.0,
        }
    )


def test_k_larger_than_the_book_uses_the_levels_there_are() -> None:
    one = book(bids=((10.0, 5.0),), asks=((10.1, 15.0),))
    assert obi(one, k=10) == pytest.approx(-0.5)
    assert weighted_obi(one, k=20) == pytest.approx(-0.5)
    assert depth(one, k=10) == (5.0, 15.0)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_is_a_config_error(k: object) -> None:
    with pytest.raises(ConfigError, match="k must be an integer"):
        BookFactors(k=k)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        obi(BOOK, k=k)  # type: ignore[arg-type]


# -- invariants ----------------------------------------------------------------

sizes = st.floats(min_value=1e-3, max_value=1e7, allow_nan=False)


@st.composite
def books(draw: st.DrawFn) -> BookSnapshot:
    tick = draw(st.sampled_from([0.0001, 0.01, 0.5]))
    best_bid = draw(st.integers(min_value=1, max_value=100_000)) * tick
    gap = draw(st.integers(min_value=1, max_value=50)) * tick
    n_bid = draw(st.integers(min_value=1, max_value=5))
    n_ask = draw(st.integers(min_value=1, max_value=5))
    bids = tuple(
        (best_bid - i * tick, draw(sizes)) for i in range(n_bid) if best_bid - i * tick > 0
    )
    asks = tuple((best_bid + gap + i * tick, draw(sizes)) for i in range(n_ask))
    return book(bids=bids, asks=asks)


ks = st.integers(min_value=1, max_value=7)


@given(books(), ks)
def test_obi_is_bounded_and_signed_by_depth(b: BookSnapshot, k: int) -> None:
    value = obi(b, k)
    assert -1.0 <= value <= 1.0
    bid, ask = depth(b, k)
    if bid > ask:
        assert value > 0
    elif bid < ask:
        assert value < 0
    else:
        assert value == 0
    assert -1.0 <= weighted_obi(b, k) <= 1.0


@given(books(), ks)
def test_swapping_the_sides_negates_obi(b: BookSnapshot, k: int) -> None:
    # Same prices, bid and ask sizes exchanged level by level where both exist.
    n = min(len(b.bids), len(b.asks))
    bids = tuple((p, a[1]) for (p, _), a in zip(b.bids[:n], b.asks[:n], strict=True))
    asks = tuple((p, s[1]) for (p, _), s in zip(b.asks[:n], b.bids[:n], strict=True))
    original = book(bids=b.bids[:n], asks=b.asks[:n])
    mirrored = book(bids=bids, asks=asks)
    assert obi(mirrored, k) == pytest.approx(-obi(original, k), abs=1e-12)
    assert weighted_obi(mirrored, k) == pytest.approx(-weighted_obi(original, k), abs=1e-12)


@given(books())
def test_microprice_lies_between_best_bid_and_best_ask(b: BookSnapshot) -> None:
    (bp, bs), (ap, as_) = b.bids[0], b.asks[0]
    value = microprice(b)
    assert bp <= value <= ap
    # Leans toward the side with the smaller queue (the likelier next move).
    if bs > as_:
        assert value >= mid(b) - 1e-9 * ap
    elif bs < as_:
        assert value <= mid(b) + 1e-9 * ap


@given(books(), ks)
def test_operator_matches_the_pure_functions(b: BookSnapshot, k: int) -> None:
    got = {v.name: v.value for v in BookFactors(k).on_book(b)}
    assert got["obi"] == obi(b, k)
    assert got["obi_weighted"] == weighted_obi(b, k)
    assert got["microprice"] == microprice(b)
    assert got["spread"] == spread(b) > 0
    assert got["spread_bps"] == spread_bps(b) > 0
    assert got["mid"] == mid(b)
    assert (got["bid_depth"], got["ask_depth"]) == depth(b, k)


# -- rejected books ----------------------------------------------------------

NAN = math.nan
INF = math.inf
GOOD_BIDS: Levels = ((10.0, 100.0), (9.99, 100.0))
GOOD_ASKS: Levels = ((10.01, 100.0), (10.02, 100.0))


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ((), GOOD_ASKS, "empty_side"),
        (GOOD_BIDS, (), "empty_side"),
        (((10.01, 100.0),), GOOD_ASKS, "crossed"),  # locked: bid == ask
        (((10.5, 100.0),), GOOD_ASKS, "crossed"),
        (((10.0, 0.0),), GOOD_ASKS, "bad_size"),
        (GOOD_BIDS, ((10.01, 100.0), (10.02, -5.0)), "bad_size"),
        (((0.0, 100.0),), GOOD_ASKS, "bad_price"),
        (GOOD_BIDS, ((-10.01, 100.0),), "bad_price"),
        (((NAN, 100.0),), GOOD_ASKS, "not_finite"),
        (((10.0, NAN),), GOOD_ASKS, "not_finite"),
        (GOOD_BIDS, ((INF, 100.0),), "not_finite"),
        (GOOD_BIDS, ((10.01, INF),), "not_finite"),
        (((9.99, 100.0), (10.0, 100.0)), GOOD_ASKS, "unsorted"),
        (GOOD_BIDS, ((10.01, 100.0), (10.01, 50.0)), "unsorted"),
    ],
)
def test_invalid_books_are_rejected_with_a_reason(bids: Levels, asks: Levels, reason: str) -> None:
    bad = book(bids=bids, asks=asks)
    with pytest.raises(BookError) as info:
        BookFactors().on_book(bad)
    assert info.value.reason == reason
    assert info.value.reason in BOOK_ERROR_REASONS
    assert isinstance(info.value, DataError)
    message = str(info.value)
    assert "\n" not in message and "000001.SZ" in message
    for fn in (validate_book, microprice, spread, mid, spread_bps, obi, weighted_obi, depth):
        with pytest.raises(BookError):
            fn(bad)


def test_valid_book_passes_validation() -> None:
    validate_book(BOOK)


def _is_valid(b: BookSnapshot) -> bool:
    """An independent statement of what a valid book is."""
    if not b.bids or not b.asks:
        return False
    numbers = [x for level in b.bids + b.asks for x in level]
    if not all(math.isfinite(x) and x > 0 for x in numbers):
        return False
    bid_prices = [p for p, _ in b.bids]
    ask_prices = [p for p, _ in b.asks]
    return (
        all(x > y for x, y in itertools.pairwise(bid_prices))
        and all(x < y for x, y in itertools.pairwise(ask_prices))
        and bid_prices[0] < ask_prices[0]
    )


anything = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 2.0, 3.0])
any_levels = st.lists(st.tuples(anything, anything), max_size=4).map(tuple)


@given(any_levels, any_levels)
def test_validation_accepts_exactly_the_valid_books(bids: Levels, asks: Levels) -> None:
    b = book(bids=bids, asks=asks)
    try:
        validate_book(b)
    except BookError as exc:
        assert exc.reason in BOOK_ERROR_REASONS
        assert not _is_valid(b)
    else:
        assert _is_valid(b)
