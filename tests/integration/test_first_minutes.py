"""What a new user sees in the first minutes of `quantdesk run` at 1x: warm indicators and
signals (measured in event time on the real embedded runtime; no wall-clock waiting)."""

from __future__ import annotations

from pathlib import Path

from quantdesk.bus import create_bus
from quantdesk.config import load_settings
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.pipeline import StreamProcessor
from quantdesk.runtime.runner import Runner
from quantdesk.runtime.sink import StoreSink
from quantdesk.storage import open_store

MIN = 60_000


def test_signals_and_indicators_within_minutes_of_a_start(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, backfill_days=5, jobs=False)
    store = open_store(settings.resolved_database_url)
    rt = Runner(settings, store, echo=lambda _m: None)
    rt.prepare()
    start = rt.clock.start
    # warm before the first live event: every symbol, every interval
    for meta in rt.universe:
        for interval in ("1m", "5m", "1d"):
            assert rt.processor.indicators.has_state(meta.symbol, interval)
    for k in range(1, 11):  # ten minutes of event time, a minute at a time
        rt.step(start + k * MIN)
    signals = store.query_signals(None, None, start, None, 5000)
    by_rule: dict[str, set[str]] = {}
    for s in signals:
        by_rule.setdefault(s.rule_id, set()).add(s.symbol)
    # the default OBI rule (±0.6) fires on most of the 10 symbols in 10 minutes
    assert len(by_rule.get("obi", set())) >= 6, by_rule
    assert len(signals) >= 10
    first = min(s.ts for s in signals) - start
    assert first < 3 * MIN
    # indicators from the first final 1m bar on (sma_20 and rsi_14 need 20 / 15 bars)
    sym = rt.universe[0].symbol
    for name in ("sma_20", "rsi_14"):
        values = store.query_factors(sym, name, "1m", start, None, 100)
        assert len(values) >= 9, name
        assert values[0].ts < start + 2 * MIN
    store.close()


def test_a_group_member_warms_the_symbols_it_is_assigned(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, backfill_days=3, jobs=False)
    store = open_store(settings.resolved_database_url)
    rt = Runner(settings, store, echo=lambda _m: None)
    rt.prepare()  # backfills
    symbols = {m.symbol for m in rt.universe}
    bus = create_bus("memory", partitions=3)
    processor = StreamProcessor(rt.calendar, symbols)
    consumer = StreamConsumer(bus, processor, StoreSink(store), checkpoint_seconds=1.0)
    consumer.poll_once(timeout=0.0)  # joins the group: partitions assigned
    assert consumer.subscription.assignment()
    assert all(processor.indicators.has_state(s, "5m") for s in symbols)
    consumer.close()
    bus.close()
    rt.bus.close()
    store.close()
