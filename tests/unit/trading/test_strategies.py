"""Strategies: t1's morning and afternoon, signals, buy-and-hold; none looks ahead."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.data import history_from_frame
from quantdesk.calendars import get_calendar
from quantdesk.domain.trading import OrderStatus, Side
from quantdesk.errors import ConfigError
from quantdesk.stream.signals import SignalRule
from quantdesk.trading.history import BarHistory
from quantdesk.trading.signal_feed import bar_signals
from quantdesk.trading.strategies import STRATEGIES, FramePredictions, make_strategy
from tests.unit.trading.helpers import daily_panel, trading_days

SYMS = [f"60000{k}.SH" for k in range(6)]


def intraday_panel(days: list[dt.date], seed: int = 3, step: int = 5) -> pd.DataFrame:
    cal = get_calendar("cn")
    t = np.concatenate([cal.session_minutes(d)[::step] for d in days])
    rng = np.random.default_rng(seed)
    frames = []
    for k, sym in enumerate(SYMS):
        c = np.round((10 + k) * np.exp(np.cumsum(rng.normal(0, 0.002, len(t)))), 2)
        o = np.round(c * np.exp(rng.normal(0, 0.001, len(t))), 2)
        frames.append(
            pd.DataFrame(
                {
                    "symbol": sym,
                    "time": t,
                    "open": o,
                    "high": np.maximum(o, c) + 0.01,
                    "low": np.minimum(o, c) - 0.01,
                    "close": c,
                    "volume": 1e6,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def predictions(days: list[dt.date], skip: set[dt.date] = frozenset()) -> pd.DataFrame:  # type: ignore[assignment]
    """Made at noon of D for D+1: symbol k is predicted to gain k percent (60000[5] best)."""
    cal = get_calendar("cn")
    rows = []
    for d, nxt in itertools.pairwise(days):
        if d in skip:
            continue
        noon = int(dt.datetime.combine(d, dt.time(12, 0), cal.tz).timestamp() * 1000)
        for k, sym in enumerate(SYMS):
            rows.append(
                {"symbol": sym, "target": nxt, "value": 1e6 if k >= 4 else 1.0, "made": noon}
            )
    return pd.DataFrame(rows)


def test_registry() -> None:
    assert {"t1", "signals", "buy_and_hold", "ma_cross", "momentum"} <= set(STRATEGIES.names())
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_strategy("nope")


def test_t1_sells_in_the_morning_buys_top_k_in_the_afternoon() -> None:
    days = trading_days(4)
    h = history_from_frame(intraday_panel(days))
    preds = FramePredictions(predictions(days, skip={days[1]}))
    r = run_backtest(h, "t1", market="cn", interval="5m", predictions=preds, top_k=2)
    cal = get_calendar("cn")
    orders = [o for o in r.orders if o.status is not OrderStatus.DENIED]
    local = [dt.datetime.fromtimestamp(o.created / 1000, cal.tz) for o in orders]
    buys = [(t, o) for t, o in zip(local, orders, strict=True) if o.side is Side.BUY]
    sells = [(t, o) for t, o in zip(local, orders, strict=True) if o.side is Side.SELL]
    # day 0: buys the two best predicted (k = 4, 5) at 14:30; nothing to sell
    assert {o.symbol for t, o in buys if t.date() == days[0]} == {SYMS[4], SYMS[5]}
    assert all(t.time() == dt.time(14, 30) for t, _ in buys)
    assert all(o.quantity % 100 == 0 for _, o in buys)
    # day 1 morning: sells what day 0 bought, at 09:35 (T+1: sellable now)
    assert {o.symbol for t, o in sells if t.date() == days[1]} == {SYMS[4], SYMS[5]}
    assert all(t.time() == dt.time(9, 35) for t, _ in sells)
    # day 1's predictions are missing: day 0's are reused, and the run says so
    assert any("missing" in n and str(days[2]) in n for n in r.notes)
    assert {o.symbol for t, o in buys if t.date() == days[1]} == {SYMS[4], SYMS[5]}


def test_t1_idle_without_predictions() -> None:
    days = trading_days(2)
    r = run_backtest(history_from_frame(intraday_panel(days)), "t1", market="cn", interval="5m")
    assert r.fills.empty and any("no prediction source" in n for n in r.notes)


def test_signals_buy_value_and_sell_sellable() -> None:
    days = trading_days(3)
    h = history_from_frame(intraday_panel(days, seed=5))
    rule = SignalRule("rsi", "rsi_14", buy_below=45.0, sell_above=55.0)
    r = run_backtest(
        h, "signals", market="cn", interval="5m", signal_rules=[rule.to_dict()], order_value=20_000
    )
    assert not r.fills.empty
    buys = r.fills[r.fills.side == "buy"]
    assert (buys.quantity * buys.price <= 20_000).all() and (buys.quantity % 100 == 0).all()
    sigs = bar_signals(h, [rule], "5m")
    assert len(sigs) > 0


def test_buy_and_hold_buys_once() -> None:
    h = history_from_frame(daily_panel(n_sym=4, n_days=20))
    r = run_backtest(h, "buy_and_hold", market="cn")
    assert sorted(r.fills.symbol) == sorted(h.symbols) and set(r.fills.side) == {"buy"}


def _decisions(result: object, upto: int) -> list[tuple[object, ...]]:
    return [
        (
            o.created,
            o.symbol,
            o.side,
            o.quantity,
            o.type,
            o.limit_price,
            o.status is OrderStatus.DENIED,
        )
        for o in result.orders  # type: ignore[attr-defined]
        if o.created <= upto
    ]


def _scramble(h: BarHistory, after_row: int, seed: int = 99) -> BarHistory:
    rng = np.random.default_rng(seed)
    data = {}
    for f in ("open", "high", "low", "close", "volume"):
        m = h.field(f).copy()
        m[after_row + 1 :] *= rng.uniform(0.5, 1.5, m[after_row + 1 :].shape)
        data[f] = m
    data["high"] = np.maximum.reduce([data["open"], data["high"], data["close"]])
    data["low"] = np.minimum.reduce([data["open"], data["low"], data["close"]])
    return BarHistory(h.symbols, h.times.copy(), data)


@pytest.mark.parametrize(
    ("name", "interval", "params"),
    [
        ("ma_cross", "1d", {"fast": 3, "slow": 8}),
        ("momentum", "1d", {"lookback": 5, "top_k": 3, "rebalance": 2}),
        ("buy_and_hold", "1d", {}),
        ("t1", "5m", {"top_k": 2}),
        ("signals", "5m", {}),
    ],
)
def test_no_look_ahead(name: str, interval: str, params: dict[str, object]) -> None:
    """Change every bar after a cut: every decision up to the cut stays the same."""
    if interval == "1d":
        frame = daily_panel(n_sym=8, n_days=60)
        extra: dict[str, object] = {}
    else:
        days = trading_days(4)
        frame = intraday_panel(days, seed=11)
        extra = {"predictions": FramePredictions(predictions(days))}
        if name == "signals":
            rule = SignalRule("rsi", "rsi_14", buy_below=45.0, sell_above=55.0)
            extra = {"signal_rules": [rule.to_dict()]}
    base = history_from_frame(frame)
    cut = len(base.times) * 2 // 3
    changed = _scramble(base, cut)
    a = run_backtest(base, name, market="cn", interval=interval, **extra, **params)
    b = run_backtest(changed, name, market="cn", interval=interval, **extra, **params)
    cut_time = int(base.times[cut]) + (1 if interval == "1d" else 5 * 60_000)
    # the decision of the cut bar happens at its end (daily: the close)
    cal = get_calendar("cn")
    if interval == "1d":
        cut_time = int(cal.closes[np.searchsorted(cal.opens, base.times[cut], "right") - 1 + 1])
    before = _decisions(a, cut_time)
    assert before, "the run made no decision before the cut"
    assert before == _decisions(b, cut_time)
    assert _decisions(a, 2**62) != _decisions(b, 2**62) or name == "buy_and_hold"
