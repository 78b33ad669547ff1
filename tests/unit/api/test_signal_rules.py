"""Signal-rule CRUD: stored, sent as control messages to the live engines, kept across restarts."""

from __future__ import annotations

from pathlib import Path

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.bus.memory import MemoryBus
from quantdesk.config import load_settings
from quantdesk.domain import FactorValue
from quantdesk.runtime.control import ControlListener
from quantdesk.stream.signals import SignalEngine, merge_rules, rules_from_config
from tests.unit.api._app import bearer, build, token

T0 = 1_795_138_200_000


def listener(bus: MemoryBus, store, tmp_path: Path) -> ControlListener:
    """A processing member: an engine kept up to date by the control topic."""
    settings = load_settings(data_dir=tmp_path)
    engine = SignalEngine(rules_from_config(settings.signal_rules))
    return ControlListener(
        bus, engine, lambda: merge_rules(settings.signal_rules, store.load_signal_rules())
    )


def test_crud_changes_live_engine_and_persists(tmp_path: Path) -> None:
    bus = MemoryBus()
    bus.start()
    client, store = build(tmp_path, bus=bus)
    member = listener(bus, store, tmp_path)
    engine = member.engine
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
    assert member.poll() == 1  # the control message, applied
    assert engine.get_rule(new_id).symbol == "600036.SH"  # the bare code, as stored
    assert (
        client.post("/api/signal-rules", json={**body, "id": new_id}, headers=admin).status_code
        == 409
    )
    # the live engine fires with the new threshold
    engine.on_factor(FactorValue("600036.SH", T0, "obi", 0.0, ""))
    r = client.put(f"/api/signal-rules/{new_id}", json={**body, "buy_above": 0.1}, headers=admin)
    member.poll()
    assert r.status_code == 200 and engine.get_rule(new_id).buy_above == 0.1
    fired = engine.on_factor(FactorValue("600036.SH", T0 + 1, "obi", 0.2, ""))
    assert [s.rule_id for s in fired] == [new_id]
    assert client.delete("/api/signal-rules/obi", headers=admin).status_code == 204
    member.poll()
    assert {r.id for r in engine.rules()} == {"rsi", new_id}
    assert client.delete("/api/signal-rules/obi", headers=admin).status_code == 404
    bad = client.post("/api/signal-rules", json={"factor": "obi"}, headers=admin)
    assert bad.status_code == 400 and "threshold" in bad.json()["detail"]
    inverted = {**body, "buy_above": -1.0, "sell_below": 1.0}
    assert client.post("/api/signal-rules", json=inverted, headers=admin).status_code == 400
    assert client.put("/api/signal-rules/zz", json=body, headers=admin).status_code == 404
    assert member.poll() == 0  # refused changes sent nothing
    # a member that starts later: config defaults plus the table (deleted default stays deleted)
    later = listener(MemoryBus(), store, tmp_path)
    assert {r.id for r in later.engine.rules()} == {"rsi", new_id}
    assert later.engine.get_rule(new_id).buy_above == 0.1
    # and another API process over the same store lists the same rules
    other = create_app(ApiContext(store, load_settings(data_dir=tmp_path)), echo=lambda _: None)
    assert {r.id for r in other.state.rules.list()} == {"rsi", new_id}
    store.close()
