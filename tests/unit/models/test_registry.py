"""Versions on disk and in the database: train, promote, roll back, corrupt files, serving."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.errors import ModelError
from quantdesk.models import service
from quantdesk.models.datasets import load_dataset
from quantdesk.models.datasets.controls import control_universe
from quantdesk.models.registry import ModelRegistry, Predictor
from quantdesk.storage import Store, open_store
from quantdesk.storage.models import PredictionRepository
from quantdesk.storage.sql import engine_for
from tests.unit.models.conftest import FAST_NETS


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
    yield store, ModelRegistry(engine, tmp_path / "models")
    store.close()
    engine.dispose()


def test_train_promote_rollback(setup: tuple[Store, ModelRegistry]) -> None:
    store, reg = setup
    first = service.train(store, reg, "linear", holdout_days=10)
    assert first.row.version == 1 and first.row.aliases == []
    assert reg.versions.alias("linear", "challenger") == 1
    assert reg.versions.alias("linear", "champion") is None
    assert set(first.row.metrics) >= {"linear", "naive", "mean", "up"}
    assert (reg.model_dir / first.row.artifact).is_file()
    second = service.train(store, reg, "linear", params={"alpha": 10.0}, holdout_days=10)
    assert second.row.version == 2
    assert reg.promote("linear", 1) is None
    assert reg.promote("linear", 2) == 1
    assert reg.rollback("linear") == 1
    model, row = reg.load("linear")  # the champion
    assert row.version == 1 and model.params["alpha"] == 1.0


def test_failed_training_never_replaces_the_champion(
    setup: tuple[Store, ModelRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, reg = setup
    service.train(store, reg, "linear", holdout_days=0)
    reg.promote("linear", 1)
    from quantdesk.models.zoo.tabular import Linear

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Linear, "_fit", broken)
    with pytest.raises(RuntimeError):
        service.train(store, reg, "linear", promote=True, holdout_days=0)
    assert [r.version for r in reg.versions.list_versions("linear")] == [1]
    assert reg.versions.alias("linear", "champion") == 1
    assert sorted(p.name for p in (reg.model_dir / "linear").iterdir()) == ["1.qdm"]


def test_incremental_training_has_a_parent(setup: tuple[Store, ModelRegistry]) -> None:
    store, reg = setup
    data = load_dataset(store, "morning")
    days = data.unique_days()
    cut = days[35].astype(dt.date)
    v1 = service.train(store, reg, "lstm", end=cut, params=FAST_NETS, holdout_days=0)
    v2 = service.train(store, reg, "lstm", incremental=True, holdout_days=0)
    assert v2.row.parent_version == 1
    assert v1.row.data_end is not None and v2.row.data_start is not None
    assert v2.row.data_start > v1.row.data_end
    assert v2.row.params["seq_len"] == FAST_NETS["seq_len"]
    with pytest.raises(ModelError, match="no new labelled days"):
        service.train(store, reg, "lstm", incremental=True, holdout_days=0)
    with pytest.raises(ModelError, match="cannot train incrementally"):
        service.train(store, reg, "rf", incremental=True)
    with pytest.raises(ModelError, match="baseline"):
        service.train(store, reg, "naive")


def test_corrupt_artifact(setup: tuple[Store, ModelRegistry]) -> None:
    store, reg = setup
    row = service.train(store, reg, "linear", holdout_days=0).row
    path = reg.model_dir / row.artifact
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="is corrupt"):
        reg.load("linear", 1)
    with pytest.raises(ModelError, match="is corrupt"):
        reg.promote("linear", 1)
    assert reg.versions.alias("linear", "champion") is None
    path.unlink()
    with pytest.raises(ModelError, match="is missing"):
        reg.load("linear", 1)


def test_predict_stores_next_day_predictions(setup: tuple[Store, ModelRegistry]) -> None:
    store, reg = setup
    service.train(store, reg, "lstm", params=FAST_NETS, holdout_days=0)
    rows = service.predict(store, reg, "lstm", market="cn")
    assert len(rows) == 6
    last_day = load_dataset(store, "morning").latest().days.max().astype(dt.date)
    for r in rows:
        assert r.target_day > last_day
        assert r.predicted_open is not None and r.predicted_open > 0
        assert r.predicted_close == pytest.approx(r.reference * (1 + r.predicted_return))
    stored = PredictionRepository(reg.engine).latest(model="lstm")
    assert sorted(r.symbol for r in stored) == sorted(r.symbol for r in rows)


def test_predictor_swaps_atomically_under_load(setup: tuple[Store, ModelRegistry]) -> None:
    store, reg = setup
    service.train(store, reg, "linear", holdout_days=0)
    service.train(store, reg, "linear", params={"alpha": 1e4}, holdout_days=0)
    reg.promote("linear", 1)
    predictor = Predictor(reg, "linear")
    data = load_dataset(store, "morning").latest()
    assert predictor.version == 1
    expected = {v: reg.load("linear", v)[0].predict(data) for v in (1, 2)}
    errors: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                model, row = predictor.current()
                out = model.predict(data)
                assert np.array_equal(out, expected[row.version])
                seen.add(row.version)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for v in (2, 1, 2):
        reg.promote("linear", v)
        assert predictor.refresh()
        assert not predictor.refresh()  # nothing changed since
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert predictor.version == 2
    assert seen <= {1, 2}
