"""The message bus: one interface (:mod:`.base`), in-process and Kafka implementations.

Typical use by a runner::

    bus = bus_from_settings(settings)      # QUANTDESK_BUS=memory|kafka
    bus.start()                            # creates missing topics
    bus.send(batch)                        # TradeBatch/BookSnapshot/Bar/... -> its topic
    sub = bus.subscribe([bus.topics.trades], "bars", on_revoke=flush_state)
    while running:
        for msg in sub.poll(500, timeout=0.5):
            try:
                obj = decode(msg.value)
            except MessageError as exc:
                dead_letter(bus, msg.value, exc.reason, msg.topic, str(exc))
                continue
            ...                            # operators, sinks
        sub.commit()                       # after the batch is handled: at-least-once
"""

from quantdesk.bus.base import (
    BUSES,
    Bus,
    BusError,
    BusFullError,
    Message,
    OffsetReset,
    Partition,
    RebalanceHook,
    Subscription,
    Topics,
    bus_class,
    bus_from_settings,
    bus_names,
    create_bus,
    dead_letter,
    register_bus,
)
from quantdesk.bus.codec import (
    REASONS,
    SCHEMA_VERSION,
    Control,
    DeadLetter,
    Encodable,
    Heartbeat,
    MessageError,
    TradeBatch,
    decode,
    decode_trades,
    encode,
    encode_trades,
    register_message,
)

__all__ = [
    "BUSES",
    "REASONS",
    "SCHEMA_VERSION",
    "Bus",
    "BusError",
    "BusFullError",
    "Control",
    "DeadLetter",
    "Encodable",
    "Heartbeat",
    "Message",
    "MessageError",
    "OffsetReset",
    "Partition",
    "RebalanceHook",
    "Subscription",
    "Topics",
    "TradeBatch",
    "bus_class",
    "bus_from_settings",
    "bus_names",
    "create_bus",
    "dead_letter",
    "decode",
    "decode_trades",
    "encode",
    "encode_trades",
    "register_bus",
    "register_message",
]
