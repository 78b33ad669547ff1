"""The Models page and the market chart's prediction markers in real headless Chromium
against a real ``quantdesk run``.

Models are trained on the platform's own backfilled bars (in this process, on its
database); the stored evaluations are real walk-forward runs on the random-walk and
planted controls, one with a model that peeks at the target (a real leak, which the
page must show loudly). The admin predicts now (the predictions arrive live over
``/ws/ai-predictions``) and promotes a version (the page shows the new champion).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import Platform, login

SYMBOL = "600036.SH"


@pytest.fixture(scope="module")
def trained(platform: Platform) -> Iterator[dict[str, Any]]:
    from quantdesk.config import load_settings
    from quantdesk.models import service
    from quantdesk.models.base import MODELS, Model
    from quantdesk.models.datasets.base import F64, I64, Dataset
    from quantdesk.models.datasets.controls import control_dataset
    from quantdesk.models.evaluation import EvalConfig, evaluate
    from quantdesk.models.registry import ModelRegistry
    from quantdesk.models.serving import ModelServer
    from quantdesk.storage import open_store
    from quantdesk.storage.models import EvaluationRepository

    class Peeking(Model):
        name = "peeking"

        def _fit(self, data: Dataset, rows: I64, parent: Model | None, progress: object) -> None:
            return None

        def _predict(self, data: Dataset, rows: I64) -> F64:
            return np.nan_to_num(data.y[rows])  # the future: a leak

        def _state(self) -> dict[str, bytes]:
            return {}

        def _restore(self, state: dict[str, bytes]) -> None:
            return None

    settings = load_settings(data_dir=platform.data_dir)
    store = open_store(settings.resolved_database_url)
    registry = ModelRegistry(store.engine, settings.resolved_model_dir)
    try:
        service.train(store, registry, "linear", holdout_days=5, market="cn")
        service.train(store, registry, "linear", holdout_days=5, params={"alpha": 10.0})
        registry.promote("linear", 1)
        # yesterday's prediction of SYMBOL: its target day is on the 1m chart
        last = store.last_bar_time("1m", SYMBOL)
        assert last is not None
        ModelServer(store, registry, market="cn").predict(
            "linear", symbols=[SYMBOL], as_of_ms=last - 86_400_000, ab=False
        )
        config = EvalConfig(min_train_days=40, retrain_days=20)
        MODELS.register("peeking", Peeking)
        try:
            data = control_dataset("random", "morning", n_stocks=6, n_days=100, seed=2)
            random = evaluate(data, ["linear", "peeking"], config, control="random")
        finally:
            MODELS.unregister("peeking")
        data = control_dataset("planted", "morning", n_stocks=6, n_days=100, seed=2)
        planted = evaluate(data, ["linear"], config, control="planted")
        evaluations = EvaluationRepository(registry.engine)
        evaluations.add(random.to_json())
        evaluations.add(planted.to_json())
        yield {"leaks": random.leaks()}
    finally:
        store.close()


def _wait(page: Any, js: str, timeout: float = 60_000) -> None:
    page.wait_for_function(js, timeout=timeout)


def _dataset(page: Any, selector: str) -> dict[str, str]:
    return dict(page.eval_on_selector(selector, "el => ({...el.dataset})"))


def test_models_page(platform: Platform, trained: dict[str, Any], page: Any, shoot: Any) -> None:
    assert trained["leaks"] == ["peeking"]
    login(page, platform.base)
    page.click("a[data-route=models]")
    page.wait_for_selector("#models-page")
    _wait(page, "() => document.querySelector('#models-page').dataset.version === '1'")
    # versions, newest first, with their aliases
    rows = page.eval_on_selector_all(
        "#versions-rows tr.version-row",
        "els => els.map(e => [e.dataset.version, e.dataset.aliases])",
    )
    assert rows == [["2", "challenger"], ["1", "champion"]]
    # the served version's holdout beside the baselines: a chart and a table
    bars = page.eval_on_selector_all("#holdout-chart g.bar", "els => els.map(e => e.dataset.name)")
    assert bars == ["linear", "naive", "mean", "up"]
    # the controls: the leak is loud (an alert box and a red row), the planted run is shown
    page.wait_for_selector(".leak-alert[data-model=peeking]")
    assert "PROBABLE LEAK: peeking" in page.inner_text("#leak-alerts")
    assert (
        page.eval_on_selector("#eval-random-table tr[data-model=peeking]", "e => e.className")
        == "leak"
    )
    assert page.is_visible("#eval-random-chart g.bar.leak")
    assert page.is_visible("#eval-planted-chart")
    # A/B and the stored prediction
    assert page.inner_text("#ab-table tr[data-alias=champion]").startswith("champion")
    assert page.inner_text("#ab-table tr[data-alias=challenger]").split()[1] == "v2"
    _wait(page, "() => document.querySelectorAll('#predictions-rows tr.prediction-row').length > 0")
    _wait(page, "() => document.querySelector('#ws-status').textContent === 'live'")
    shoot(page, "models-page")

    # predict now: stored, and published live on /ws/ai-predictions (champion and challenger)
    page.click("#predict-now")
    _wait(
        page,
        "() => document.querySelectorAll('#live-rows tr.live-row[data-alias=champion]').length > 0",
    )
    _wait(
        page,
        "() => document.querySelectorAll("
        "'#live-rows tr.live-row[data-alias=challenger]').length > 0",
    )
    assert "predictions by v1" in page.inner_text("#models-notice")

    # promote v2: the page (and every later prediction) is served by it
    page.click("#versions-rows tr[data-version='2'] button.promote")
    _wait(page, "() => document.querySelector('#models-page').dataset.version === '2'")
    assert "champion is now v2" in page.inner_text("#models-notice")

    # the market chart marks the stored prediction of its target day
    page.goto(f"{platform.base}/#/market?symbol={SYMBOL}&interval=1m")
    _wait(
        page,
        "() => Number(document.querySelector('[data-prediction-markers]')"
        "?.dataset.predictionMarkers || 0) > 0",
    )
    shoot(page, "market-prediction-markers")


def test_a_guest_sees_no_admin_actions(
    platform: Platform, trained: dict[str, Any], page: Any
) -> None:
    login(page, platform.base, "guest")
    page.click("a[data-route=models]")
    _wait(page, "() => !!document.querySelector('#models-page').dataset.version")
    assert page.query_selector("#predict-now") is None
    assert page.query_selector("#versions-rows button.promote") is None
