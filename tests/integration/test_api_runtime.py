"""The hub wired into the real embedded runtime: live bars reach a /ws/market client."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.config import load_settings
from quantdesk.runtime.runner import Runner
from quantdesk.storage import open_store

MIN = 60_000


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    settings = load_settings(data_dir=tmp_path, backfill_days=0, seed=3, jobs=False)
    store = open_store(settings.resolved_database_url)
    rt = Runner(settings, store, test_mode=True, echo=lambda _m: None)
    rt.prepare()
    yield rt
    store.close()


def test_live_bars_signals_and_rules_reach_clients(runtime: Runner) -> None:
    context = ApiContext(runtime.store, runtime.settings, runtime.bus, runtime)
    app = create_app(context, echo=lambda _m: None)
    symbol = runtime.universe[0].symbol
    with TestClient(app) as client:
        tok = client.post(
            "/api/auth/token", data={"username": "admin", "password": "admin-pw"}
        ).json()["access_token"]
        # a rule made through the API reaches the runtime's engine as a control message
        rule = {"id": "every-obi", "factor": "obi", "buy_above": -2.0}
        auth = {"Authorization": f"Bearer {tok}"}
        assert client.post("/api/signal-rules", json=rule, headers=auth).status_code == 201
        runtime.step(runtime.sim_time)  # a tick with no market time: control only
        assert runtime.processor.signals.get_rule("every-obi").buy_above == -2.0
        with client.websocket_connect("/ws/market", headers=auth) as ws:
            assert ws.receive_json()["type"] == "welcome"
            ws.send_json({"subscribe": {"symbols": [symbol], "intervals": ["1m"]}})
            assert ws.receive_json()["type"] == "subscribed"
            start = runtime.clock.start

            def advance() -> None:
                asyncio.run(runtime.run_until(start + 3 * MIN))

            t = threading.Thread(target=advance)
            t.start()
            seen = []
            while len(seen) < 3 or not any(m["data"].get("final") for m in seen):
                msg = ws.receive_json()
                if msg["type"] == "bar":
                    assert msg["data"]["symbol"] == symbol
                    assert msg["data"]["interval"] == "1m"
                    seen.append(msg)
            t.join()
            assert any(not m["data"]["final"] for m in seen)
        metrics = client.get("/metrics").text
        assert "quantdesk_trades_total" in metrics and "quantdesk_bars_closed_total" in metrics
        status = client.get("/api/v2/system/status", headers={"Authorization": f"Bearer {tok}"})
        assert status.json()["runtime"]["trades"] > 0
