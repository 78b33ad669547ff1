"""The live desk: steps in event time, manual orders, risk settings that outlive a restart,
the jobs' t1 halves, permissions (ST, suspended) in the risk checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from quantdesk.config import load_settings
from quantdesk.domain.messages import Bar
from quantdesk.domain.trading import (
    AlertKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    RiskAlert,
    Side,
    TradingState,
)
from quantdesk.errors import ConfigError, NotFoundError, OrderRejected, TradingError
from quantdesk.jobs.services import StrategyHalves, TradingDay
from quantdesk.storage.permissions import Permission
from quantdesk.storage.sql import engine_for
from quantdesk.trading.desk import TradingDesk
from quantdesk.trading.orders import OrderRequest
from quantdesk.trading.permissions import PermissionView
from quantdesk.trading.strategies import FramePredictions
from tests.unit.trading.helpers import at, trading_days
from tests.unit.trading.test_strategies import SYMS, intraday_panel, predictions


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    e = engine_for(f"sqlite:///{tmp_path / 'desk.db'}")
    yield e
    e.dispose()


def bars_of(frame: pd.DataFrame, interval: str = "5m") -> dict[int, list[Bar]]:
    out: dict[int, list[Bar]] = {}
    for r in frame.itertuples(index=False):
        out.setdefault(int(r.time), []).append(
            Bar(r.symbol, interval, int(r.time), r.open, r.high, r.low, r.close, r.volume, 0.0, 1)
        )
    return out


def open_desk(engine: sa.Engine, strategy: Any = "buy_and_hold", **kw: Any) -> TradingDesk:
    settings = load_settings()
    kw.setdefault("interval", "5m")
    return TradingDesk.open(settings, engine, SYMS, market="cn", strategy=strategy, **kw)


def feed(desk: TradingDesk, bars: dict[int, list[Bar]], upto: int | None = None) -> None:
    for t in sorted(bars):
        if upto is not None and t >= upto:
            break
        desk.on_output(bars[t])
        desk.advance(t + 5 * 60_000)


def test_steps_in_event_time_and_fills_at_the_next_bar(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    desk = open_desk(engine, "buy_and_hold")
    seen: list[Any] = []
    desk.add_listener(seen.append)
    times = sorted(bars)
    desk.on_output(bars[times[0]])
    desk.advance(times[0] + 60_000)  # the bar has not ended: nothing decided yet
    assert desk.steps == 0
    desk.advance(times[0] + 5 * 60_000)
    assert desk.steps == 1
    orders = desk.open_orders()
    assert len(orders) == len(SYMS) and all(o.status is OrderStatus.ACCEPTED for o in orders)
    feed(desk, {t: bars[t] for t in times[1:3]})
    fills = desk.store.load_fills()
    assert len(fills) == len(SYMS)
    assert {f.time for f in fills} == {times[1]}  # the next bar's open
    assert {f.price for f in fills} == {D(str(b.open)) for b in bars[times[1]]}
    assert any(isinstance(u, Fill) for u in seen) and any(isinstance(u, Order) for u in seen)
    curve = desk.store.query_equity()
    assert [t for t, _, _ in curve] == times[:3]
    # a bar that comes after its time was stepped is counted, never traded on
    desk.on_output(bars[times[0]])
    assert desk.late_bars == len(bars[times[0]])


def test_manual_orders_bad_input_is_refused_before_anything_is_stored(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    desk = open_desk(engine, "buy_and_hold")
    sym = SYMS[0]
    with pytest.raises(OrderRejected, match="no price"):
        desk.place(OrderRequest(sym, Side.BUY, 100))
    times = sorted(bars)
    feed(desk, {t: bars[t] for t in times[:2]})
    before = len(desk.store.load_orders())
    bad = [
        (OrderRequest("999999.SH", Side.BUY, 100), "unknown symbol"),
        (OrderRequest(sym, Side.BUY, 150), "multiple of 100"),
        (OrderRequest(sym, Side.BUY, 0), "positive"),
        (OrderRequest(sym, Side.BUY, -100), "positive"),
        (OrderRequest(sym, Side.BUY, 100, OrderType.LIMIT, D("10.005")), "tick"),
        (OrderRequest(sym, Side.BUY, 100, OrderType.LIMIT, D("99.00")), "outside the day"),
        (OrderRequest(SYMS[1], Side.SELL, 10_000_000), "sellable"),
    ]
    # the day's limits need a previous close: step into the second day first
    feed(desk, {t: bars[t] for t in times if t >= at(days[1], 9, 30)}, upto=at(days[1], 10, 0))
    before = len(desk.store.load_orders())
    for req, why in bad:
        with pytest.raises(OrderRejected, match=why):
            desk.place(req, "admin")
    assert len(desk.store.load_orders()) == before  # nothing half-written
    ok = desk.place(OrderRequest(sym, Side.BUY, 100), "admin")
    assert ok.status is OrderStatus.ACCEPTED and ok.id
    cancelled = desk.cancel(ok.id, "admin")
    assert cancelled.status is OrderStatus.CANCELLED
    with pytest.raises(TradingError, match="not open"):
        desk.cancel(ok.id)
    with pytest.raises(NotFoundError):
        desk.cancel("nope")


def test_limits_and_a_halt_outlive_a_restart(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    desk = open_desk(engine, "buy_and_hold")
    alerts: list[RiskAlert] = []
    desk.add_listener(lambda u: alerts.append(u) if isinstance(u, RiskAlert) else None)
    with pytest.raises(ConfigError):
        desk.set_limits({"max_position_weight": 3.0})
    desk.set_limits({"max_position_weight": 0.05, "max_orders_per_minute": 7}, "admin")
    desk.set_state(TradingState.HALTED, "admin", "maintenance")
    assert alerts and alerts[-1].kind is AlertKind.STATE
    times = sorted(bars)
    feed(desk, {t: bars[t] for t in times[:2]})
    denied = [o for o in desk.store.load_orders() if o.status is OrderStatus.DENIED]
    assert denied and all("halted" in o.reason for o in denied)

    again = open_desk(engine, "buy_and_hold")
    st = again.risk_status()
    assert st.state is TradingState.HALTED and st.set_by_admin
    assert st.limits.max_position_weight == 0.05 and st.limits.max_orders_per_minute == 7
    again.set_state(TradingState.ACTIVE, "admin")
    assert open_desk(engine, "buy_and_hold").risk_status().state is TradingState.ACTIVE


def test_restart_continues_the_account(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    times = sorted(bars)
    desk = open_desk(engine, "buy_and_hold")
    feed(desk, {t: bars[t] for t in times[:3]})
    cash = desk.account().cash
    again = open_desk(engine, "buy_and_hold")
    assert again.account().cash == cash
    assert {p.symbol for p in again.positions()} == set(SYMS)


def test_jobs_drive_the_t1_halves_and_the_steps_never_trade_twice(engine: sa.Engine) -> None:
    days = trading_days(3)
    frame = intraday_panel(days)
    bars = bars_of(frame)
    preds = FramePredictions(predictions(days))
    desk = open_desk(engine, "t1", predictions=preds)
    halves = desk.halves()
    assert isinstance(halves, StrategyHalves)
    # the steps place nothing now, whatever the time
    feed(desk, bars)
    assert desk.store.load_orders() == []
    cal = desk.rules.calendar
    d1 = days[1]
    t_buy = at(d1, 13, 30)
    out = halves.buy_half(TradingDay("cn", d1, t_buy, t_buy, cal), {"id": "p1"})
    assert out["placed"] == 2 and out["prediction"] == {"id": "p1"}
    buys = desk.store.load_orders()
    assert {o.side for o in buys} == {Side.BUY}
    assert {o.symbol for o in buys} == {SYMS[-1], SYMS[-2]}  # the best predicted gains


def test_halves_need_t1(engine: sa.Engine) -> None:
    with pytest.raises(ConfigError, match="t1"):
        open_desk(engine, "buy_and_hold").halves()


def perm(sym: str, **kw: Any) -> Permission:
    base: dict[str, Any] = {
        "symbol": sym,
        "market": "cn",
        "board": "main",
        "st": False,
        "suspended": False,
        "listed": True,
        "reason": "",
        "updated_ms": 0,
    }
    base.update(kw)
    return Permission(**base)


def test_permissions_feed_the_limits_and_the_risk_checks(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    rows = [perm(SYMS[0], st=True), perm(SYMS[1], suspended=True, reason="no trade on 2024-03-04")]
    view = PermissionView(lambda: rows)
    desk = open_desk(engine, "buy_and_hold", permissions=view)
    times = sorted(bars)
    feed(desk, {t: bars[t] for t in times if t < at(days[1], 10, 0)})
    denied = [o for o in desk.store.load_orders() if o.status is OrderStatus.DENIED]
    assert [o.symbol for o in denied] == [SYMS[1]]
    assert "suspended" in denied[0].reason and "2024-03-04" in denied[0].reason
    with pytest.raises(OrderRejected, match="suspended"):
        desk.place(OrderRequest(SYMS[1], Side.BUY, 100))
    # ST: the band is 5% around the previous close (a main-board stock's would be 10%)
    pc = desk.broker.market.prev_close_for(SYMS[0], desk.rules.day_of(desk.time_now()))
    band = desk.broker.market.band(SYMS[0], desk.rules.day_of(desk.time_now()))
    assert pc is not None and band is not None
    assert band.high == (D(str(pc)) * D("1.05")).quantize(D("0.01"))
    assert desk.rules.board(SYMS[2]) == "main" and not desk.rules.is_st(SYMS[2])
    # the view reloads: a stock that trades again is tradable again
    rows[1] = perm(SYMS[1])
    view.refresh()
    assert desk.rules.blocked(SYMS[1]) is None


def test_permissions_from_the_store(engine: sa.Engine) -> None:
    from quantdesk.storage.permissions import PermissionRepository

    repo = PermissionRepository(engine)
    repo.create_tables()
    repo.save([perm(SYMS[0], board="star"), perm(SYMS[1], listed=False, reason="delisted")])
    view = TradingDesk.permissions_from(engine, "cn")
    desk = open_desk(engine, "buy_and_hold", permissions=view)
    assert desk.rules.board(SYMS[0]) == "star"
    assert desk.rules.limit_pct(SYMS[0]) == D("0.20")
    assert "delisted" in (desk.rules.blocked(SYMS[1]) or "")


def test_settle_day(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    desk = open_desk(engine, "buy_and_hold")
    feed(desk, {t: bars[t] for t in sorted(bars) if t < at(days[0], 14, 50)})
    # a limit order far below the market rests until the day ends
    last = desk.broker.market.last_price(SYMS[0])
    assert last is not None
    px = (D(str(last)) * D("0.95")).quantize(D("0.01"))
    resting = desk.place(OrderRequest(SYMS[0], Side.BUY, 100, OrderType.LIMIT, px))
    assert resting.status is OrderStatus.ACCEPTED
    cal = desk.rules.calendar
    t = at(days[0], 15, 30)
    out = desk.settle_day(TradingDay("cn", days[0], t, t, cal))
    assert out["expired"] == 1 and out["fills"] == len(SYMS) and out["equity"] > 0
    assert desk.store.get_order(resting.id).status is OrderStatus.CANCELLED
    assert np.isfinite(out["fees"])


def test_seed_from_store_warms_prices_and_history(engine: sa.Engine, tmp_path: Path) -> None:
    from quantdesk.calendars import get_calendar
    from quantdesk.domain import BAR_COLUMNS
    from quantdesk.storage import open_store
    from quantdesk.trading.strategies.ma_cross import MovingAverageCross

    days = trading_days(2)
    frame = intraday_panel(days)
    frame["interval"] = "5m"
    cal = get_calendar("cn")
    frame["day"] = [cal.date_of(int(t)) for t in frame["time"]]
    daily = frame.groupby(["symbol", "day"], as_index=False).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    daily["time"] = [cal.day_segments(d)[0][0] for d in daily["day"]]
    daily["interval"] = "1d"
    both = pd.concat([frame, daily], ignore_index=True)
    both["vwap"] = both["close"]
    both["trades"] = 1
    both["source"] = "test"
    with open_store(f"sqlite:///{tmp_path / 'seed.db'}") as store:
        store.migrate()
        store.upsert_bars(both.loc[:, list(BAR_COLUMNS)])
        desk = open_desk(store.engine, MovingAverageCross(2, 4))
        upto = at(days[1], 10, 2)  # the 10:00 bar has not ended
        assert desk.seed_from(store, upto) == 4  # warmup - 1: the first step may decide
        assert int(desk.session.history.times[-1]) == at(days[1], 9, 55)
        day1 = daily[daily["day"] == days[0]].set_index("symbol")["close"]
        market = desk.broker.market
        assert market.prev_close_for(SYMS[0], desk.rules.day_of(upto)) == day1[SYMS[0]]
        assert market.band(SYMS[0], desk.rules.day_of(upto)) is not None
        assert desk.steps == 0 and desk.store.load_orders() == []
        desk.place(OrderRequest(SYMS[0], Side.BUY, 100))


def test_bad_fill_mode(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_PAPER_FILLS", "ticks")
    with pytest.raises(Exception, match="bars or books"):
        load_settings()
    assert dt is not None


def test_a_restart_never_steps_a_stored_step_again(engine: sa.Engine) -> None:
    days = trading_days(2)
    bars = bars_of(intraday_panel(days))
    times = sorted(bars)
    desk = open_desk(engine, "buy_and_hold")
    feed(desk, {t: bars[t] for t in times[:2]})
    n = len(desk.store.load_orders())
    again = open_desk(engine, "buy_and_hold")
    assert again.resume_after_stored_steps() == times[1]
    feed(again, {t: bars[t] for t in times[:2]})  # the runner's catch-up makes them again
    assert again.steps == 0 and again.late_bars == 2 * len(SYMS)
    assert len(again.store.load_orders()) == n


def test_services_for_a_scheduler(engine: sa.Engine) -> None:
    from quantdesk.errors import JobSkipped
    from quantdesk.jobs.services import Settler
    from quantdesk.trading.strategies.t1 import T1Strategy

    desk = open_desk(engine, "t1")
    services = desk.services()
    assert isinstance(services["strategy"], StrategyHalves)
    assert isinstance(services["broker"], Settler)
    assert desk.session.trader.strategy.driven  # type: ignore[attr-defined]
    assert set(open_desk(engine, "buy_and_hold").services()) == {"broker"}
    with pytest.raises(JobSkipped, match="scheduler"):
        T1Strategy.for_jobs(None)
