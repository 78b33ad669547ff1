"""The bus registry, topic names and selection from settings."""

from __future__ import annotations

import pytest

from quantdesk.bus import (
    BUSES,
    Bus,
    Topics,
    bus_from_settings,
    bus_names,
    create_bus,
    register_bus,
)
from quantdesk.bus.kafka import KafkaBus
from quantdesk.bus.memory import MemoryBus
from quantdesk.config.settings import load_settings
from quantdesk.errors import ConfigError


def test_default_topic_names() -> None:
    assert Topics().all() == [
        "quantdesk.trades",
        "quantdesk.quotes",
        "quantdesk.bars",
        "quantdesk.factors",
        "quantdesk.signals",
        "quantdesk.deadletter",
        "quantdesk.tweets",
        "quantdesk.predictions",
        "quantdesk.orders",
        "quantdesk.fills",
        "quantdesk.alerts",
        "quantdesk.jobs",
        "quantdesk.control",
    ]
    assert Topics.with_prefix("desk2").quotes == "desk2.quotes"
    assert Topics().for_type("book") == "quantdesk.quotes"
    assert Topics().for_type("tweet") == "quantdesk.tweets"
    assert Topics().for_type("control") == "quantdesk.control"
    topics = Topics.with_prefix("d")
    assert topics.inputs() == ["d.trades", "d.quotes"]
    outputs = topics.outputs()
    assert "d.bars" in outputs and "d.alerts" in outputs and "d.jobs" in outputs
    assert not {"d.trades", "d.quotes", "d.control"} & set(outputs)


def test_registry() -> None:
    assert {"memory", "kafka"} <= set(bus_names())
    assert isinstance(create_bus("memory", partitions=3), MemoryBus)
    with pytest.raises(ConfigError, match="QUANTDESK_BUS: unknown bus 'redis'"):
        create_bus("redis")
    with pytest.raises(ConfigError, match="partitions"):
        create_bus("memory", partitions=0)


def test_register_a_third_bus() -> None:
    class Other(MemoryBus):
        name = "other"

    register_bus("other", Other)
    try:
        assert isinstance(create_bus("other"), Other)
    finally:
        BUSES.unregister("other")


def test_settings_select_the_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_BUS", "kafka")
    monkeypatch.setenv("QUANTDESK_KAFKA_BOOTSTRAP", "broker1:9092,broker2:9092")
    bus = bus_from_settings(load_settings())
    assert isinstance(bus, KafkaBus) and bus.bootstrap == "broker1:9092,broker2:9092"
    assert bus.partitions == 6
    monkeypatch.setenv("QUANTDESK_BUS", "memory")
    assert isinstance(bus_from_settings(load_settings()), MemoryBus)
    monkeypatch.setenv("QUANTDESK_BUS", "zeromq")
    with pytest.raises(ConfigError, match="QUANTDESK_BUS"):
        load_settings()


def test_buses_are_context_managers() -> None:
    with create_bus("memory") as bus:
        assert isinstance(bus, Bus)
