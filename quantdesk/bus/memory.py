"""In-process bus: the default of ``quantdesk run`` (one process, no broker).

It follows the Kafka model of :mod:`quantdesk.bus.base` so the same runner code
works on both: each topic has ``partitions`` partitions, a key (symbol) maps to
one partition by CRC-32, so one symbol's messages stay in order; every group
gets every message and the members of a group split the partitions; commits
are per group, and what was polled but not committed is delivered again to the
partition's next owner.

Back-pressure: a partition holds at most ``capacity`` messages, and at most
``capacity_bytes`` bytes, that some active group (one with a live member) has
not committed yet. ``publish`` blocks while the target partition is full (and
raises :class:`BusFullError` after the timeout); ``publish_async`` awaits
instead. A single message larger than ``capacity_bytes`` still goes through
once the groups have caught up.

Retention: what no active group still needs is kept only as a short window,
the newest ``retain_bytes`` bytes (and at most ``capacity`` messages) of each
partition, for tail readers (:meth:`MemoryBus.tail`) that are a moment behind
and for a consumer that subscribes a moment after a source started. So a
topic nobody reads (in ``quantdesk run``: bars, factors, signals... when no
dashboard is open) costs at most ``retain_bytes`` per partition, and the bus
as a whole at most ``topics x partitions x (retain_bytes + capacity_bytes)``,
whatever the run's length. Bytes are counted as the payload plus
:data:`MESSAGE_OVERHEAD` for the objects that hold it, and the count is the
memory held: the bus keeps its own exact-size copy of each payload (orjson,
which encodes every message, returns bytes that sit in its whole work
buffer: retained as they came, a 200-byte bar held 8 KiB, and a window
counted as 512 KiB held about 10 MiB). Trimming is amortised: a partition
may exceed its window by an eighth before it is cut back.

Tail readers read every partition in no group, never hold a publisher back
and skip (and count in ``lost``) what the window no longer holds.

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
from bisect import bisect_left
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
DEFAULT_CAPACITY_BYTES = 64 << 20
DEFAULT_RETAIN_BYTES = 512 << 10
DEFAULT_PUBLISH_TIMEOUT = 30.0
#: Bytes counted per message besides its payload: the retained tuple, the bytes
#: object's header, its offset and timestamp ints, its running size, the list
#: slots (measured with tracemalloc: about 250).
MESSAGE_OVERHEAD = 256


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


def _compact(value: bytes) -> bytes:
    """``value`` copied into a block of its own size.

    ``orjson.dumps`` (3.12+) returns bytes whose memory block is the encoder's
    whole buffer (8 KiB for an encoded 200-byte bar), which neither ``len``
    nor ``sys.getsizeof`` shows. A join with an empty bytes is the cheapest
    copy (~0.3 us; ``bytes(value)`` and ``value[:]`` return the same object).
    """
    return b"".join((value, b""))


async def _wait(fut: asyncio.Future[None], timeout: float | None) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fut, timeout)


#: A retained message: (topic, partition, offset, key, value, timestamp). A plain tuple
#: of atoms, which the garbage collector stops tracking after one collection; as
#: Message objects, the tens of thousands a bus retains were walked by every full
#: collection (tens of ms of pause). Polls turn them into Message objects.
_Item = tuple[str, int, int, str | None, bytes, int]


def _messages(items: list[_Item]) -> list[Message]:
    return [Message(*item) for item in items]


@dataclass(slots=True)
class _Log:
    """One partition: retained messages ``items``, the first at offset ``start``.

    ``sizes[i]`` is the running total of bytes through ``items[i]``, counted
    from ``base`` (the total before ``items[0]``), so the bytes of any
    suffix are one subtraction and the byte window one bisection.
    """

    items: list[_Item] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    start: int = 0
    base: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.items)

    @property
    def nbytes(self) -> int:
        return (self.sizes[-1] if self.sizes else self.base) - self.base

    def append(self, item: _Item) -> None:
        total = self.sizes[-1] if self.sizes else self.base
        self.items.append(item)
        self.sizes.append(total + len(item[4]) + MESSAGE_OVERHEAD)

    def bytes_from(self, offset: int) -> int:
        """Bytes of the messages at ``offset`` and after."""
        i = offset - self.start
        if i >= len(self.items):
            return 0
        before = self.sizes[i - 1] if i > 0 else self.base
        return self.sizes[-1] - before

    def window_start(self, max_bytes: int, max_count: int) -> int:
        """The first offset of the newest messages that fit in ``max_bytes`` and ``max_count``."""
        if not self.items:
            return self.start
        by_count = self.end - max_count
        target = self.sizes[-1] - max_bytes
        if self.base >= target:
            return max(self.start, by_count)
        return max(self.start + bisect_left(self.sizes, target) + 1, by_count)

    def trim(self, new_start: int) -> None:
        k = new_start - self.start
        if k > 0:
            self.base = self.sizes[k - 1]
            del self.items[:k]
            del self.sizes[:k]
            self.start = new_start


@dataclass(slots=True)
class _Group:
    name: str
    members: list[MemorySubscription] = field(default_factory=list)
    committed: dict[Partition, int] = field(default_factory=dict)
    target: dict[Partition, MemorySubscription] = field(default_factory=dict)
    owner: dict[Partition, MemorySubscription] = field(default_factory=dict)


class MemoryBus(Bus):
    """The in-process bus. ``capacity`` (messages), ``capacity_bytes`` and
    ``retain_bytes`` are per partition (see the module docstring)."""

    name = "memory"

    def __init__(
        self,
        *,
        topics: Topics | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        capacity: int = DEFAULT_CAPACITY,
        capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
        retain_bytes: int = DEFAULT_RETAIN_BYTES,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        super().__init__(topics=topics, partitions=partitions)
        if capacity < 1:
            raise ConfigError(f"memory bus capacity: must be >= 1 (got {capacity})")
        if capacity_bytes < 1:
            raise ConfigError(f"memory bus capacity_bytes: must be >= 1 (got {capacity_bytes})")
        if retain_bytes < 0:
            raise ConfigError(f"memory bus retain_bytes: must be >= 0 (got {retain_bytes})")
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self.retain_bytes = retain_bytes
        self.publish_timeout = publish_timeout
        self._lock = Lock()
        self._wake = _Wakeup(self._lock)
        self._logs: dict[str, list[_Log]] = {}
        self._groups: dict[str, _Group] = {}
        self._tails: list[MemoryTail] = []
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
        value = _compact(value)
        with self._lock:
            while not self._try_append_locked(topic, key, value):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BusFullError(
                        f"memory bus: a partition of {topic} stayed full ({self.capacity} "
                        f"uncommitted messages or {self.capacity_bytes:,} bytes) for {wait:g} s; "
                        "is a consumer committing?"
                    )
                self._wake.cond.wait(remaining)

    async def publish_async(self, topic: str, key: str | None, value: bytes) -> None:
        value = _compact(value)
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
        if floor is not None and (
            log.end - floor >= self.capacity or log.bytes_from(floor) >= self.capacity_bytes
        ):
            return False
        log.append((topic, index, log.end, key, value, time.time_ns() // 1_000_000))
        self._retain_locked(log, floor)
        self._wake.notify()
        return True

    def _retain_locked(self, log: _Log, floor: int | None) -> None:
        """Cut ``log`` back to what an active group needs plus the retention window."""
        keep = log.window_start(self.retain_bytes, self.capacity)
        new_start = keep if floor is None else min(floor, keep)
        excess = new_start - log.start
        if excess <= 0:
            return
        # amortised: cut when an eighth (in messages or bytes) is over
        if excess * 8 >= len(log.items) or (log.nbytes - log.bytes_from(new_start)) * 8 >= max(
            self.retain_bytes, 1
        ):
            log.trim(new_start)

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
            self._retain_locked(log, self._floor_locked(part, log))

    def depth(self, topic: str) -> int:
        """Messages of ``topic`` retained (uncommitted ones and the retention window)."""
        with self._lock:
            return sum(len(log.items) for log in self._logs.get(topic, []))

    def retained_bytes(self, topic: str | None = None) -> int:
        """Bytes retained by ``topic`` (default: every topic), counted as for the limits."""
        with self._lock:
            logs = self._logs.values() if topic is None else [self._logs.get(topic, [])]
            return sum(log.nbytes for parts in logs for log in parts)

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

    def tail(self, topics: Sequence[str], *, start: OffsetReset = "latest") -> MemoryTail:
        if not topics:
            raise BusError("tail needs at least one topic")
        with self._lock:
            if self._closed:
                raise BusError("memory bus is closed")
            positions = {}
            for topic in dict.fromkeys(topics):
                for index, log in enumerate(self._log_locked(topic)):
                    positions[Partition(topic, index)] = log.end if start == "latest" else log.start
            reader = MemoryTail(self, positions)
            self._tails.append(reader)
        return reader

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()


class MemoryTail(Subscription):
    """A reader of every partition of its topics, in no group (:meth:`MemoryBus.tail`)."""

    def __init__(self, bus: MemoryBus, positions: dict[Partition, int]) -> None:
        self._bus = bus
        self._pos = positions
        self._parts = sorted(positions)
        self._next = 0
        self._closed = False
        self.lost = 0

    def assignment(self) -> list[Partition]:
        return list(self._parts)

    def commit(self) -> None:
        """Nothing to commit: a tail reader keeps no offsets on the bus."""

    def close(self) -> None:
        bus = self._bus
        with bus._lock:
            self._closed = True
            if self in bus._tails:
                bus._tails.remove(self)

    def poll(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        bus = self._bus
        with bus._lock:
            while True:
                msgs = self._take_locked(max_messages)
                remaining = deadline - time.monotonic()
                if msgs or remaining <= 0:
                    return msgs
                bus._wake.cond.wait(remaining)

    async def poll_async(self, max_messages: int = 500, timeout: float = 1.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        bus = self._bus
        while True:
            with bus._lock:
                msgs = self._take_locked(max_messages)
                remaining = deadline - time.monotonic()
                if msgs or remaining <= 0:
                    return msgs
                fut = bus._wake.future()
            await _wait(fut, remaining)

    def _take_locked(self, max_messages: int) -> list[Message]:
        if self._closed:
            raise BusError("subscription is closed")
        if self._bus._closed:
            raise BusError("memory bus is closed")
        out: list[Message] = []
        parts, logs, pos = self._parts, self._bus._logs, self._pos
        n = len(parts)
        self._next = (self._next + 1) % n
        for k in range(n):
            part = parts[(self._next + k) % n]
            log = logs[part.topic][part.partition]
            p = pos[part]
            if p < log.start:
                self.lost += log.start - p
                p = log.start
            if p >= log.end:
                pos[part] = p
                continue
            i = p - log.start
            chunk = log.items[i : i + max_messages - len(out)]
            out.extend(_messages(chunk))
            pos[part] = p + len(chunk)
            if len(out) >= max_messages:
                break
        return out


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
            out.extend(_messages(chunk))
            self._pos[part] = pos + len(chunk)
            if len(out) >= max_messages:
                break
        return out
