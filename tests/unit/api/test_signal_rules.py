"""Signal-rule CRUD changes the live engine and persists across restarts."""

from __future__ import annotations

from pathlib import Path

from quantdesk.api.app import create_app
from quantdesk.config import load_settings
from quantdesk.domain import FactorValue
from quantdesk.stream.signals import SignalEngine, rules_from_config
from tests.unit.api._app import bearer, build, token

T0 = 1_795_138_200_000


class Processor:
    def __init__(self) -> None:
        self.signals = SignalEngine(rules_from_config(load_settings().signal_rules))


class Runtime:
    def __init__(self) -> None:
        self.processor = Processor()

    def describe(self) -> dict:
        return {}


def test_crud_changes_live_engine_and_persists(tmp_path: Path) -> None:
    rt = Runtime()
    client, store = build(tmp_path, rt)
    engine = rt.processor.signals
    admin = bearer(token(client, "admin"))
    assert {r["id"] for r in client.get("/api/signal-rules", headers=admin).json()} == {
        "obi",
        "rsi",
    }
    unknown = {"factor": "obi", "symbol": "AAPL", "buy_above": 0.6, "sell_below": -0.6}
    r = client.post("/api/signal-rules", json=unknown, headers=admin)  # not in the cn store
    assert r.status_code == 404 and "unknown symbol 'AAPL'" in r.json()["detail"]
    body = {"factor": "obi", "symbol": "600036", "buy_above": 0.6, "sell_below": -0.6}
    r = client.post("/api/signal-rules", json=body, headers=admin)
    assert r.status_code == 201
    new_id = r.json()["id"]
    assert engine.get_rule(new_id).symbol == "600036.SH"  # the bare code, as stored
    assert (
        client.post("/api/signal-rules", json={**body, "id": new_id}, headers=admin).status_code
        == 409
    )
    # the live engine fires with the new threshold
    engine.on_factor(FactorValue("600036.SH", T0, "obi", 0.0, ""))
    r = client.put(f"/api/signal-rules/{new_id}", json={**body, "buy_above": 0.1}, headers=admin)
    assert r.status_code == 200 and engine.get_rule(new_id).buy_above == 0.1
    fired = engine.on_factor(FactorValue("600036.SH", T0 + 1, "obi", 0.2, ""))
    assert [s.rule_id for s in fired] == [new_id]
    assert client.delete("/api/signal-rules/obi", headers=admin).status_code == 204
    assert client.delete("/api/signal-rules/obi", headers=admin).status_code == 404
    bad = client.post("/api/signal-rules", json={"factor": "obi"}, headers=admin)
    assert bad.status_code == 400 and "threshold" in bad.json()["detail"]
    inverted = {**body, "buy_above": -1.0, "sell_below": 1.0}
    assert client.post("/api/signal-rules", json=inverted, headers=admin).status_code == 400
    assert client.put("/api/signal-rules/zz", json=body, headers=admin).status_code == 404
    # a restart: config defaults plus the table (deleted default stays deleted)
    rt2 = Runtime()
    create_app(store, load_settings(data_dir=tmp_path), rt2, echo=lambda _: None)
    ids = {r.id for r in rt2.processor.signals.rules()}
    assert ids == {"rsi", new_id}
    assert rt2.processor.signals.get_rule(new_id).buy_above == 0.1
    store.close()
