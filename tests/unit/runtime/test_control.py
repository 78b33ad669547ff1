"""Control messages: rule changes reach every member; start-up has no gap."""

from __future__ import annotations

from quantdesk.bus import Control, encode
from quantdesk.bus.memory import MemoryBus
from quantdesk.runtime.control import ControlListener, rule_control
from quantdesk.stream.signals import SignalEngine, SignalRule

OBI = SignalRule("obi", "obi", buy_above=0.6, sell_below=-0.6)


def test_every_member_applies_every_change_in_order() -> None:
    bus = MemoryBus()
    members = [ControlListener(bus, SignalEngine([OBI])) for _ in range(3)]
    fast = SignalRule("fast", "obi", symbol="AAPL", buy_above=0.1)
    bus.send(rule_control("fast", fast, "admin"))
    bus.send(rule_control("fast", SignalRule("fast", "obi", symbol="AAPL", buy_above=0.2)))
    bus.send(rule_control("obi", None))
    for member in members:
        assert member.poll() == 3
        assert [(r.id, r.buy_above) for r in member.engine.rules()] == [("fast", 0.2)]
        assert member.poll() == 0  # nothing new
    # applying the same change again changes nothing
    bus.send(rule_control("fast", SignalRule("fast", "obi", symbol="AAPL", buy_above=0.2)))
    bus.send(rule_control("gone", None))
    assert [m.poll() for m in members] == [0, 0, 0]


def test_a_change_made_while_a_member_starts_is_not_lost() -> None:
    bus = MemoryBus()
    stored: dict[str, SignalRule] = {"obi": OBI}
    engine = SignalEngine([OBI])  # built from the store before the listener

    def load() -> list[SignalRule]:
        # an operator adds a rule while the member loads: stored, and then published
        new = SignalRule("new", "obi", buy_above=0.3)
        stored["new"] = new
        bus.send(rule_control("new", new))
        return list(stored.values())

    member = ControlListener(bus, engine, load)
    assert {r.id for r in engine.rules()} == {"obi", "new"}
    member.poll()  # the message too: harmless
    assert {r.id for r in engine.rules()} == {"obi", "new"}


def test_bad_and_foreign_messages_are_skipped() -> None:
    bus = MemoryBus()
    member = ControlListener(bus, SignalEngine([OBI]))
    bus.publish(bus.topics.control, "x", b"not json")
    bus.send(Control("signal_rule", "bad", "upsert", {"factor": "obi"}))  # no threshold
    bus.send(Control("signal_rule", "odd", "rename", {}))
    bus.send(Control("risk_limit", "max_position", "upsert", {"value": 1}))
    assert member.poll() == 0
    assert member.rejected == 3
    seen: list[Control] = []
    member.handlers["risk_limit"] = lambda c: seen.append(c) or True
    bus.send(Control("risk_limit", "max_position", "upsert", {"value": 2}))
    assert member.poll() == 1 and seen[0].body == {"value": 2}
    assert [r.id for r in member.engine.rules()] == ["obi"]
    assert encode(seen[0])  # a round trip of the wire form
