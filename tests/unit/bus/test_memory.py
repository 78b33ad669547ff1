"""The in-process bus: per-key order, groups, at-least-once, back-pressure, asyncio."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.bus import (
    BusError,
    BusFullError,
    Message,
    Partition,
    Subscription,
    Topics,
    TradeBatch,
    dead_letter,
    decode,
)
from quantdesk.bus.codec import DeadLetter
from quantdesk.bus.memory import MemoryBus
from quantdesk.domain.messages import Bar

T = "quantdesk.trades"


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def drain(sub: Subscription, limit: int = 10_000) -> list[Message]:
    out: list[Message] = []
    while batch := sub.poll(500, timeout=0):
        out.extend(batch)
        assert len(out) <= limit
    return out


def publish_numbered(bus: MemoryBus, keys: list[str], n: int, topic: str = T) -> None:
    for i in range(n):
        key = keys[i % len(keys)]
        bus.publish(topic, key, f"{key}:{i}".encode())


@given(
    keys=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8),
    n=st.integers(0, 120),
    partitions=st.integers(1, 7),
    max_messages=st.integers(1, 50),
)
@settings(max_examples=60, deadline=None)
def test_every_message_arrives_once_in_key_order(
    keys: list[str], n: int, partitions: int, max_messages: int
) -> None:
    bus = MemoryBus(partitions=partitions)
    sub = bus.subscribe([T], "g")
    publish_numbered(bus, keys, n)
    got: list[Message] = []
    while batch := sub.poll(max_messages, timeout=0):
        assert len(batch) <= max_messages
        got.extend(batch)
        sub.commit()
    assert sorted(m.value for m in got) == sorted(
        f"{keys[i % len(keys)]}:{i}".encode() for i in range(n)
    )
    per_key: dict[str | None, list[int]] = defaultdict(list)
    for m in got:
        per_key[m.key].append(int(m.value.rsplit(b":", 1)[1]))
    assert all(seq == sorted(seq) for seq in per_key.values())


def test_one_key_one_partition_and_offsets_increase() -> None:
    bus = MemoryBus(partitions=4)
    sub = bus.subscribe([T], "g")
    publish_numbered(bus, ["AAPL", "MSFT", "TSLA"], 30)
    by_key: dict[str | None, set[int]] = defaultdict(set)
    last: dict[int, int] = {}
    for m in drain(sub):
        by_key[m.key].add(m.partition)
        assert m.offset > last.get(m.partition, -1)
        last[m.partition] = m.offset
    assert all(len(p) == 1 for p in by_key.values())


def test_every_group_sees_every_message() -> None:
    bus = MemoryBus()
    a = bus.subscribe([T], "bars")
    b = bus.subscribe([T], "factors")
    publish_numbered(bus, ["A", "B"], 10)
    assert len(drain(a)) == 10 and len(drain(b)) == 10


def test_members_of_a_group_split_the_partitions() -> None:
    bus = MemoryBus(partitions=6)
    events: list[tuple[str, str, list[Partition]]] = []

    def join(name: str) -> Subscription:
        return bus.subscribe(
            [T],
            "g",
            on_assign=lambda ps: events.append((name, "assign", ps)),
            on_revoke=lambda ps: events.append((name, "revoke", ps)),
        )

    a = join("a")
    publish_numbered(bus, [f"S{i}" for i in range(20)], 200)
    first = a.poll(50, timeout=0)
    a.commit()
    assert len(a.assignment()) == 6 and len(first) == 50
    b = join("b")
    # b cannot take a partition before a has revoked it.
    assert b.poll(timeout=0) == [] and b.assignment() == []
    rest = a.poll(500, timeout=0)
    assert events[-1][:2] == ("a", "revoke") and len(events[-1][2]) == 3
    got_b = drain(b)
    assert events[-1][:2] == ("b", "assign")
    assert set(a.assignment()).isdisjoint(b.assignment())
    assert len(a.assignment()) == len(b.assignment()) == 3
    # a's uncommitted messages of the moved partitions are delivered again to b.
    seen = {m.value for m in first + rest + got_b}
    assert len(seen) == 200


def test_poll_then_close_without_commit_redelivers() -> None:
    bus = MemoryBus()
    sub = bus.subscribe([T], "g")
    publish_numbered(bus, ["A", "B", "C"], 9)
    assert len(drain(sub)) == 9
    sub.close()
    again = bus.subscribe([T], "g")
    assert len(drain(again)) == 9
    again.commit()
    again.close()
    third = bus.subscribe([T], "g")
    assert drain(third) == []


def test_revoke_hook_may_commit() -> None:
    bus = MemoryBus(partitions=1)
    holder: list[Subscription] = []
    sub = bus.subscribe([T], "g", on_revoke=lambda ps: holder[0].commit())
    holder.append(sub)
    publish_numbered(bus, ["A"], 5)
    assert len(drain(sub)) == 5
    sub.close()  # runs on_revoke, which commits
    assert drain(bus.subscribe([T], "g")) == []


def test_offset_reset_latest_skips_history() -> None:
    bus = MemoryBus()
    publish_numbered(bus, ["A"], 5)
    sub = bus.subscribe([T], "live", offset_reset="latest")
    publish_numbered(bus, ["A"], 2)
    assert len(drain(sub)) == 2
    assert len(drain(bus.subscribe([T], "replay"))) == 7


def test_back_pressure_blocks_until_the_consumer_commits() -> None:
    bus = MemoryBus(partitions=1, capacity=3, retain_bytes=0)
    sub = bus.subscribe([T], "g")
    for i in range(3):
        bus.publish(T, "A", b"%d" % i)
    with pytest.raises(BusFullError, match="stayed full"):
        bus.publish(T, "A", b"3", timeout=0.05)
    # polling alone frees nothing: the messages are not committed yet
    assert len(sub.poll(10, timeout=0)) == 3
    with pytest.raises(BusFullError):
        bus.publish(T, "A", b"3", timeout=0)

    done = threading.Event()

    def producer() -> None:
        bus.publish(T, "A", b"3", timeout=5)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.05)
    assert not done.is_set()
    sub.commit()
    thread.join(5)
    assert done.is_set()
    assert [m.value for m in sub.poll(10, timeout=0)] == [b"3"]
    assert bus.depth(T) == 1


def test_without_consumers_the_newest_messages_are_kept() -> None:
    bus = MemoryBus(partitions=1, capacity=4)
    for i in range(10):
        bus.publish(T, "A", b"%d" % i, timeout=0)
    assert [m.value for m in drain(bus.subscribe([T], "late"))] == [b"6", b"7", b"8", b"9"]


def test_a_closed_group_does_not_hold_back_publishers() -> None:
    bus = MemoryBus(partitions=1, capacity=2)
    sub = bus.subscribe([T], "g")
    bus.publish(T, "A", b"0")
    bus.publish(T, "A", b"1")
    sub.close()
    bus.publish(T, "A", b"2", timeout=0)


def test_blocking_poll_wakes_on_publish_from_another_thread() -> None:
    bus = MemoryBus()
    sub = bus.subscribe([T], "g")
    timer = threading.Timer(0.05, lambda: bus.publish(T, "A", b"x"))
    timer.start()
    t0 = time.monotonic()
    assert [m.value for m in sub.poll(10, timeout=5)] == [b"x"]
    assert time.monotonic() - t0 < 2
    assert sub.poll(10, timeout=0.02) == []


def test_asyncio_producer_and_consumer_with_back_pressure() -> None:
    async def main() -> list[bytes]:
        bus = MemoryBus(partitions=2, capacity=5)
        sub = bus.subscribe([T], "g")
        got: list[bytes] = []

        async def produce() -> None:
            for i in range(100):
                await bus.publish_async(T, f"S{i % 3}", b"%d" % i)

        async def consume() -> None:
            while len(got) < 100:
                batch = await sub.poll_async(7, timeout=2)
                assert batch, "consumer starved"
                got.extend(m.value for m in batch)
                sub.commit()
                assert bus.depth(T) <= 10

        await asyncio.wait_for(asyncio.gather(produce(), consume()), 10)
        assert await sub.poll_async(timeout=0.01) == []
        return got

    got = asyncio.run(main())
    assert sorted(got) == sorted(b"%d" % i for i in range(100))


def test_send_routes_domain_objects_by_type_and_symbol() -> None:
    bus = MemoryBus(topics=Topics.with_prefix("x"))
    bars = bus.subscribe([bus.topics.bars], "g")
    trades = bus.subscribe([bus.topics.trades], "g2")
    bar = Bar("AAPL", "1m", 0, 1, 2, 0.5, 1.5, 10, 1.2, 3)
    bus.send(bar)
    bus.send(TradeBatch("AAPL", [1], [1.0], [1.0]))
    (msg,) = drain(bars)
    assert msg.topic == "x.bars" and msg.key == "AAPL" and decode(msg.value) == bar
    assert drain(trades)[0].topic == "x.trades"


def test_dead_letter_helper() -> None:
    bus = MemoryBus()
    dlq = bus.subscribe([bus.topics.deadletter], "ops")
    dead_letter(bus, b"\x00garbage", "bad_json", bus.topics.trades, "not JSON")
    (msg,) = drain(dlq)
    assert decode(msg.value) == DeadLetter(
        "bad_json", "quantdesk.trades", b"\x00garbage", "not JSON"
    )


def test_closed_bus_and_subscription_raise() -> None:
    bus = MemoryBus()
    sub = bus.subscribe([T], "g")
    sub.close()
    with pytest.raises(BusError, match="subscription is closed"):
        sub.poll(timeout=0)
    bus.close()
    with pytest.raises(BusError, match="closed"):
        bus.publish(T, "A", b"x")
    with pytest.raises(BusError):
        bus.subscribe([T], "g")


# -- retention bounded by bytes (issue 16 item 2) and tail readers -----------------------


def test_a_topic_nobody_reads_keeps_only_its_byte_window() -> None:
    from quantdesk.bus.memory import MESSAGE_OVERHEAD

    bus = MemoryBus(partitions=2, capacity=10_000, retain_bytes=64 * 1024)
    payload = b"x" * 800
    for i in range(20_000):  # ~20 MB published, nobody subscribed
        bus.publish("quantdesk.bars", f"S{i % 7}", payload, timeout=0)
    per_message = len(payload) + MESSAGE_OVERHEAD
    retained = bus.retained_bytes("quantdesk.bars")
    assert retained <= 2 * 64 * 1024 * 9 // 8  # the window (plus the amortising eighth)
    assert retained >= 2 * (64 * 1024 - per_message)  # and the newest messages are there
    assert bus.depth("quantdesk.bars") == retained // per_message
    # the newest messages are the ones kept
    late = drain(bus.subscribe(["quantdesk.bars"], "late"))
    ends = {p: max(m.offset for m in late if m.partition == p) for p in (0, 1)}
    assert sum(ends.values()) == 20_000 - 2  # the last message of each partition is there
    window = 64 * 1024 * 9 // 8 // per_message + 1
    assert all(m.offset > ends[m.partition] - window for m in late)


@given(sizes=st.lists(st.integers(0, 3_000), min_size=1, max_size=300))
@settings(max_examples=40, deadline=None)
def test_retention_never_exceeds_its_bound(sizes: list[int]) -> None:
    from quantdesk.bus.memory import MESSAGE_OVERHEAD

    bus = MemoryBus(partitions=1, capacity=50, retain_bytes=4_000)
    for n in sizes:
        bus.publish(T, "A", b"y" * n, timeout=0)
        biggest = max(sizes) + MESSAGE_OVERHEAD
        assert bus.retained_bytes(T) <= 4_000 * 9 // 8 + biggest
        assert bus.depth(T) <= 50 * 9 // 8 + 1


def test_the_window_counted_is_the_memory_held() -> None:
    """Messages encoded as the runtime encodes them (orjson): the bytes the bus counts
    are the bytes it holds. orjson's output sits in its whole work buffer (8 KiB for a
    200-byte bar); kept as it came, 256 KiB counted held ~10 MiB (issue 16's soak)."""
    import gc
    import tracemalloc

    bus = MemoryBus(partitions=2, capacity=100_000, retain_bytes=64 * 1024)
    symbols = [f"60000{k}.SH" for k in range(7)]
    t0 = 1_700_000_000_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(5_000):  # about 1 MB of bars published, nobody subscribed
            sym = symbols[i % 7]
            bus.send(Bar(sym, "1m", t0 + i * 60_000, 10.0, 10.5, 9.9, 10.2 + i, 1234.0, 10.1, 17))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = bus.retained_bytes()
    assert 2 * 64 * 1024 * 3 // 4 <= counted <= 2 * 64 * 1024 * 9 // 8
    assert bus.depth("quantdesk.bars") > 200
    assert held <= counted * 1.2, f"{held:,} bytes held for {counted:,} counted"


def test_back_pressure_by_bytes() -> None:
    bus = MemoryBus(partitions=1, capacity=1_000, capacity_bytes=2_000, retain_bytes=0)
    sub = bus.subscribe([T], "g")
    bus.publish(T, "A", b"z" * 1_000)
    bus.publish(T, "A", b"z" * 1_000)
    with pytest.raises(BusFullError, match="bytes"):
        bus.publish(T, "A", b"z" * 1_000, timeout=0)
    sub.poll(10, timeout=0)
    sub.commit()
    bus.publish(T, "A", b"z" * 10_000, timeout=0)  # one oversized message still goes through
    assert bus.retained_bytes(T) > 10_000


def test_tail_reader_sees_everything_after_it_started_and_holds_nobody_back() -> None:
    bus = MemoryBus(partitions=3, capacity=50, retain_bytes=2_000)
    publish_numbered(bus, ["A", "B", "C"], 4)
    tail = bus.tail([T])
    assert len(tail.assignment()) == 3
    publish_numbered(bus, ["A", "B", "C"], 6)
    got = drain(tail)
    assert sorted(m.value for m in got) == sorted(f"{'ABC'[i % 3]}:{i}".encode() for i in range(6))
    tail.commit()  # a no-op
    # a stalled tail reader never blocks a publisher: it loses the oldest instead
    for i in range(100):
        bus.publish(T, "A", b"%d" % i, timeout=0)
    later = drain(tail)
    assert tail.lost > 0 and later and later[-1].value == b"99"
    tail.close()
    with pytest.raises(BusError):
        tail.poll(1, timeout=0)


def test_two_tail_readers_both_see_every_message_beside_a_group() -> None:
    bus = MemoryBus(partitions=2)
    group = bus.subscribe([T], "g")
    a, b = bus.tail([T]), bus.tail([T], start="earliest")
    publish_numbered(bus, ["A", "B"], 10)
    assert len(drain(group)) == len(drain(a)) == len(drain(b)) == 10


def test_tail_reader_async_wakes_on_publish() -> None:
    async def main() -> list[Message]:
        bus = MemoryBus()
        tail = bus.tail([T])
        loop = asyncio.get_running_loop()
        loop.call_later(
            0.05, lambda: threading.Thread(target=bus.publish, args=(T, "A", b"x")).start()
        )
        t0 = time.monotonic()
        got = await tail.poll_async(10, timeout=5)
        assert time.monotonic() - t0 < 2
        return got

    assert [m.value for m in asyncio.run(main())] == [b"x"]
