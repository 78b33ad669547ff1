"""Parity: a live paper-trading session of ``quantdesk run`` on the simulator, recorded by
the tick capture, replayed into a fresh store and run through the backtester, gives the
same fills (time, symbol, side, quantity, price and every fee)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantdesk.backtest import run_backtest
from quantdesk.backtest.data import load_history
from quantdesk.calendars import get_calendar
from quantdesk.config import load_settings
from quantdesk.domain.trading import Fill
from quantdesk.risk import RiskLimits
from quantdesk.runtime import runner
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store
from quantdesk.storage.trading import TradingStore
from quantdesk.trading.strategies import STRATEGIES
from quantdesk.trading.strategies.ma_cross import MovingAverageCross

MIN = 60_000


class FastCross(MovingAverageCross):
    """A busy 1-minute moving-average cross (a plug-in strategy, registered by name)."""

    name = "fast_cross"
    interval = "1m"

    def __init__(self) -> None:
        super().__init__(2, 5)


@pytest.fixture
def fast_cross() -> Iterator[None]:
    STRATEGIES.register("fast_cross", FastCross)
    yield
    STRATEGIES.unregister("fast_cross")


def key(f: Fill) -> tuple[object, ...]:
    fees = (f.commission, f.stamp_duty, f.transfer_fee)
    return (f.time, f.symbol, f.side.value, f.quantity, f.price, *fees)


@pytest.mark.timeout(300)
def test_live_session_replayed_through_the_backtester_gives_the_same_fills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_cross: None
) -> None:
    cal = get_calendar("cn")
    # a Monday afternoon on the Shanghai exchange: the virtual clock starts here, and the
    # session runs into Tuesday morning (T+1: what was bought sells the next day)
    t0 = int(dt.datetime(2026, 3, 2, 14, 20, 7, tzinfo=cal.tz).timestamp() * 1000)
    minutes = [
        int(t) + MIN
        for d in (dt.date(2026, 3, 2), dt.date(2026, 3, 3))
        for t in cal.session_minutes(d)
        if t0 < int(t) + MIN <= t0 + 21 * 3_600_000
    ]
    monkeypatch.setattr(runner, "now_ms", lambda: t0)
    live_dir = tmp_path / "live"
    settings = load_settings(
        data_dir=live_dir,
        backfill_days=0,
        market="cn",
        tweets="none",
        capture_ticks=True,
        strategy="fast_cross",
        sim_speed=1.0,
    )
    store = open_store(settings.resolved_database_url)
    live = Runner(settings, store, echo=lambda _m: None)
    live.prepare()
    assert live.trading is not None and live.trading.interval == "1m"
    published: list[object] = []
    live.trading.add_listener(published.append)
    for until in minutes:
        asyncio.run(live.run_until(until))
    asyncio.run(live.shutdown())
    journal = TradingStore(store.engine)
    live_fills = journal.load_fills()
    steps = journal.query_equity()
    store.close()
    assert len(live_fills) >= 10, "the session should trade"
    assert {f.side.value for f in live_fills} == {"buy", "sell"}
    assert any(isinstance(u, Fill) for u in published)
    first, last = steps[0][0], steps[-1][0]

    # the capture, replayed through the same runner into a fresh store (no trading there)
    replay = load_settings(
        data_dir=tmp_path / "replay",
        database_url=f"sqlite:///{(tmp_path / 'replay.db').as_posix()}",
        tweets="none",
        market="cn",
        trading=False,
        source=f"replay:{live_dir / 'ticks'}",
    )
    rstore = open_store(replay.resolved_database_url)
    rt = Runner(replay, rstore, speed=0.0, echo=lambda _m: None)
    rt.prepare()
    asyncio.run(rt.run())
    symbols = [m.symbol for m in rt.universe]
    history = load_history(rstore, symbols, "1m", first, last + 1)
    rstore.close()

    result = run_backtest(
        history,
        FastCross(),
        market="cn",
        interval="1m",
        cash=settings.paper_cash,
        settings=settings,
        limits=RiskLimits.from_settings(settings),
    )
    assert len(history.times) == len(steps)
    # fill ids differ (random live, counted in backtests): compare in (time, symbol) order
    assert sorted(map(key, result.fill_records)) == sorted(map(key, live_fills))
