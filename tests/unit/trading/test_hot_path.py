"""The backtest hot path's shortcuts answer what the general path answers.

Each shortcut (the usual order shape, whole lots, a whole cross-section of
closes) has a general path beside it; these tests drive both with the same
input and compare, down to a whole backtest with the shortcut switched off.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.backtest import run_backtest
from quantdesk.calendars import get_calendar
from quantdesk.config import load_settings
from quantdesk.domain.trading import Fill, Order, OrderType, Side, TimeInForce
from quantdesk.trading.history import FIELDS, BarHistory
from quantdesk.trading.market import MarketRules, rules_for
from quantdesk.trading.orders import OrderRequest, counter_ids
from quantdesk.trading.quotes import MarketView
from tests.unit.trading.helpers import cn


class _Text(str):
    """A str subclass: the shortcut declines it, the full checks accept it."""


class _Count(int):
    """An int subclass: the shortcut declines it, the full checks accept it."""


requests = st.builds(
    OrderRequest,
    symbol=st.sampled_from(["600000.SH", " ", "", _Text("600001.SH"), 600000]),
    side=st.sampled_from([Side.BUY, Side.SELL, "buy", None]),
    quantity=st.one_of(
        st.integers(-300, 3000),
        st.booleans(),
        st.sampled_from([np.int64(100), 100.0, _Count(200), "100"]),
    ),
    type=st.sampled_from([OrderType.MARKET, OrderType.LIMIT, "market"]),
    limit_price=st.sampled_from([None, D("10.01"), D("0"), D("-1"), D("NaN"), 10.01]),
    time_in_force=st.sampled_from(list(TimeInForce)),
)


@settings(max_examples=400, deadline=None)
@given(requests)
def test_order_shape_shortcut_answers_what_the_full_checks_answer(req: OrderRequest) -> None:
    assert req.shape_error() == req.shape_error_in_full()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["cn", "us", "lot0"]),
    st.sampled_from(list(Side)),
    st.one_of(
        st.integers(-500, 5000),
        st.booleans(),
        st.sampled_from([np.int64(100), 100.0, _Count(300), _Count(150)]),
    ),
    st.integers(0, 1000),
)
def test_whole_lot_shortcut_answers_what_the_full_checks_answer(
    market: str, side: Side, quantity: Any, held: int
) -> None:
    if market == "lot0":  # no lot size at all
        rules = MarketRules(name="x", calendar_name="XNYS", currency="USD", lot_size=0)
    else:
        rules = rules_for(market, load_settings())
    assert rules.quantity_error(side, quantity, held) == rules.quantity_error_in_full(
        side, quantity, held
    )


def test_counter_ids() -> None:
    ids = counter_ids("o")
    assert [ids() for _ in range(3)] == ["o000001", "o000002", "o000003"]
    odd = counter_ids("{x}-")
    assert odd() == "{x}-000001"
    assert counter_ids("a")() == "a000001"  # each factory counts on its own


def _general(view: MarketView, idx: Any) -> Any:
    """A whole-slice index as the equivalent index array (the general path)."""
    return np.arange(len(view.symbols))[idx] if isinstance(idx, slice) else idx


events = st.lists(
    st.one_of(
        st.tuples(st.just("whole"), st.integers(0, 2)),  # day step 0, 1 or 2
        st.tuples(st.just("part"), st.integers(0, 2)),
        st.tuples(st.just("price"), st.integers(0, 2)),
        st.tuples(st.just("seed"), st.integers(0, 2)),
        st.tuples(st.just("add"), st.integers(0, 2)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(events, st.integers(0, 2**32 - 1))
def test_whole_cross_section_shortcut_moves_prices_like_the_general_path(
    evs: list[tuple[str, int]], seed: int
) -> None:
    rules = cn()
    syms = [f"{600000 + k:06d}.SH" for k in range(5)]
    fast, general = MarketView(rules, syms), MarketView(rules, syms)
    rng = np.random.default_rng(seed)
    day, t, extra = 10, 1_700_000_000_000, 0
    for kind, step in evs:
        day += step
        t += 60_000
        n = len(fast.symbols)
        close = np.round(rng.uniform(5, 15, n), 2)
        if kind == "whole":
            fast.on_cross_section(slice(0, n), t, day, close)
            general.on_cross_section(_general(general, slice(0, n)), t, day, close)
        elif kind == "part":
            idx = np.flatnonzero(rng.random(n) < 0.6)
            for v in (fast, general):
                v.on_cross_section(idx, t, day, close[idx])
        elif kind == "price":
            k = int(rng.integers(n))
            for v in (fast, general):
                v.on_price(fast.symbols[k], t, float(close[k]), day)
        elif kind == "seed":
            k = int(rng.integers(n))
            for v in (fast, general):
                v.seed_close(fast.symbols[k], float(close[k]), day - 1)
        else:
            extra += 1
            for v in (fast, general):
                v.add(f"{688000 + extra:06d}.SH")
        m = len(fast.symbols)
        for name in ("last", "prev_close", "day", "time"):
            a: npt.NDArray[Any] = getattr(fast, name)[:m]
            b: npt.NDArray[Any] = getattr(general, name)[:m]
            assert np.array_equal(a, b, equal_nan=name in ("last", "prev_close")), name
        for s in fast.symbols:
            assert fast.band(s, day) == general.band(s, day)


def _panel() -> BarHistory:
    """Volatile daily bars with gaps (limit-up and limit-down days, missing bars, thin
    volume): every branch of the bar matching, and whole and partial cross-sections."""
    cal = get_calendar("cn")
    days = cal.trading_days(dt.date(2024, 1, 2), dt.date(2024, 12, 31))[:120]
    t = np.array([cal.day_segments(d)[0][0] for d in days], dtype=np.int64)
    rng = np.random.default_rng(5)
    n = 12
    ret = np.clip(rng.normal(0, 0.06, (len(t), n)), -0.1, 0.1)
    c = np.round(10 * np.exp(np.cumsum(ret, axis=0)), 2)
    o = np.round(c * np.exp(rng.normal(0, 0.03, c.shape)), 2)
    data = {
        "open": o,
        "high": np.maximum(o, c) * 1.01,
        "low": np.minimum(o, c) * 0.99,
        "close": c,
        "volume": rng.choice([0.0, 300.0, 2e4, 2e6], size=c.shape, p=[0.05, 0.1, 0.25, 0.6]),
    }
    gaps = rng.random(c.shape) < 0.03
    gaps[::4] = False  # most steps are whole cross-sections
    syms = [(f"{600000 + k:06d}.SH" if k % 3 else f"{300000 + k:06d}.SZ") for k in range(n)]
    return BarHistory(syms, t, {f: np.where(gaps, np.nan, data[f]) for f in FIELDS})


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("ma_cross", {"fast": 3, "slow": 8}), ("momentum", {"lookback": 5, "top_k": 4})],
)
def test_backtest_without_the_cross_section_shortcut_gives_the_same_result(
    monkeypatch: pytest.MonkeyPatch, strategy: str, params: dict[str, int]
) -> None:
    settings_ = load_settings(st_symbols="600004.SH", slippage_ticks=1)
    h = _panel()
    fast = run_backtest(h, strategy, market="cn", cash=300_000, settings=settings_, **params)
    original = MarketView.on_cross_section

    def general_path(view: MarketView, idx: Any, t_ms: int, day: int, close: Any) -> None:
        original(view, _general(view, idx), t_ms, day, close)

    monkeypatch.setattr(MarketView, "on_cross_section", general_path)
    general = run_backtest(h, strategy, market="cn", cash=300_000, settings=settings_, **params)
    assert len(fast.fill_records) > 20
    assert fast.fill_records == general.fill_records
    assert fast.orders == general.orders
    assert np.array_equal(fast.equity.to_numpy(), general.equity.to_numpy())
    # the hot path builds orders and fills field by field: every field is there
    assert all(len(o) == len(Order._fields) and Order(*o) == o for o in fast.orders)
    assert all(len(f) == len(Fill._fields) and Fill(*f) == f for f in fast.fill_records)
