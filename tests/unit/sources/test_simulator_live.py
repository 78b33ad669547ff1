"""The live simulator: event order, sessions, book/trade consistency, determinism, restart."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.calendars import ExchangeCalendar, get_calendar
from quantdesk.domain import BookSnapshot, StockState, Trade
from quantdesk.sources.simulator import MarketSimulator, default_universe, generate_history

XSHG = get_calendar("XSHG")
XNYS = get_calendar("XNYS")
CN = default_universe("cn")[:3]
FRIDAY = dt.date(2024, 3, 8)
MONDAY = dt.date(2024, 3, 11)
MINUTE = 60_000


def open_of(day: dt.date, cal: ExchangeCalendar = XSHG) -> int:
    return cal.day_segments(day)[0][0]


@pytest.fixture(scope="module")
def prior_states() -> dict[str, StockState]:
    _, states = generate_history(CN, XSHG, [dt.date(2024, 3, 7)], seed=9)
    return states


@pytest.fixture(scope="module")
def friday_events(prior_states: dict[str, StockState]) -> list[Trade | BookSnapshot]:
    sim = MarketSimulator(CN, XSHG, 9, start_ms=open_of(FRIDAY) - 3_600_000, states=prior_states)
    return sim.advance(open_of(MONDAY) + 30 * MINUTE)


def trades_of(events: list[Trade | BookSnapshot]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


def books_of(events: list[Trade | BookSnapshot]) -> list[BookSnapshot]:
    return [e for e in events if isinstance(e, BookSnapshot)]


def test_events_are_in_event_time_order(friday_events: list[Trade | BookSnapshot]) -> None:
    ts = [e.ts for e in friday_events]
    assert ts == sorted(ts)
    assert len(trades_of(friday_events)) > 10_000


def test_nothing_outside_sessions(friday_events: list[Trade | BookSnapshot]) -> None:
    assert all(XSHG.is_open(e.ts) for e in friday_events)
    minutes = {e.ts // MINUTE * MINUTE for e in friday_events}
    expected = set(XSHG.session_minutes(FRIDAY).tolist())
    expected |= set(XSHG.session_minutes(MONDAY)[:30].tolist())
    assert minutes == expected  # the whole of Friday, lunch and the weekend skipped


def test_trade_volume_per_minute_is_the_model_volume(
    friday_events: list[Trade | BookSnapshot], prior_states: dict[str, StockState]
) -> None:
    bars, _ = generate_history(CN, XSHG, [FRIDAY], seed=9, states=prior_states)
    trades = trades_of(friday_events)
    df = pd.DataFrame(
        {
            "symbol": [t.symbol for t in trades],
            "time": [t.ts // MINUTE * MINUTE for t in trades],
            "size": [t.size for t in trades],
        }
    )
    df = df[df["time"] < open_of(MONDAY)]
    got = df.groupby(["symbol", "time"])["size"].agg(["sum", "count"]).reset_index()
    merged = bars.merge(got, on=["symbol", "time"], how="outer", validate="1:1")
    assert len(merged) == len(bars)
    assert (merged["sum"] == merged["volume"]).all()
    assert (merged["count"] == merged["trades"]).all()


def test_book_snapshots_every_3_seconds(friday_events: list[Trade | BookSnapshot]) -> None:
    per_symbol: dict[str, list[int]] = defaultdict(list)
    for b in books_of(friday_events):
        per_symbol[b.symbol].append(b.ts)
    for sym in (m.symbol for m in CN):
        ts = np.array(per_symbol[sym])
        assert (ts % 3000 == 0).all()
        counts = np.unique(ts // MINUTE, return_counts=True)[1]
        assert (counts == 20).all()
        diffs = np.diff(ts)
        within = diffs[(ts[1:] % MINUTE) != 0]
        assert (within == 3000).all()


def test_book_levels_are_valid(friday_events: list[Trade | BookSnapshot]) -> None:
    for b in books_of(friday_events)[::7]:
        assert len(b.bids) == 5 and len(b.asks) == 5
        bids = [p for p, _ in b.bids]
        asks = [p for p, _ in b.asks]
        assert bids[0] < asks[0]
        assert all(x > y for x, y in itertools.pairwise(bids))
        assert all(x < y for x, y in itertools.pairwise(asks))
        for p, size in (*b.bids, *b.asks):
            assert p > 0 and abs(p * 100 - round(p * 100)) < 1e-6
            assert size >= 100 and size % 100 == 0


def test_trades_print_at_the_latest_best_bid_or_ask(
    friday_events: list[Trade | BookSnapshot],
) -> None:
    latest: dict[str, BookSnapshot] = {}
    sides: dict[str, int] = defaultdict(int)
    for e in friday_events:
        if isinstance(e, BookSnapshot):
            latest[e.symbol] = e
            continue
        book = latest[e.symbol]
        assert book.ts <= e.ts < book.ts + 3000
        if e.price == book.asks[0][0]:
            sides["buy"] += 1
        else:
            assert e.price == book.bids[0][0]
            sides["sell"] += 1
        assert e.size >= 100 and e.size % 100 == 0
    assert 0.4 < sides["buy"] / (sides["buy"] + sides["sell"]) < 0.6


def test_trade_ids_are_unique_and_sequential(friday_events: list[Trade | BookSnapshot]) -> None:
    ids: dict[str, list[int]] = defaultdict(list)
    for t in trades_of(friday_events):
        sym, seq = t.trade_id.rsplit("-", 1)  # type: ignore[union-attr]
        assert sym == t.symbol
        ids[sym].append(int(seq))
    for seqs in ids.values():
        assert seqs == list(range(1, len(seqs) + 1))


def test_deterministic_for_a_seed(prior_states: dict[str, StockState]) -> None:
    start = open_of(FRIDAY)
    a = MarketSimulator(CN, XSHG, 9, start_ms=start, states=prior_states).advance(
        start + 5 * MINUTE
    )
    b = MarketSimulator(CN, XSHG, 9, start_ms=start, states=prior_states).advance(
        start + 5 * MINUTE
    )
    c = MarketSimulator(CN, XSHG, 10, start_ms=start, states=prior_states).advance(
        start + 5 * MINUTE
    )
    assert a == b
    assert a != c


@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(0, 8 * MINUTE), max_size=6))
def test_chunked_advance_gives_the_same_events(cuts: list[int]) -> None:
    start = open_of(FRIDAY) + 118 * MINUTE  # across the lunch break
    end = start + 8 * MINUTE + 90 * MINUTE
    whole = MarketSimulator(CN, XSHG, 3, start_ms=start).advance(end)
    sim = MarketSimulator(CN, XSHG, 3, start_ms=start)
    pieces: list[Trade | BookSnapshot] = []
    for cut in sorted(cuts):
        pieces += sim.advance(start + cut)
    pieces += sim.advance(end)
    assert pieces == whole
    assert sim.now == end


def test_restart_from_states_continues(prior_states: dict[str, StockState]) -> None:
    start = open_of(FRIDAY)
    stop = start + 10 * MINUTE + 1500  # mid-minute
    sim = MarketSimulator(CN, XSHG, 9, start_ms=start, states=prior_states)
    before = sim.advance(stop)
    saved = sim.states()
    assert all(s.time == start + 10 * MINUTE for s in saved.values())
    again = MarketSimulator(CN, XSHG, 9, start_ms=stop, states=saved)
    after = again.advance(stop + 5 * MINUTE)
    assert after and min(e.ts for e in after) >= stop
    assert min(e.ts for e in after) == start + 11 * MINUTE
    ids_before = {t.trade_id for t in trades_of(before)}
    ids_after = {t.trade_id for t in trades_of(after)}
    assert not ids_before & ids_after
    for sym, s in saved.items():
        first_book = next(b for b in books_of(after) if b.symbol == sym)
        mid = (first_book.bids[0][0] + first_book.asks[0][0]) / 2
        assert mid == pytest.approx(s.price, rel=0.002)


def test_states_before_any_event(prior_states: dict[str, StockState]) -> None:
    sim = MarketSimulator(CN, XSHG, 9, start_ms=open_of(FRIDAY), states=prior_states)
    assert sim.states() == prior_states
    assert sim.advance(open_of(FRIDAY)) == []
    assert sim.next_event_time() == open_of(FRIDAY)


def test_closed_market_produces_nothing_and_time_moves_on() -> None:
    saturday_noon = open_of(FRIDAY) + 86_400_000
    sim = MarketSimulator(CN, XSHG, 1, start_ms=saturday_noon)
    assert sim.advance(saturday_noon + 6 * 3_600_000) == []
    assert sim.now == saturday_noon + 6 * 3_600_000
    assert sim.next_event_time() == open_of(MONDAY)


def test_test_mode_runs_continuously() -> None:
    saturday = open_of(FRIDAY) + 86_400_000 + 17  # not minute aligned
    sim = MarketSimulator(CN, XSHG, 1, start_ms=saturday, test_mode=True)
    events = sim.advance(saturday + 300 * MINUTE)
    minutes = {e.ts // MINUTE for e in events}
    first = saturday // MINUTE + 1
    assert minutes == set(range(first, first + 300))
    assert not any(XSHG.is_open(e.ts) for e in events)
    trades = trades_of(events)
    closes: dict[str, list[float]] = defaultdict(list)
    for t in trades:
        closes[t.symbol].append(t.price)
    for m in CN:
        px = np.array(closes[m.symbol])
        assert np.abs(np.diff(np.log(px))).max() < 0.02  # no overnight gaps


def test_us_market_whole_shares() -> None:
    us = default_universe("us")[:2]
    day = dt.date(2024, 3, 8)
    start = open_of(day, XNYS)
    events = MarketSimulator(us, XNYS, 2, start_ms=start).advance(start + 20 * MINUTE)
    trades = trades_of(events)
    assert trades and all(t.size >= 1 and t.size == int(t.size) for t in trades)
    assert any(t.size % 100 for t in trades)
    assert all(XNYS.is_open(e.ts) for e in events)
    assert min(e.ts for e in events) == start


@settings(max_examples=8, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 23 * 60 * MINUTE), min_size=1, max_size=4, unique=True),
    at=st.integers(0, 3),
)
def test_a_restored_snapshot_continues_exactly(
    prior_states: dict[str, StockState],
    friday_events: list[Trade | BookSnapshot],
    cuts: list[int],
    at: int,
) -> None:
    """Snapshot at any instant (mid-minute, lunch, overnight), restore into a new simulator
    (through JSON, as the runner's checkpoint does): the same events as never stopping."""
    import json

    start = open_of(FRIDAY) - 3_600_000
    end = open_of(MONDAY) + 30 * MINUTE
    sim = MarketSimulator(CN, XSHG, 9, start_ms=start, states=prior_states)
    got: list[Trade | BookSnapshot] = []
    times = sorted(open_of(FRIDAY) + c for c in cuts)
    stop_at = times[min(at, len(times) - 1)]
    for t in times:
        got += sim.advance(t)
        if t == stop_at:
            snap = json.loads(json.dumps(sim.snapshot()))
            sim = MarketSimulator(CN, XSHG, 9, start_ms=int(snap["now"]))
            sim.restore(snap)
            assert sim.now == t
    got += sim.advance(end)
    assert got == friday_events


def test_a_snapshot_of_another_universe_is_refused(prior_states: dict[str, StockState]) -> None:
    from quantdesk.errors import CheckpointError

    sim = MarketSimulator(CN, XSHG, 9, start_ms=open_of(FRIDAY), states=prior_states)
    sim.advance(open_of(FRIDAY) + 90_500)
    snap = sim.snapshot()
    with pytest.raises(CheckpointError, match="another universe"):
        MarketSimulator(CN[:2], XSHG, 9, start_ms=open_of(FRIDAY)).restore(snap)
    with pytest.raises(CheckpointError, match="another seed"):
        MarketSimulator(CN, XSHG, 10, start_ms=open_of(FRIDAY)).restore(snap)
