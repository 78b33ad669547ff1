"""History generation: bar shape, invariants, sessions, determinism, continuation."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.calendars import get_calendar
from quantdesk.domain import BAR_COLUMNS, StockMeta
from quantdesk.errors import DataError
from quantdesk.sources.simulator import (
    REGIMES,
    SimulatorParams,
    default_universe,
    generate_history,
)
from tests.unit.sources.conftest import make_universe, wide

XSHG = get_calendar("XSHG")
DAYS = XSHG.trading_days(dt.date(2024, 3, 1), dt.date(2024, 4, 30))[:20]


def assert_ohlc_valid(df: pd.DataFrame, lot: int = 100) -> None:
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "vwap"))
    assert (lo <= o).all() and (lo <= c).all() and (lo <= v).all()
    assert (o <= h).all() and (c <= h).all() and (v <= h).all()
    assert (lo >= 0.01).all()
    for prices in (o, h, lo, c):
        cents = prices * 100
        assert np.abs(cents - np.rint(cents)).max() < 1e-6
    vol = df["volume"].to_numpy()
    assert (vol % lot == 0).all()
    trades = df["trades"].to_numpy()
    assert (trades >= 1).all() and (trades <= vol / lot).all()


def test_bar_frame_shape_and_dtypes() -> None:
    universe = default_universe("cn")
    df, states = generate_history(universe, XSHG, DAYS[:2], seed=1)
    assert list(df.columns) == list(BAR_COLUMNS)
    assert len(df) == 2 * 240 * 10
    assert df["time"].dtype == np.int64 and df["trades"].dtype == np.int64
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        assert df[col].dtype == np.float64
    assert set(df["interval"]) == {"1m"} and set(df["source"]) == {"simulator"}
    assert list(df["symbol"][:10]) == [m.symbol for m in universe]
    assert df["time"].is_monotonic_increasing
    assert set(states) == {m.symbol for m in universe}
    assert_ohlc_valid(df)


def _hhmm(start: int, stop: int) -> set[int]:
    """Local clock times HHMM of the minutes in [start, stop) (minutes after midnight)."""
    return {(m // 60) * 100 + m % 60 for m in range(start, stop)}


@pytest.mark.parametrize("market", ["cn", "us"])
def test_bars_only_in_session_minutes(market: str) -> None:
    cal = get_calendar(market)
    # every calendar date of a period with weekends and holidays (Spring Festival, Presidents' Day)
    start = dt.date(2024, 2, 5)
    days = [start + dt.timedelta(days=i) for i in range(21)]
    df, _ = generate_history(default_universe(market)[:3], cal, days, seed=2)
    times = df["time"].to_numpy()
    expected = np.concatenate([cal.session_minutes(d) for d in cal.trading_days(days[0], days[-1])])
    np.testing.assert_array_equal(np.unique(times), expected)
    assert (df.groupby("time").size() == 3).all()
    assert all(cal.is_open(int(t)) for t in np.unique(times))
    local = pd.to_datetime(np.unique(times), unit="ms", utc=True).tz_convert(cal.tz)
    hhmm = local.hour * 100 + local.minute
    if market == "cn":
        expected_hhmm = _hhmm(9 * 60 + 30, 11 * 60 + 30) | _hhmm(13 * 60, 15 * 60)
        assert set(hhmm) == expected_hhmm
        assert not ((hhmm >= 1130) & (hhmm < 1300)).any()
    else:
        assert set(hhmm) == _hhmm(9 * 60 + 30, 16 * 60)
    assert (times % 60_000 == 0).all()
    assert len(set(local.date)) == len(cal.trading_days(days[0], days[-1]))


def test_deterministic_for_a_seed() -> None:
    universe = default_universe("cn")
    a, sa = generate_history(universe, XSHG, DAYS[:3], seed=7)
    b, sb = generate_history(universe, XSHG, DAYS[:3], seed=7)
    c, _ = generate_history(universe, XSHG, DAYS[:3], seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert sa == sb
    assert not np.array_equal(a["close"].to_numpy(), c["close"].to_numpy())


def test_continuation_from_states_is_seamless() -> None:
    universe = default_universe("cn")
    whole, end_whole = generate_history(universe, XSHG, DAYS, seed=3)
    first, mid = generate_history(universe, XSHG, DAYS[:10], seed=3)
    second, end = generate_history(universe, XSHG, DAYS[10:], seed=3, states=mid)
    # the states carry everything: two runs equal one
    joined = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole, check_exact=False, rtol=1e-12)
    for sym, s in end.items():
        assert s.regime == end_whole[sym].regime
        assert s.price == pytest.approx(end_whole[sym].price, rel=1e-12)
    # price continuity: the first open is the stored close unless the day gapped
    last = first[first["time"] == first["time"].max()].set_index("symbol")
    head = second[second["time"] == second["time"].min()].set_index("symbol")
    for sym, s in mid.items():
        assert s.time == first["time"].max()
        assert last.loc[sym, "close"] == round(s.price, 2)
        jump = abs(math.log(head.loc[sym, "open"] / s.price))
        assert head.loc[sym, "open"] == round(s.price, 2) or jump < 0.15
    assert second["time"].min() == XSHG.session_minutes(DAYS[10])[0]


def test_continuation_without_gaps_opens_at_the_last_close() -> None:
    params = SimulatorParams(gap_rate=0.0)
    universe = default_universe("cn")
    first, mid = generate_history(universe, XSHG, DAYS[:3], seed=4, params=params)
    second, _ = generate_history(universe, XSHG, DAYS[3:5], seed=4, states=mid, params=params)
    head = second[second["time"] == second["time"].min()].set_index("symbol")["open"]
    tail = first[first["time"] == first["time"].max()].set_index("symbol")["close"]
    pd.testing.assert_series_equal(head, tail, check_names=False)


def test_state_fields() -> None:
    df, states = generate_history(default_universe("cn"), XSHG, DAYS[:2], seed=5)
    last = int(df["time"].max())
    for meta in default_universe("cn"):
        s = states[meta.symbol]
        assert s.time == last
        assert s.regime in REGIMES
        countdown = s.extra["regime_countdown"]
        assert 1 <= countdown <= 120
        assert XSHG.is_open(s.next_regime_check) and s.next_regime_check > s.time
        n_between = sum(
            int(
                (
                    (XSHG.session_minutes(d) > s.time)
                    & (XSHG.session_minutes(d) <= s.next_regime_check)
                ).sum()
            )
            for d in XSHG.trading_days(DAYS[1], DAYS[1] + dt.timedelta(days=7))
        )
        assert n_between == countdown
        assert s.volatility > 0 and s.trend in (0.15, 0.0, -0.15)
        assert s.extra["last_volume"] == df[df["symbol"] == meta.symbol]["volume"].iloc[-1]


def test_minutes_before_the_stored_state_are_not_regenerated() -> None:
    universe = default_universe("cn")[:2]
    _, states = generate_history(universe, XSHG, DAYS[:3], seed=6)
    again, same = generate_history(universe, XSHG, DAYS[:3], seed=6, states=states)
    assert again.empty and list(again.columns) == list(BAR_COLUMNS)
    assert same == states


def test_universe_on_another_calendar_is_rejected() -> None:
    with pytest.raises(DataError, match=r"AAPL.*XNYS"):
        generate_history(default_universe("us"), XSHG, DAYS[:1], seed=1)


def test_bad_state_is_rejected() -> None:
    universe = default_universe("cn")[:1]
    _, states = generate_history(universe, XSHG, DAYS[:1], seed=1)
    states[universe[0].symbol].regime = "crash"
    with pytest.raises(DataError, match="regime"):
        generate_history(universe, XSHG, DAYS[1:2], seed=1, states=states)


metas = st.builds(
    StockMeta,
    symbol=st.just("X"),
    name=st.just("x"),
    market=st.just("cn"),
    sector=st.sampled_from(["a", "b"]),
    base_price=st.floats(0.02, 5000),
    volatility=st.floats(0.01, 2.0),
    base_volume=st.floats(1, 1e7),
    calendar=st.just("XSHG"),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stocks=st.lists(metas, min_size=1, max_size=4),
    seed=st.integers(0, 2**63),
    n_days=st.integers(1, 3),
    jump_rate=st.sampled_from([0.0, 0.05]),
    gap_rate=st.sampled_from([0.0, 1.0]),
)
def test_ohlc_and_volume_invariants(
    stocks: list[StockMeta], seed: int, n_days: int, jump_rate: float, gap_rate: float
) -> None:
    universe = [
        StockMeta(
            f"X{i}",
            m.name,
            m.market,
            m.sector,
            m.base_price,
            m.volatility,
            m.base_volume,
            m.calendar,
        )
        for i, m in enumerate(stocks)
    ]
    params = SimulatorParams(jump_rate=jump_rate, gap_rate=gap_rate, jump_sigma=0.05)
    df, states = generate_history(universe, XSHG, DAYS[:n_days], seed=seed, params=params)
    assert_ohlc_valid(df)
    base = np.array([m.base_volume for m in universe])
    assert (wide(df, "volume") >= 0.3 * base).all()
    assert all(s.price > 0 for s in states.values())


def test_us_volumes_are_whole_shares() -> None:
    cal = get_calendar("XNYS")
    universe = make_universe(3, market="us", base_volume=1234.5)
    df, _ = generate_history(
        universe, cal, cal.trading_days(dt.date(2024, 3, 4), dt.date(2024, 3, 5)), 1
    )
    assert len(df) == 2 * 390 * 3
    assert_ohlc_valid(df, lot=1)
    assert (df["volume"] >= 0.3 * 1234.5).all()


def test_next_regime_check_counts_session_minutes() -> None:
    from quantdesk.sources.simulator.timeline import SessionTimeline

    tl = SessionTimeline(XSHG)
    day = DAYS[0]
    mins = XSHG.session_minutes(day)
    assert tl.minute_after(int(mins[0]), 1) == mins[1]
    assert tl.minute_after(int(mins[119]), 1) == mins[120]  # 11:29 -> 13:00
    nxt = XSHG.session_minutes(DAYS[1])
    assert tl.minute_after(int(mins[-1]), 1) == nxt[0]
    assert tl.minute_after(int(mins[-10]), 130) == nxt[120]
    assert tl.minute_after(-60_000, 1) == XSHG.opens[0]


def test_empty_days_keep_the_states() -> None:
    universe = default_universe("cn")[:2]
    df, states = generate_history(universe, XSHG, [], seed=1)
    assert df.empty and set(states) == {m.symbol for m in universe}
    for s, m in zip(states.values(), universe, strict=True):
        assert s.price == pytest.approx(m.base_price, rel=1e-12)
