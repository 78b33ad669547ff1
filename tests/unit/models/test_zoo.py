"""Every model: trains, predicts, saves and loads back to the same predictions; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantdesk.errors import ConfigError, ModelError
from quantdesk.models.base import MODELS, load_model, model_class, model_from_bytes
from quantdesk.models.datasets.base import Dataset
from tests.unit.models.conftest import FAST_NETS

SMALL = {
    "lstm": FAST_NETS,
    "transformer": FAST_NETS,
    "cnn_lstm": FAST_NETS,
    "rf": {"n_estimators": 10},
    "gb": {"max_iter": 20},
    "xgboost": {"n_estimators": 20},
    "lightgbm": {"n_estimators": 20},
    "voting": {"member_params": {"rf": {"n_estimators": 10}, "gb": {"max_iter": 10}}},
    "stacking": {"member_params": {"rf": {"n_estimators": 10}, "gb": {"max_iter": 10}}},
    "bma": {"member_params": {"rf": {"n_estimators": 10}, "gb": {"max_iter": 10}}},
}


def _split(data: Dataset) -> tuple[Dataset, Dataset]:
    days = data.unique_days()
    cut = days[int(len(days) * 0.7)]
    return data.select(data.days < cut), data.select(data.days >= cut)


# the trading agents (kind "agent", daily only) have their round trip in tests/unit/models/rl
@pytest.mark.parametrize("name", [n for n in MODELS.names() if model_class(n).kind != "agent"])
@pytest.mark.parametrize("dataset", ["morning", "daily"])
def test_save_load_round_trip(
    name: str, dataset: str, small_morning: Dataset, small_daily: Dataset, tmp_path: Path
) -> None:
    data = small_morning if dataset == "morning" else small_daily
    train, test = _split(data)
    model = model_class(name)(SMALL.get(name, {}), seed=1).fit(train)
    pred = model.predict(test)
    assert pred.shape == (len(test), len(data.targets))
    assert np.isfinite(pred).all()
    path = model.save(tmp_path / f"{name}.qdm")
    loaded = load_model(path)
    assert (loaded.name, loaded.features, loaded.targets) == (name, model.features, model.targets)
    np.testing.assert_allclose(loaded.predict(test), pred, rtol=1e-5, atol=1e-7)
    if name == "lstm" and dataset == "morning":
        # seed B: 2 inputs -> 2 outputs
        assert loaded.features == ("open_ratio", "close_ratio")
        assert loaded.targets == ("next_open", "next_close")


def test_same_seed_same_network(small_morning: Dataset) -> None:
    train, test = _split(small_morning)
    a = model_class("lstm")(FAST_NETS, seed=5).fit(train).predict(test)
    b = model_class("lstm")(FAST_NETS, seed=5).fit(train).predict(test)
    c = model_class("lstm")(FAST_NETS, seed=6).fit(train).predict(test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_networks_predict_without_torch_after_loading(
    small_morning: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    train, test = _split(small_morning)
    path = model_class("lstm")(FAST_NETS, seed=1).fit(train).save(tmp_path / "m.qdm")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    loaded = load_model(path)
    assert loaded.predict(test).shape == (len(test), 2)
    with pytest.raises(Exception, match=r"pip install 'quantdesk\[ml\]'"):
        model_class("lstm")(FAST_NETS).fit(train)


@pytest.mark.parametrize("name", ["lstm", "cnn_lstm", "transformer"])
def test_incremental_continues_from_the_parent(name: str, small_morning: Dataset) -> None:
    data = small_morning
    days = data.unique_days()
    old = data.select(data.days < days[60])
    new = data.select(data.days >= days[60])
    parent = model_class(name)(FAST_NETS, seed=1).fit(old)
    # no epoch: the child is exactly the parent (weights and scaling carried over)
    same = model_class(name)({**FAST_NETS, "incremental_epochs": 0}, seed=1)
    same.fit(new, parent=parent)
    np.testing.assert_allclose(same.predict(new), parent.predict(new), rtol=1e-6)
    # one epoch over the new days moves it, but it starts from the parent: it stays far
    # closer to the parent than a network trained from scratch on the new days
    child = model_class(name)({**FAST_NETS, "incremental_epochs": 1}, seed=1)
    child.fit(new, parent=parent)
    fresh = model_class(name)({**FAST_NETS, "epochs": 1}, seed=1).fit(new)
    p, c, f = (m.predict(data) for m in (parent, child, fresh))
    assert not np.allclose(c, p)
    assert np.abs(c - p).mean() < np.abs(f - p).mean()


@pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
def test_boosting_continues_from_the_parent(name: str, small_daily: Dataset) -> None:
    train, test = _split(small_daily)
    parent = model_class(name)({"n_estimators": 10, "incremental_rounds": 5}, seed=1).fit(train)
    child = model_class(name)({"n_estimators": 10, "incremental_rounds": 5}, seed=1)
    child.fit(test.select(test.labelled()), parent=parent)
    if name == "xgboost":
        assert child.booster.num_boosted_rounds() == 15  # type: ignore[attr-defined]
    else:
        assert child.boosters[0].num_trees() == 15  # type: ignore[attr-defined]
    again = model_from_bytes(child.to_bytes())
    np.testing.assert_allclose(again.predict(test), child.predict(test))


def test_incremental_refused_where_unsupported(small_daily: Dataset) -> None:
    parent = model_class("rf")(SMALL["rf"]).fit(small_daily)
    with pytest.raises(ModelError, match="cannot train incrementally"):
        model_class("rf")(SMALL["rf"]).fit(small_daily, parent=parent)


def test_corrupt_artifact_is_one_clear_error(small_daily: Dataset, tmp_path: Path) -> None:
    path = model_class("linear")().fit(small_daily).save(tmp_path / "m.qdm")
    blob = bytearray(path.read_bytes())
    # flip a byte inside a stored member: the checksum no longer matches
    blob[len(blob) // 3] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="is corrupt"):
        load_model(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ModelError, match="is corrupt"):
        load_model(path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.qdm")


def test_bad_parameters_and_data(small_daily: Dataset) -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter.*n_trees"):
        model_class("rf")({"n_trees": 3})
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        model_class("nope")
    tiny = small_daily.select(np.arange(small_daily.n_rows) < 5)
    with pytest.raises(ModelError, match="need at least 30"):
        model_class("linear")().fit(tiny)
    with pytest.raises(ModelError, match="not trained"):
        model_class("linear")().predict(small_daily)
