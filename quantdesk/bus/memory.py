"""In-process bus: the default of ``quantdesk run`` (one process, no broker).

It follows the Kafka model of :mod:`quantdesk.bus.base` so the same runner code
works on both: each topic has ``partitions`` partitions, a key (symbol) maps to
one partition by CRC-32, so one symbol's messages stay in order; every group
gets every message and the members of a group split the partitions; commits
are per group, and what was polled but not committed is delivered again to the
partition's next owner.

Back-pressure: a partition holds at most ``capacity`` messages that some active
group (one with a live member) has not committed yet. ``publish`` blocks while
the target partition is full (and raises :class:`BusFullError` after the
timeout); ``publish_async`` awaits instead. With no active group on a topic,
a partition keeps its last ``capacity`` messages (the oldest are dropped), so a
consumer that subscribes a moment after a source starts loses nothing.

Rebalancing is eager, as in Kafka: when a member joins or leaves, partitions
that move are first revoked by their old owner (``on_revoke`` runs inside its
next ``poll``), then handed to the new owner (``on_assign`` inside its
``poll``). A partition is never owned by two members at once.

Everything is guarded by one lock; blocking calls wait on a condition that both
threads and asyncio tasks can wait on, so the bus works from plain threads,
from one event loop, or both (inside a loop, use ``publish_async`` and
``poll_async``). The bus may be shared by any number of threads; each
subscription is used by one thread or task at a time, as in Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from threading import Condition, Lock

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
from quantdesk.errors import ConfigError

DEFAULT_CAPACITY = 10_000
DEFAULT_PUBLISH_TIMEOUT = 30.0


class _Wakeup:
    """A condition that threads (``wait``) and coroutines (``future``) can wait on.

    Hand-written because ``threading.Condition`` cannot be awaited and
    ``asyncio.Condition`` cannot be waited on from a thread. Callers hold the lock.
    """

    def __init__(self, lock: Lock) -> None:
        self.cond = Condition(lock)
        self._futures: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        self.cond.notify_all()
        if self._futures:
            futures, self._futures = self._futures, []
            for fut in futures:
                # RuntimeError: its loop is closed, nobody waits any more.
                with contextlib.suppress(RuntimeError):
                    fut.get_loop().call_soon_threadsafe(_resolve, fut)

    def future(self) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.append(fut)
        return fut


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _wait(fut: asyncio.Future[None], timeout: float | None) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fut, timeout)


@dataclass(slots=True)
class _Log:
    """One partition: retained messages ``items``, the first at offset ``start``."""

    items: list[Message] = field(default_factory=list)
    start: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.items)

    def trim(self, new_start: int) -> None:
        if new_start > self.start:
            del self.items[: new_start - self.start]
            self.start = new_start


@dataclass(slots=True)
class _Group:
    name: str
    members: list[MemorySubscription] = field(default_factory=list)
    committed: dict[Partition, int] = field(default_factory=dict)
    target: dict[Partition, MemorySubscription] = field(default_factory=dict)
    owner: dict[Partition, MemorySubscription] = field(default_factory=dict)


class MemoryBus(Bus):
    """The in-process bus. ``capacity`` is per partition, in messages."""

    name = "memory"

    def __init__(
        self,
        *,
        topics: Topics | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        capacity: int = DEFAULT_CAPACITY,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        super().__init__(topics=topics, partitions=partitions)
        if capacity < 1:
            raise ConfigError(f"memory bus capacity: must be >= 1 (got {capacity})")
        self.capacity = capacity
        self.publish_timeout = publish_timeout
        self._lock = Lock()
        self._wake = _Wakeup(self._lock)
        self._logs: dict[str, list[_Log]] = {}
        self._groups: dict[str, _Group] = {}
        self._round_robin: dict[str, int] = {}
        self._closed = False

    # -- producing -----------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            for topic in self.topics.all():
                self._log_locked(topic)

    def publish(
        self, topic: str, key: str | None, value: bytes, *, timeout: float | None = None
    ) -> None:
        wait = self.publish_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._lock:
            while not self._try_append_locked(topic, key, value):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BusFullError(
                        f"memory bus: a partition of {topic} stayed full ({self.capacity} "
                        f"uncommitted messages) for {wait:g} s; is a consumer committing?"
                    )
                self._wake.cond.wait(remaining)

    async def publish_async(self, topic: str, key: str | None, value: bytes) -> None:
        while True:
            with self._lock:
                if self._try_append_locked(topic, key, value):
                    return
                fut = self._wake.future()
            await _wait(fut, None)

    def _try_append_locked(self, topic: str, key: str | None, value: bytes) -> bool:
        if self._closed:
            raise BusError("memory bus is closed")
        logs = self._log_locked(topic)
        if key is None:
            n = self._round_robin.get(topic, 0)
            self._round_robin[topic] = n + 1
            index = n % len(logs)
        else:
            index = zlib.crc32(key.encode()) % len(logs)
        log = logs[index]
        floor = self._floor_locked(Partition(topic, index), log)
        if floor is not None and log.end - floor >= self.capacity:
            return False
        log.items.append(Message(topic, index, log.end, key, value, time.time_ns() // 1_000_000))
        if floor is None and len(log.items) > self.capacity:
            log.trim(log.end - self.capacity)
        self._wake.notify()
        return True

    def _log_locked(self, topic: str) -> list[_Log]:
        logs = self._logs.get(topic)
        if logs is None:
            logs = self._logs[topic] = [_Log() for _ in range(self.partitions)]
        return logs

    def _floor_locked(self, part: Partition, log: _Log) -> int | None:
        """The lowest offset an active group still needs; ``None`` if no group is active."""
        floor: int | None = None
        for group in self._groups.values():
            if any(part.topic in m.topics for m in group.members):
                c = max(group.committed.get(part, log.start), log.start)
                floor = c if floor is None else min(floor, c)
        return floor

    def _trim_locked(self, parts: Sequence[Partition]) -> None:
        for part in parts:
            log = self._logs[part.topic][part.partition]
            floor = self._floor_locked(part, log)
            log.trim(log.end - self.capacity if floor is None else floor)

    def depth(self, topic: str) -> int:
        """Messages of ``topic`` retained (not yet committed by every active group)."""
        with self._lock:
            return sum(len(log.items) for log in self._logs.get(topic, []))

    # -- consuming -----------------------------------------------------------
    def subscribe(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceHook | None = None,
        on_revoke: RebalanceHook | None = None,
        offset_reset: OffsetReset = "earliest",
    ) -> MemorySubscription:
        if not topics:
            raise BusError("subscribe needs at least one topic")
        with self._lock:
            if self._closed:
                raise BusError("memory bus is closed")
            grp = self._groups.get(group)
            if grp is None:
                grp = self._groups[group] = _Group(group)
            for topic in topics:
                for index, log in enumerate(self._log_locked(topic)):
                    part = Partition(topic, index)
                    if part not in grp.committed:
                        grp.committed[part] = log.start if offset_reset == "earliest" else log.end
            sub = MemorySubscription(self, grp, tuple(topics), on_assign, on_revoke)
            grp.members.append(sub)
            self._rebalance_locked(grp)
        return sub

    def _rebalance_locked(self, grp: _Group) -> None:
        """Range assignment per topic over the members subscribed to it, in join order."""
        grp.target.clear()
        for topic in {t for m in grp.members for t in m.topics}:
            members = [m for m in grp.members if topic in m.topics]
            n = len(self._logs[topic])
            for index in range(n):
                grp.target[Partition(topic, index)] = members[index * len(members) // n]
        self._wake.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()


class MemorySubscription(Subscription):
    """A member of a consumer group on a :class:`MemoryBus`."""

    def __init__(
        self,
        bus: MemoryBus,
        group: _Group,
        topics: tuple[str, ...],
        on_assign: RebalanceHook | None,
        on_revoke: RebalanceHook | None,
    ) -> None:
        self._bus = bus
        self._group = group
        self.topics = topics
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._owned: list[Partition] = []
        self._pos: dict[Partition, int] = {}
        self._next = 0  # rotates the partition read first, for fairness
        self._closed = False

    def assignment(self) -> list[Partition]:
        with self._bus._lock:
            return sorted(self._owned)

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            self._apply_rebalance()
            with self._bus._lock:
                if self._pending_rebalance_locked():
                    continue
                msgs = self._take_locked(max_messages)
                remaining = deadline - time.monotonic()
                if msgs or remaining <= 0:
                    return msgs
                self._bus._wake.cond.wait(remaining)

    async def poll_async(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            self._apply_rebalance()
            with self._bus._lock:
                if self._pending_rebalance_locked():
                    continue
                msgs = self._take_locked(max_messages)
                remaining = deadline - time.monotonic()
                if msgs or remaining <= 0:
                    return msgs
                fut = self._bus._wake.future()
            await _wait(fut, remaining)

    def lag(self) -> dict[Partition, int]:
        """Messages published but not yet polled, per owned partition."""
        with self._bus._lock:
            logs = self._bus._logs
            return {
                part: max(0, log.end - max(self._pos.get(part, 0), log.start))
                for part in sorted(self._owned)
                for log in (logs[part.topic][part.partition],)
            }

    def commit(self) -> None:
        bus = self._bus
        with bus._lock:
            committed = self._group.committed
            for part in self._owned:
                committed[part] = self._pos[part]
            bus._trim_locked(self._owned)
            bus._wake.notify()

    def close(self) -> None:
        if self._closed:
            return
        owned = self.assignment()
        if owned and self._on_revoke is not None:
            self._on_revoke(owned)
        bus = self._bus
        with bus._lock:
            self._closed = True
            grp = self._group
            grp.members.remove(self)
            for part in self._owned:
                if grp.owner.get(part) is self:
                    del grp.owner[part]
            self._owned.clear()
            self._pos.clear()
            bus._rebalance_locked(grp)
            touched = [Partition(t, i) for t in self.topics for i in range(len(bus._logs[t]))]
            bus._trim_locked(touched)

    # -- internals -----------------------------------------------------------
    def _check_open_locked(self) -> None:
        if self._closed:
            raise BusError("subscription is closed")
        if self._bus._closed:
            raise BusError("memory bus is closed")

    def _pending_rebalance_locked(self) -> bool:
        grp = self._group
        if any(grp.target.get(p) is not self for p in self._owned):
            return True
        return any(m is self and p not in grp.owner for p, m in grp.target.items())

    def _apply_rebalance(self) -> None:
        """Revoke partitions that moved away, then take the ones that are free for us.

        Hooks run outside the lock: they may publish or commit.
        """
        bus, grp = self._bus, self._group
        with bus._lock:
            self._check_open_locked()
            revoked = [p for p in self._owned if grp.target.get(p) is not self]
        if revoked:
            if self._on_revoke is not None:
                self._on_revoke(revoked)
            with bus._lock:
                for part in revoked:
                    self._owned.remove(part)
                    del self._pos[part]
                    if grp.owner.get(part) is self:
                        del grp.owner[part]
                bus._wake.notify()
        with bus._lock:
            assigned = sorted(p for p, m in grp.target.items() if m is self and p not in grp.owner)
            for part in assigned:
                log = bus._logs[part.topic][part.partition]
                grp.owner[part] = self
                self._owned.append(part)
                self._pos[part] = max(grp.committed.get(part, log.start), log.start)
        if assigned and self._on_assign is not None:
            self._on_assign(assigned)

    def _take_locked(self, max_messages: int) -> list[Message]:
        out: list[Message] = []
        owned = self._owned
        if not owned:
            return out
        logs = self._bus._logs
        n = len(owned)
        self._next = (self._next + 1) % n
        for k in range(n):
            part = owned[(self._next + k) % n]
            log = logs[part.topic][part.partition]
            pos = max(self._pos[part], log.start)
            if pos >= log.end:
                continue
            i = pos - log.start
            chunk = log.items[i : i + max_messages - len(out)]
            out.extend(chunk)
            self._pos[part] = pos + len(chunk)
            if len(out) >= max_messages:
                break
        return out
