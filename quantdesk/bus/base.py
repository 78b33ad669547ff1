"""The message bus interface: topics keyed by symbol, consumer groups, at-least-once.

Two real implementations are registered by name, so configuration can say
``bus = "memory"`` or ``bus = "kafka"`` (``QUANTDESK_BUS``):

- ``memory`` (:mod:`quantdesk.bus.memory`): in-process, the default of
  ``quantdesk run``; bounded partitions with back-pressure, usable from threads
  and from asyncio.
- ``kafka`` (:mod:`quantdesk.bus.kafka`): Apache Kafka through confluent-kafka
  (``QUANTDESK_KAFKA_BOOTSTRAP``); idempotent producer, consumer groups.

Both share one model, the Kafka one: a topic has ``partitions`` partitions; a
message's key (the symbol) picks its partition, so one symbol's messages stay
in order. Every consumer group sees every message; the members of one group
split the partitions between them. A subscription returns batches from
:meth:`Subscription.poll`; the runner handles the batch, then calls
:meth:`Subscription.commit`. Whatever was polled but not committed is delivered
again to whichever member owns the partition next (at-least-once), so sinks
must be idempotent.

Implementing a bus
==================

:class:`Bus`

=====================================  ========  ==================================================
method                                 required  what it does
=====================================  ========  ==================================================
``publish(topic, key, value, *,``      yes       append ``value`` to the partition of ``key``;
``timeout=None)``                                blocks while the bus is full (back-pressure),
                                                 :class:`BusFullError` after ``timeout`` seconds
``subscribe(topics, group, *,``        yes       join consumer group ``group``; returns a
``on_assign, on_revoke,``                        :class:`Subscription`
``offset_reset)``
``close()``                            yes       flush, then release every resource
``start()``                            no        connect and create missing topics (idempotent)
``flush(timeout)``                     no        wait until published messages are stored;
                                                 :class:`BusError` if some were not
``publish_async(topic, key, value)``   no        as ``publish`` but awaits instead of blocking
``tail(topics, *, start)``             no        a reader of *every* partition in no group (see
                                                 below); default: a subscription in a group of
                                                 its own
=====================================  ========  ==================================================

:class:`Subscription`

=====================================  ========  ==================================================
method                                 required  what it does
=====================================  ========  ==================================================
``poll(max_messages, timeout)``        yes       up to ``max_messages`` messages, in order per
                                                 partition; ``[]`` after ``timeout`` seconds.
                                                 Rebalance hooks run inside ``poll``.
``commit()``                           yes       commit everything ``poll`` returned so far (on
                                                 partitions still owned); synchronous
``close()``                            yes       leave the group without committing (``on_revoke``
                                                 runs first, so a hook may commit)
``assignment()``                       yes       the partitions this member owns now
``poll_async(max_messages, timeout)``  no        as ``poll`` for asyncio (default: in a thread)
``lag()``                              no        messages behind the newest, per owned partition
                                                 (default: ``{}``, unknown)
=====================================  ========  ==================================================

Rebalance hooks: ``on_assign(partitions)`` runs when partitions are handed to
this member (reset operator state for them); ``on_revoke(partitions)`` runs
before they are taken away (flush operator state, publish what it produced,
then call ``commit()`` if the runner wants the new owner to start after it).
Both receive a list of :class:`Partition` and run in the thread that called
``poll``/``close``.

Tail readers (broadcast). :meth:`Bus.tail` returns a :class:`Subscription`
that reads every partition of its topics, belongs to no consumer group and
commits nothing: every tail reader sees every message published after it was
created (``start="latest"``; its start offsets are fixed when ``tail``
returns, so nothing published afterwards is missed). It never holds a
publisher back: a reader that falls behind the bus's retention skips ahead
and counts what it lost in :attr:`Subscription.lost`. The API's WebSocket
hub reads the output topics this way (every API process sees the output of
every worker), and every processing member reads ``control`` this way.
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from types import TracebackType
from typing import Any, ClassVar, Literal, NamedTuple

from quantdesk.bus.codec import (
    TYPE_TOPIC,
    DeadLetter,
    Encodable,
    encode,
    message_key,
    message_type,
)
from quantdesk.errors import BusError as BusError
from quantdesk.errors import BusFullError as BusFullError
from quantdesk.errors import ConfigError
from quantdesk.plugins import Registry


class Partition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Message:
    """One message as delivered by :meth:`Subscription.poll`.

    ``offset`` is its position in the partition; ``timestamp`` is epoch ms
    (when it was produced); ``key`` is the symbol (``None`` if unkeyed).
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp: int = 0


