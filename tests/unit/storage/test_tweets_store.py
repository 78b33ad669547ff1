"""tweets and tweet_symbols on both backends: round trip, idempotent upserts, edits, ranges."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.domain import ScoredTweet
from quantdesk.errors import DataError
from quantdesk.storage import Store, open_store

T = 1_795_138_200_000
SEC = 1_000


def tweet(n: int, *symbols: str, **kw: object) -> ScoredTweet:
    base = ScoredTweet(
        id=str(1_900_000_000_000_000_000 + n),
        time=T + n * SEC,
        text=f"tweet {n} about {' '.join('$' + s for s in symbols)}",
        symbols=symbols,
        score=0.5,
        label="positive",
        source="mocker",
        author_id="42",
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_round_trip(store: Store) -> None:
    tricky = tweet(
        1,
        "AAPL",
        "TSLA",
        text='<script>alert(1)</script> "quotes" \\ 😀 𝕏 日本語 \n line',
        score=-1.0,
        label="negative",
        author_id=None,
    )
    plain = tweet(2, source="twitter")  # names no universe stock
    assert store.upsert_tweets([tricky, plain]) == 2
    assert store.query_tweets() == [tricky, plain]
    assert store.query_tweets("AAPL") == [tricky]
    assert store.query_tweets("TSLA") == [tricky]
    assert store.query_tweets("MSFT") == []
    assert store.upsert_tweets([]) == 0


def test_same_tweet_twice_is_one_row(store: Store) -> None:
    rows = [tweet(n, "AAPL") for n in range(5)]
    store.upsert_tweets(rows)
    store.upsert_tweets(rows[:3])  # redelivered
    store.upsert_tweets([rows[0], rows[0]])  # twice in one batch
    assert store.query_tweets() == rows
    assert store.query_tweets("AAPL") == rows


def test_rescored_tweet_replaces_its_row(store: Store) -> None:
    t = tweet(1, "AAPL")
    store.upsert_tweets([t])
    again = dataclasses.replace(t, score=-0.25, label="negative")
    assert store.upsert_tweets([again]) == 1
    assert store.query_tweets("AAPL") == [again]


def test_an_edit_replaces_the_row_and_its_symbols(store: Store) -> None:
    first = tweet(1, "AAPL", "TSLA")
    store.upsert_tweets([first, tweet(2, "AAPL")])
    # Twitter gives the edit a new, larger id and a new created_at; its
    # edit_history_tweet_ids start with the first id, which stays the key.
    edit = dataclasses.replace(
        first,
        version_id=str(int(first.id) + 10**9),
        time=T + 60 * SEC,
        text="edited: only $MSFT now",
        symbols=("MSFT",),
        score=-0.5,
        label="negative",
    )
    assert store.upsert_tweets([edit]) == 1
    assert [t.id for t in store.query_tweets()] == [tweet(2).id, first.id]
    assert store.query_tweets("MSFT") == [edit]
    assert store.query_tweets("TSLA") == []
    assert [t.id for t in store.query_tweets("AAPL")] == [tweet(2).id]
    # the old version delivered again (late, or replayed) does not undo the edit
    assert store.upsert_tweets([first]) == 0
    assert store.query_tweets("MSFT") == [edit] and store.query_tweets("TSLA") == []
    # nor does it within one batch, in either order
    store.upsert_tweets([edit, first])
    store.upsert_tweets([first, edit])
    assert store.query_tweets(first.symbols[0]) == [tweet(2, "AAPL")]
    assert store.query_tweets("MSFT") == [edit]


def test_symbol_ranges_and_limits(store: Store) -> None:
    rows = [tweet(n, "AAPL" if n % 2 else "TSLA", "NVDA") for n in range(20)]
    store.upsert_tweets(rows)
    aapl = [r for r in rows if "AAPL" in r.symbols]
    assert store.query_tweets("AAPL") == aapl
    # the newest `limit`, oldest first
    assert store.query_tweets("AAPL", limit=3) == aapl[-3:]
    assert store.query_tweets(limit=4) == rows[-4:]
    # [start, end): start inclusive, end exclusive
    got = store.query_tweets("NVDA", start=T + 5 * SEC, end=T + 9 * SEC)
    assert [r.time for r in got] == [T + k * SEC for k in (5, 6, 7, 8)]
    got = store.query_tweets("AAPL", start=T + 5 * SEC, end=T + 15 * SEC, limit=2)
    assert [r.time for r in got] == [T + 11 * SEC, T + 13 * SEC]
    assert store.query_tweets(end=T + 2 * SEC) == rows[:2]
    # paging back with end = the first row's time
    page = store.query_tweets("NVDA", limit=8)
    older = store.query_tweets("NVDA", end=page[0].time, limit=8)
    assert older + page == rows[-16:]


def test_same_millisecond_ties_are_ordered_by_id(store: Store) -> None:
    rows = [tweet(n, "AAPL", time=T) for n in (3, 1, 2)]
    store.upsert_tweets(rows)
    assert [r.id for r in store.query_tweets("AAPL")] == sorted(r.id for r in rows)
    assert store.query_tweets("AAPL", limit=1)[0].id == max(r.id for r in rows)


def test_invalid_rows_are_refused_before_writing(store: Store) -> None:
    with pytest.raises(DataError, match="score must be in"):
        store.upsert_tweets([tweet(1, "AAPL"), tweet(2, score=1.5)])
    with pytest.raises(DataError, match="empty id"):
        store.upsert_tweets([tweet(3, id="")])
    assert store.query_tweets() == []


def test_nul_in_text(store: Store) -> None:
    store.upsert_tweets([tweet(1, "AAPL", text="a\x00b")])
    (got,) = store.query_tweets("AAPL")
    # PostgreSQL text cannot hold NUL: it becomes U+FFFD there
    assert got.text in ("a\x00b", "a\ufffdb")


_SYMBOLS = (("AAPL",), ("TSLA", "MSFT"), (), ("AAPL", "MSFT"), ("TSLA",))


@settings(max_examples=60, deadline=None)
@given(
    deliveries=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), max_size=25),
    chunk=st.integers(1, 6),
)
def test_any_delivery_order_keeps_the_latest_version(
    deliveries: list[tuple[int, int]], chunk: int
) -> None:
    def version(n: int, v: int) -> ScoredTweet:
        # an edit has a larger id (here: a longer one), a later time, maybe other symbols
        return tweet(
            n,
            *_SYMBOLS[(n + v) % len(_SYMBOLS)],
            version_id=str(10**18 + n) + "7" * v,
            time=T + v * 60 * SEC + n,
            text=f"tweet {n} version {v}",
        )

    rows = [version(n, v) for n, v in deliveries]
    with open_store("sqlite://") as store:
        for i in range(0, len(rows), chunk):
            store.upsert_tweets(rows[i : i + chunk])
        store.upsert_tweets(rows[: len(rows) // 2])  # a partial redelivery
        latest = {n: max(v for m, v in deliveries if m == n) for n, _ in deliveries}
        expected = sorted((version(n, v) for n, v in latest.items()), key=lambda r: r.time)
        assert store.query_tweets() == expected
        for symbol in ("AAPL", "TSLA", "MSFT"):
            assert store.query_tweets(symbol) == [r for r in expected if symbol in r.symbols]
