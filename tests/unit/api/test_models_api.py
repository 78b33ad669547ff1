"""``/api/v2/ai``: predictions, models, status, promote/rollback, predict now (with
``/ws/ai-predictions`` speaking), bad input as one-line 4xx, hot reload under live requests."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.bus.memory import MemoryBus
from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.config import load_settings
from quantdesk.models import service
from quantdesk.models.datasets.controls import control_bars, control_universe
from quantdesk.models.registry import ModelRegistry
from quantdesk.storage import open_store
from quantdesk.storage.models import EvaluationRepository
from tests.unit.api._app import bearer, token

END = dt.date(2020, 3, 20)


@pytest.fixture(scope="module")
def bars() -> tuple[pd.DataFrame, ExchangeCalendar]:
    return control_bars("planted", n_stocks=6, n_days=80, seed=5)


@pytest.fixture
def app(tmp_path: Path, bars: tuple[pd.DataFrame, ExchangeCalendar]) -> Iterator[dict[str, Any]]:
    settings = load_settings(data_dir=tmp_path, market="cn")
    store = open_store(settings.resolved_database_url)
    store.migrate()
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars[0])
    registry = ModelRegistry(store.engine, settings.resolved_model_dir)
    service.train(store, registry, "linear", end=END)
    service.train(store, registry, "linear", end=END, params={"alpha": 10.0})
    registry.promote("linear", 1)
    bus = MemoryBus()
    bus.start()
    client = TestClient(create_app(ApiContext(store, settings, bus), echo=lambda _: None))
    with client:
        yield {
            "client": client,
            "registry": registry,
            "admin": bearer(token(client, "admin")),
            "guest": bearer(token(client, "guest")),
        }
    bus.close()
    store.close()


def test_models_status_and_the_default_model(app: dict[str, Any]) -> None:
    c, guest = app["client"], app["guest"]
    r = c.get("/api/v2/ai/models", headers=guest)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["default"] == "lstm"
    linear = next(m for m in doc["models"] if m["name"] == "linear")
    assert linear["champion"] == 1 and linear["challenger"] == 2
    assert [v["version"] for v in linear["versions"]] == [1, 2]
    r = c.get("/api/v2/ai/models/linear/status", headers=guest)
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["version"] == 1 and st["trained_range"][1] <= END.isoformat()
    assert {"linear", "naive", "mean", "up"} <= set(st["metrics"])  # beside the baselines
    assert st["ab"]["champion"]["version"] == 1 and st["ab"]["challenger"]["version"] == 2
    # the default model (ensemble -> lstm) has no version: one line, 404
    r = c.get("/api/v2/ai/predictions", headers=guest)
    assert r.status_code == 404 and "lstm has no version" in r.json()["detail"]


def test_predict_publishes_and_promote_rolls_back(app: dict[str, Any]) -> None:
    c, admin, guest = app["client"], app["admin"], app["guest"]
    with c.websocket_connect("/ws/ai-predictions", headers=guest) as ws:
        assert ws.receive_json()["type"] == "welcome"
        r = c.post("/api/v2/ai/models/linear/predict", json={}, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {p["version"] for p in body["champion"]} == {1}
        assert {p["version"] for p in body["challenger"]} == {2}
        got = [ws.receive_json() for _ in range(12)]
    assert {m["type"] for m in got} == {"prediction"}
    assert {(m["data"]["alias"], m["data"]["version"]) for m in got} == {
        ("champion", 1),
        ("challenger", 2),
    }
    r = c.get("/api/v2/ai/predictions", params={"model": "linear"}, headers=guest)
    assert r.status_code == 200
    assert r.json()["version"] == 1
    assert {p["version"] for p in r.json()["predictions"]} == {1}
    sym = r.json()["predictions"][0]["symbol"]
    r = c.get("/api/v2/ai/predictions/history", params={"symbol": sym, "model": "linear"},
              headers=guest)  # fmt: skip
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1
    # promote: guest refused, admin served from the next request on; then roll back
    body2 = {"version": 2}
    assert c.post("/api/v2/ai/models/linear/promote", json=body2, headers=guest).status_code == 403
    r = c.post("/api/v2/ai/models/linear/promote", json=body2, headers=admin)
    assert r.status_code == 200 and r.json()["previous"] == 1
    r = c.get("/api/v2/ai/predictions", params={"model": "linear"}, headers=guest)
    assert r.json()["version"] == 2
    r = c.post("/api/v2/ai/models/linear/promote", json={"rollback": True}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("GET", "/api/v2/ai/models/nosuch/status", None, 404, "unknown model"),
        ("GET", "/api/v2/ai/models/rf/status", None, 404, "no version"),
        ("GET", "/api/v2/ai/predictions?model=nosuch", None, 404, "unknown model"),
        ("GET", "/api/v2/ai/predictions?model=linear&symbols=ZZZ999", None, 404, "ZZZ999"),
        ("POST", "/api/v2/ai/models/linear/promote", {"version": 9}, 404, "no version 9"),
        ("POST", "/api/v2/ai/models/linear/promote", {"version": 0}, 422, "version"),
        ("POST", "/api/v2/ai/models/linear/promote", {"version": 2, "alias": "x"}, 400, "alias"),
        ("POST", "/api/v2/ai/models/linear/promote", {}, 400, "either version"),
        ("POST", "/api/v2/ai/models/linear/promote", {"version": 2, "x": 1}, 422, "x"),
        ("POST", "/api/v2/ai/models/rf/predict", {}, 404, "no version"),
        ("POST", "/api/v2/ai/models/linear/predict", {"symbols": ["ZZZ999"]}, 404, "ZZZ999"),
    ],
)
def test_bad_input_is_one_line_4xx(
    app: dict[str, Any], method: str, path: str, body: Any, status: int, says: str
) -> None:
    r = app["client"].request(method, path, json=body, headers=app["admin"])
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert says in detail and "\n" not in detail


def test_corrupt_artifact_is_refused_and_the_champion_stays(app: dict[str, Any]) -> None:
    c, admin, registry = app["client"], app["admin"], app["registry"]
    path = registry.model_dir / registry.versions.get("linear", 2).artifact
    path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    r = c.post("/api/v2/ai/models/linear/promote", json={"version": 2}, headers=admin)
    assert r.status_code == 422 and "corrupt" in r.json()["detail"]
    assert registry.versions.alias("linear", "champion") == 1
    # a corrupt challenger cannot serve: the champion still predicts, and the reason is given
    r = c.post("/api/v2/ai/models/linear/predict", json={}, headers=admin)
    assert r.status_code == 200 and {p["version"] for p in r.json()["champion"]} == {1}
    assert "challenger" not in r.json() and "corrupt" in r.json()["challenger_error"]
    # a corrupt champion: one line, 422, nothing stored
    registry.versions.set_alias("linear", "champion", 2)
    r = c.post("/api/v2/ai/models/linear/predict", json={}, headers=admin)
    assert r.status_code == 422 and "corrupt" in r.json()["detail"]


def test_models_list_shows_evaluations_and_leaks(app: dict[str, Any]) -> None:
    registry = app["registry"]
    leak = {"direction_accuracy": 0.9, "direction_accuracy_ci": [0.85, 0.95], "outside_50": True}
    fine = {"direction_accuracy": 0.5, "direction_accuracy_ci": [0.45, 0.55], "outside_50": False}
    EvaluationRepository(registry.engine).add(
        {"dataset": "morning", "control": "random", "models": {"rf": leak, "naive": leak,
                                                               "linear": fine}}
    )  # fmt: skip
    r = app["client"].get("/api/v2/ai/models", headers=app["guest"])
    ev = r.json()["evaluations"]
    assert ev["random"]["probable_leaks"] == ["rf"]  # baselines are never a leak


def test_hot_reload_under_live_requests(app: dict[str, Any]) -> None:
    """Requests keep predicting while an admin promotes: none fails, and every request
    that starts after the promotion answered is served by the new champion."""
    c, admin = app["client"], app["admin"]
    seen: list[tuple[float, int]] = []
    errors: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            r = c.post(
                "/api/v2/ai/models/linear/predict",
                json={"symbols": ["SIM000"], "ab": False},
                headers=admin,
            )
            if r.status_code != 200:
                errors.append(r.text)
                return
            seen.append((start, r.json()["version"]))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    r = c.post("/api/v2/ai/models/linear/promote", json={"version": 2}, headers=admin)
    assert r.status_code == 200
    promoted = time.perf_counter()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert {v for s, v in seen if s < promoted - 0.2} == {1}
    after = [(s, v) for s, v in seen if s > promoted]
    assert after and {v for _, v in after} == {2}
    assert min(s for s, _ in after) - promoted < 1.0