RebalanceHook = Callable[[list[Partition]], None]
OffsetReset = Literal["earliest", "latest"]


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names. ``Topics.with_prefix("desk2")`` gives ``desk2.trades`` and so on.

    Three kinds: **input** topics (``trades``, ``quotes``) that sources write
    and the stream group consumes; **output** topics (:meth:`outputs`) that
    processing writes and serving (the API's WebSocket hub) reads; and
    ``control``, which the API writes and every processing member reads
    (signal-rule changes). Predictions, orders, fills, risk alerts and job
    events have their topics before their writers exist, so a new writer only
    registers its message type (:func:`quantdesk.bus.codec.register_message`).
    """

    trades: str = "quantdesk.trades"
    quotes: str = "quantdesk.quotes"
    bars: str = "quantdesk.bars"
    factors: str = "quantdesk.factors"
    signals: str = "quantdesk.signals"
    deadletter: str = "quantdesk.deadletter"
    tweets: str = "quantdesk.tweets"
    predictions: str = "quantdesk.predictions"
    orders: str = "quantdesk.orders"
    fills: str = "quantdesk.fills"
    alerts: str = "quantdesk.alerts"
    jobs: str = "quantdesk.jobs"
    control: str = "quantdesk.control"

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(**{f.name: f"{prefix}.{f.name}" for f in fields(cls)})

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]

    def inputs(self) -> list[str]:
        """What sources write: trades (and clock heartbeats), book snapshots."""
        return [self.trades, self.quotes]

    def outputs(self) -> list[str]:
        """What processing writes for serving: every topic but the inputs and control."""
        skip = {self.trades, self.quotes, self.control}
        return [t for t in self.all() if t not in skip]

    def for_type(self, message_type: str) -> str:
        """The topic a message of wire type ``message_type`` travels on."""
        return str(getattr(self, TYPE_TOPIC[message_type]))


DEFAULT_PARTITIONS = 6


class Subscription(abc.ABC):
    """A member of a consumer group; see the module docstring for the contract."""

    #: tail readers: messages skipped because the bus no longer held them
    lost: int = 0

    @abc.abstractmethod
    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_messages`` messages; ``[]`` if none came within ``timeout`` seconds."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Commit the offsets of every message returned by :meth:`poll` so far."""

    @abc.abstractmethod
    def close(self) -> None:
        """Leave the group. Uncommitted messages will be delivered again."""

    @abc.abstractmethod
    def assignment(self) -> list[Partition]:
        """The partitions this member owns now."""

    async def poll_async(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        """:meth:`poll` without blocking the event loop."""
        return await asyncio.to_thread(self.poll, max_messages, timeout)

    def lag(self) -> dict[Partition, int]:
        """Messages not yet polled per owned partition, where the bus knows (else ``{}``)."""
        return {}

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Bus(abc.ABC):
    """A message bus; see the module docstring for the table of methods."""

    name: ClassVar[str]

    def __init__(self, *, topics: Topics | None = None, partitions: int = DEFAULT_PARTITIONS):
        if partitions < 1:
            raise ConfigError(f"bus partitions: must be >= 1 (got {partitions})")
        self.topics = topics or Topics()
        self.partitions = partitions

    # -- required ----------------------------------------------------------
    @abc.abstractmethod
    def publish(
        self, topic: str, key: str | None, value: bytes, *, timeout: float | None = None
    ) -> None:
        """Append ``value`` to the partition that ``key`` maps to."""

    @abc.abstractmethod
    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceHook | None = None,
        on_revoke: RebalanceHook | None = None,
        offset_reset: OffsetReset = "earliest",
    ) -> Subscription:
        """Join consumer group ``group`` on ``topics``.

        ``offset_reset`` says where a group with no committed offset starts.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything."""

    # -- optional ----------------------------------------------------------
    def start(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Connect and create missing topics; safe to call twice."""

    def flush(self, timeout: float = 30.0) -> None:  # noqa: B027 - optional hook
        """Wait until every published message is stored."""

    async def publish_async(self, topic: str, key: str | None, value: bytes) -> None:
        """:meth:`publish` without blocking the event loop."""
        await asyncio.to_thread(self.publish, topic, key, value)

    def tail(self, topics: Sequence[str], *, start: OffsetReset = "latest") -> Subscription:
        """A reader of every partition of ``topics`` in no group (see the module docstring).

        This default joins a consumer group of its own; implementations read
        without a group.
        """
        return self.subscribe(topics, f"tail-{uuid.uuid4().hex}", offset_reset=start)

    # -- concrete helpers -------------------------------------------------
    def route(self, obj: Encodable) -> tuple[str, str | None, bytes]:
        """(topic, key, payload) of a domain object."""
        return self.topics.for_type(message_type(obj)), message_key(obj), encode(obj)

    def send(self, obj: Encodable, *, timeout: float | None = None) -> None:
        """Encode a domain object and publish it on its topic, keyed by symbol."""
        topic, key, value = self.route(obj)
        self.publish(topic, key, value, timeout=timeout)

    async def send_async(self, obj: Encodable) -> None:
        topic, key, value = self.route(obj)
        await self.publish_async(topic, key, value)

    def __enter__(self) -> Bus:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def dead_letter(
    bus: Bus, raw: bytes, reason: str, source_topic: str, error: str = "", *, key: str | None = None
) -> None:
    """Publish a rejected payload to the dead-letter topic, with why and where from.

    The message is ``{"v": 1, "type": "deadletter", "reason": ..., "topic": ...,
    "encoding": "utf-8" | "base64", "raw": ..., "error": ...}``.
    """
    value = encode(DeadLetter(reason, source_topic, raw, error))
    bus.publish(bus.topics.deadletter, key, value)


# ---------------------------------------------------------------------------
# registry

#: Bus implementations by name (``QUANTDESK_BUS``); a user's package adds one with
#: ``BUSES.register("name", "pkg.module:Class")`` or the ``quantdesk.buses`` entry points.
BUSES: Registry[type[Bus]] = Registry("bus", "QUANTDESK_BUS", group="quantdesk.buses")
BUSES.register("memory", "quantdesk.bus.memory:MemoryBus")
BUSES.register("kafka", "quantdesk.bus.kafka:KafkaBus")


def register_bus(name: str, cls: type[Bus] | str) -> None:
    """Register a bus implementation (a class or ``"module:Class"``) under ``name``."""
    BUSES.register(name, cls)


def bus_names() -> list[str]:
    return BUSES.names()


def bus_class(name: str) -> type[Bus]:
    entry = BUSES.get(name)
    if not (isinstance(entry, type) and issubclass(entry, Bus)):
        raise ConfigError(f"QUANTDESK_BUS: {name!r} is registered as {entry!r}, not a Bus class")
    return entry


def create_bus(name: str, **options: Any) -> Bus:
    """Build the bus registered as ``name`` with its keyword options (not started)."""
    return bus_class(name)(**options)


def bus_from_settings(settings: Any, **overrides: Any) -> Bus:
    """The bus that settings select (``bus``, ``kafka_bootstrap``; optional
    ``bus_partitions`` and ``bus_topic_prefix`` when settings have them)."""
    options: dict[str, Any] = {}
    prefix = getattr(settings, "bus_topic_prefix", None)
    if prefix:
        options["topics"] = Topics.with_prefix(prefix)
    partitions = getattr(settings, "bus_partitions", None)
    if partitions:
        options["partitions"] = int(partitions)
    if settings.bus == "kafka":
        options["bootstrap"] = settings.kafka_bootstrap
    options.update(overrides)
    return create_bus(settings.bus, **options)
