"""Serving: A/B predictions stored and published on the bus, outcomes scored once, hot reload."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from quantdesk.bus import decode
from quantdesk.bus.memory import MemoryBus
from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.domain import Prediction
from quantdesk.errors import NotFoundError
from quantdesk.models import service
from quantdesk.models.datasets.controls import control_universe
from quantdesk.models.registry import ModelRegistry
from quantdesk.models.serving import ModelServer, resolve_model_name, wilson
from quantdesk.storage import Store, open_store
from quantdesk.storage.models import OutcomeRepository, PredictionRepository
from quantdesk.storage.sql import engine_for

DECISION = int(pd.Timestamp("2020-03-02 12:05", tz="Asia/Shanghai").value // 10**6)


@pytest.fixture
def setup(
    tmp_path: Path, planted_bars: tuple[pd.DataFrame, ExchangeCalendar]
) -> Iterator[tuple[Store, ModelRegistry]]:
    bars, _ = planted_bars
    url = f"sqlite:///{tmp_path / 'q.db'}"
    store = open_store(url)
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars)
    engine = engine_for(url)
    registry = ModelRegistry(engine, tmp_path / "models")
    end = dt.date(2020, 2, 20)
    service.train(store, registry, "linear", end=end, holdout_days=0)
    service.train(store, registry, "linear", end=end, holdout_days=0, params={"alpha": 10.0})
    registry.promote("linear", 1)  # champion v1, challenger v2 (the newest training)
    yield store, registry
    store.close()
    engine.dispose()


def test_ab_predictions_are_stored_published_and_scored_once(
    setup: tuple[Store, ModelRegistry],
) -> None:
    store, registry = setup
    bus = MemoryBus()
    bus.start()
    reader = bus.tail([bus.topics.predictions], start="earliest")
    server = ModelServer(store, registry, bus=bus, market="cn")
    made = server.predict("linear", as_of_ms=DECISION)
    assert [r.version for r in made["champion"]] == [1] * 6
    assert [r.version for r in made["challenger"]] == [2] * 6
    assert made["champion"][0].made_at > made["challenger"][0].made_at
    # the newest row per stock (what the T+1 strategy reads) is the champion's
    latest = PredictionRepository(registry.engine).latest(model="linear")
    assert {r.version for r in latest} == {1}
    assert {r.target_day for r in latest} == {dt.date(2020, 3, 3)}
    # both published, as prediction messages the hub forwards to /ws/ai-predictions
    got = [decode(m.value) for m in reader.poll(100, timeout=1.0)]
    assert len(got) == 12 and all(isinstance(p, Prediction) for p in got)
    assert {(p.alias, p.version) for p in got if isinstance(p, Prediction)} == {
        ("champion", 1),
        ("challenger", 2),
    }
    assert server.published == 12
    # 3 March's bars are stored: both versions' predictions are scored, once
    assert server.track_outcomes("linear") == 12
    assert server.track_outcomes("linear") == 0
    summary = OutcomeRepository(registry.engine).summary("linear")
    assert set(summary) == {1, 2} and summary[1].rows == 6
    status = server.status("linear")
    assert status["version"] == 1 and status["champion"] == 1 and status["challenger"] == 2
    for alias, version in (("champion", 1), ("challenger", 2)):
        ab = status["ab"][alias]
        assert ab["version"] == version and ab["scored"] == 6
        assert ab["direction_accuracy"] == ab["hits"] / ab["directional"]
        lo, hi = ab["direction_accuracy_ci"]
        assert lo <= ab["direction_accuracy"] <= hi
    reader.close()
    bus.close()


def test_realised_outcome_is_the_next_days_target(setup: tuple[Store, ModelRegistry]) -> None:
    """The scored return is the data set's own target: the morning close of the target day
    over the decision day's morning close."""
    store, registry = setup
    server = ModelServer(store, registry, market="cn")
    row = server.predict("linear", symbols=["SIM000"], as_of_ms=DECISION, ab=False)["champion"][0]
    server.track_outcomes("linear")
    real = OutcomeRepository(registry.engine).of_symbol("linear", "SIM000")
    actual, hit = real[(dt.date(2020, 3, 3), 1)]
    frame = store.bars_frame("SIM000", "1m", None, None)
    t = pd.to_datetime(frame["time"], unit="ms", utc=True).dt.tz_convert("Asia/Shanghai")
    am = frame[(t.dt.hour < 12)]
    day = t[am.index].dt.date
    close_2 = am[day == dt.date(2020, 3, 2)]["close"].iloc[-1]
    close_3 = am[day == dt.date(2020, 3, 3)]["close"].iloc[-1]
    assert row.reference == pytest.approx(close_2)
    assert actual == pytest.approx(close_3 / close_2 - 1)
    assert hit == ((row.predicted_return > 0) == (actual > 0))


def test_hot_reload_under_live_requests(setup: tuple[Store, ModelRegistry]) -> None:
    """Threads keep asking for the champion while another promotes: no error, no
    half-loaded model, and every request after the promotion gets the new version."""
    store, registry = setup
    server = ModelServer(store, registry, market="cn")
    seen: list[tuple[float, float, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                start = time.perf_counter()
                pair = server.served("linear")
                assert pair is not None
                model, row = pair
                assert model.params.get("alpha", 1.0) == row.params.get("alpha", 1.0)
                seen.append((start, time.perf_counter(), row.version))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    promoting = time.perf_counter()
    registry.promote("linear", 2)  # another process would do the same through the database
    promoted = time.perf_counter()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    # another process's promotion is seen within the reload interval (0.1 s) plus a load
    # (a request that ended before the promotion began saw the old version; one that
    # began while the promotion was being committed may see either)
    after = [v for start, _, v in seen if start > promoted + server.reload_interval_s + 0.1]
    before = [v for _, end, v in seen if end < promoting]
    assert before and set(before) == {1}
    assert after and set(after) == {2}
    first_new = min(start for start, _, v in seen if v == 2)
    assert first_new - promoted < 1.0


def test_default_model_and_missing_alias(setup: tuple[Store, ModelRegistry]) -> None:
    store, registry = setup
    from quantdesk.config import load_settings

    settings = load_settings()
    assert resolve_model_name(registry, "ensemble", settings) == "lstm"  # the configured model
    assert resolve_model_name(registry, "rf", settings) == "rf"
    server = ModelServer(store, registry, market="cn")
    assert server.served("rf", "challenger") is None
    with pytest.raises(NotFoundError, match="train it first"):
        server.served("rf")
    assert wilson(0, 0) == (None, None)
    lo, hi = wilson(50, 100)
    assert lo is not None and hi is not None and lo < 0.5 < hi
