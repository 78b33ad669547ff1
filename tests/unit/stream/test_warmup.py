"""Indicators and signal series start warm from stored bars."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from quantdesk.backfill.run import run_backfill
from quantdesk.calendars import get_calendar
from quantdesk.config import load_settings
from quantdesk.domain import Bar
from quantdesk.storage import Store, open_store
from quantdesk.stream.indicators import BarIndicators
from quantdesk.stream.signals import SignalEngine, SignalRule
from quantdesk.stream.warmup import WARMUP_BARS, warm_up

CAL = get_calendar("XSHG")
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
SYM = "600036.SH"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("warm"))
    opened = open_store(settings.resolved_database_url)
    opened.migrate()
    run_backfill(opened, settings, days=8, now=NOW, symbol=SYM)
    return opened


def _rows(store: Store, interval: str) -> list[Bar]:
    return [Bar(*r) for r in store.query_bars(SYM, interval, None, None, None)]


def _rule() -> SignalRule:
    return SignalRule(id="rsi", factor="rsi_14", interval="5m", buy_below=30.0, sell_above=70.0)


def test_the_first_live_bar_has_every_indicator_and_equals_a_full_replay(store: Store) -> None:
    bars = _rows(store, "5m")
    history, live = bars[:-1], bars[-1]
    full = BarIndicators()
    for bar in history:
        full.on_bar(bar)
    want = {f.name: f.value for f in full.on_bar(live)}

    warm, engine = BarIndicators(), SignalEngine([_rule()])
    fed = warm_up(warm, engine, store, [SYM], until=live.time, calendar=CAL, intervals=["5m"])
    assert fed == min(WARMUP_BARS, len(history))
    got = {f.name: f.value for f in warm.on_bar(live)}
    assert {"sma_20", "rsi_14", "macd", "kdj_k", "atr_14"} <= set(got)
    assert set(got) == set(want)
    for name in ("sma_20", "rsi_14", "ema_20", "macd", "bb_upper", "atr_14", "willr_14"):
        assert got[name] == pytest.approx(want[name], rel=1e-6), name
    # the signal series knows the last value: the first live value can cross
    assert [row[:3] for row in engine.snapshot()] == [["rsi", SYM, "5m"]]


def test_a_cold_engine_cannot_cross_on_its_first_value_a_warm_one_can(store: Store) -> None:
    cold = SignalEngine([SignalRule(id="s", factor="sma_20", interval="5m", buy_above=0.0)])
    warm = SignalEngine([SignalRule(id="s", factor="sma_20", interval="5m", buy_above=0.0)])
    last = _rows(store, "5m")[-1]
    warm_up(BarIndicators(), warm, store, [SYM], until=last.time, calendar=CAL, intervals=["5m"])
    from quantdesk.domain import FactorValue

    value = FactorValue(SYM, last.time, "sma_20", -1.0, "5m")  # below, then above 0
    assert cold.on_factor(value) == [] and warm.on_factor(value) == []
    up = FactorValue(SYM, last.time + 1, "sma_20", 1.0, "5m")
    assert [s.side for s in warm.on_factor(up)] == ["buy"]


def test_the_bar_holding_until_is_not_fed_and_without_until_the_newest_is_not(
    store: Store,
) -> None:
    minute = _rows(store, "1m")
    until = minute[-10].time + 30_000  # inside a stored bar: that one is still open
    ind = BarIndicators()
    warm_up(ind, SignalEngine(), store, [SYM], until=until, calendar=CAL, intervals=["1m"])
    assert ind.snapshot()[0]["last_time"] == minute[-11].time
    ind2 = BarIndicators()
    warm_up(ind2, SignalEngine(), store, [SYM], intervals=["1m"])
    assert ind2.snapshot()[0]["last_time"] == minute[-2].time


def test_series_with_state_are_left_alone(store: Store) -> None:
    ind = BarIndicators()
    first = _rows(store, "1d")[0]
    ind.on_bar(first)  # as restored from a checkpoint
    fed = warm_up(ind, SignalEngine(), store, [SYM], intervals=["1d", "60m"])
    assert fed == len(_rows(store, "60m")) - 1  # only the cold series
    assert ind.snapshot()[0]["last_time"] == first.time


def test_empty_store_and_unknown_symbols_feed_nothing(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with open_store(settings.resolved_database_url) as empty:
        empty.migrate()
        assert warm_up(BarIndicators(), SignalEngine(), empty, ["X"], until=0) == 0
