"""The Kafka bus against a real Kafka-protocol broker (Tansu, see tests/fixtures/kafka.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka.admin import AdminClient

from quantdesk.bus import (
    BusError,
    Message,
    Partition,
    Subscription,
    TradeBatch,
    dead_letter,
    decode,
)
from quantdesk.bus.codec import DeadLetter
from quantdesk.bus.kafka import KafkaBus

pytestmark = pytest.mark.kafka

SYMBOLS = ["AAPL", "MSFT", "TSLA", "600000.SH", "000001.SZ", "GOOGL", "NVDA", "AMZN"]
ROOT = Path(__file__).resolve().parents[2]
MakeBus = Callable[..., KafkaBus]


def make_batches(n_per_symbol: int, trades_per_batch: int = 20) -> list[TradeBatch]:
    """Interleaved batches; ``ts`` counts up per symbol so order is checkable."""
    out = []
    for i in range(n_per_symbol):
        for s in SYMBOLS:
            ts = np.arange(i * trades_per_batch, (i + 1) * trades_per_batch, dtype=np.int64)
            out.append(TradeBatch(s, ts, 10.0 + ts * 0.01, np.full(len(ts), 100.0), "test"))
    return out


def batch_id(b: TradeBatch) -> tuple[str, int]:
    return b.symbol, int(b.ts[0])


def consume(
    subs: list[Subscription], count: int, timeout: float = 20.0, commit: bool = True
) -> list[list[Message]]:
    """Poll the subscriptions in turn until they returned ``count`` messages in all."""
    got: list[list[Message]] = [[] for _ in subs]
    deadline = time.monotonic() + timeout
    while sum(map(len, got)) < count:
        assert time.monotonic() < deadline, f"timed out with {[len(g) for g in got]} of {count}"
        for sub, into in zip(subs, got, strict=True):
            batch = sub.poll(500, timeout=0.05)
            into.extend(batch)
            if commit and batch:
                sub.commit()
    return got


def wait_assigned(subs: list[Subscription], partitions: int, timeout: float = 20.0) -> None:
    """Poll until the members own ``partitions`` partitions between them, each some."""
    deadline = time.monotonic() + timeout
    while True:
        owned = [sub.assignment() for sub in subs]
        if all(owned) and sum(map(len, owned)) == partitions:
            return
        assert time.monotonic() < deadline, f"assignment never settled: {owned}"
        for sub in subs:
            assert sub.poll(500, timeout=0.05) == [], "no messages expected yet"


def group(bus: KafkaBus, name: str) -> str:
    """A group id unique to the test.

    Tansu 0.6 can leave a group stuck for good when two members leave at the
    same moment (it keeps a departed member as leader, so SyncGroup never
    completes); fresh group ids keep one test's teardown out of the next test.
    """
    return f"{bus.topics.trades.rsplit('.', 1)[0]}.{name}"


def produce(bus: KafkaBus, batches: list[TradeBatch]) -> None:
    for b in batches:
        bus.send(b)
    bus.flush(10)


def test_start_creates_missing_topics(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus(partitions=4)
    bus.start()  # idempotent
    bus.ensure_topics(bus.topics.all())
    meta = AdminClient({"bootstrap.servers": bus.bootstrap}).list_topics(timeout=5).topics
    for name in bus.topics.all():
        assert len(meta[name].partitions) == 4


def test_round_trip_keeps_per_symbol_order(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    sent = make_batches(25)
    produce(bus, sent)
    sub = bus.subscribe([bus.topics.trades], group(bus, "bars"))
    (msgs,) = consume([sub], len(sent))
    decoded = [decode(m.value) for m in msgs]
    assert all(isinstance(b, TradeBatch) for b in decoded)
    by_id = {batch_id(b): b for b in sent}
    assert sorted(batch_id(b) for b in decoded) == sorted(by_id)  # type: ignore[arg-type]
    assert all(b == by_id[batch_id(b)] for b in decoded)  # type: ignore[arg-type]
    partitions: dict[str | None, set[int]] = defaultdict(set)
    order: dict[str, list[int]] = defaultdict(list)
    for m, b in zip(msgs, decoded, strict=True):
        assert isinstance(b, TradeBatch) and m.key == b.symbol
        partitions[m.key].add(m.partition)
        order[b.symbol].append(int(b.ts[0]))
    assert all(len(p) == 1 for p in partitions.values()), "a symbol spread over partitions"
    assert all(seq == sorted(seq) and len(seq) == 25 for seq in order.values())
    assert len({p for ps in partitions.values() for p in ps}) > 1


def test_lag_counts_what_is_not_polled_yet(make_kafka_bus: MakeBus) -> None:
    """The worker's lag gauge: high watermark minus position, per owned partition."""
    bus = make_kafka_bus(partitions=2)
    sent = make_batches(10)
    produce(bus, sent)
    sub = bus.subscribe([bus.topics.trades], group(bus, "lag"))
    (first,) = consume([sub], 10, commit=False)
    deadline = time.monotonic() + 20
    while sum(sub.lag().values()) != len(sent) - len(first):
        assert time.monotonic() < deadline, (sub.lag(), len(sent), len(first))
        time.sleep(0.1)
    assert set(sub.lag()) == set(sub.assignment())
    consume([sub], len(sent) - len(first))
    assert sum(sub.lag().values()) == 0


def test_dead_letters_and_async_publishing(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    dead_letter(bus, b"\xffnot json", "bad_json", bus.topics.trades, "boom")
    letter = DeadLetter("bad_json", bus.topics.quotes, b"{", "truncated")
    asyncio.run(bus.send_async(letter))
    bus.flush(10)
    (msgs,) = consume([bus.subscribe([bus.topics.deadletter], group(bus, "ops"))], 2)
    expected = DeadLetter("bad_json", bus.topics.trades, b"\xffnot json", "boom")
    assert sorted([decode(m.value) for m in msgs], key=repr) == sorted([expected, letter], key=repr)


def test_unreachable_broker_is_one_clear_error() -> None:
    bus = KafkaBus("127.0.0.1:1", connect_timeout=1.0)
    with pytest.raises(
        BusError, match=r"cannot reach Kafka at 127.0.0.1:1 .*QUANTDESK_KAFKA_BOOTSTRAP"
    ):
        bus.start()


def test_two_members_of_a_group_split_the_partitions(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    assigned: dict[str, list[Partition]] = defaultdict(list)
    a = bus.subscribe(
        [bus.topics.trades], group(bus, "workers"), on_assign=lambda ps: assigned["a"].extend(ps)
    )
    b = bus.subscribe(
        [bus.topics.trades], group(bus, "workers"), on_assign=lambda ps: assigned["b"].extend(ps)
    )
    wait_assigned([a, b], bus.partitions)
    assert set(a.assignment()).isdisjoint(b.assignment())
    assert assigned["a"] and assigned["b"]
    sent = make_batches(10)
    produce(bus, sent)
    got_a, got_b = consume([a, b], len(sent))
    assert got_a and got_b, "both members must get messages"
    keys_a = {m.key for m in got_a}
    keys_b = {m.key for m in got_b}
    assert keys_a.isdisjoint(keys_b) and keys_a | keys_b == set(SYMBOLS)
    assert {m.partition for m in got_a} <= {p.partition for p in a.assignment()}


def test_uncommitted_messages_are_delivered_again(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    sent = make_batches(5)
    produce(bus, sent)
    topic = bus.topics.trades

    first = bus.subscribe([topic], group(bus, "g"))
    (msgs,) = consume([first], len(sent), commit=False)
    first.close()  # processed, never committed

    revoked: list[Partition] = []
    holder: list[Subscription] = []

    def flush_then_commit(parts: list[Partition]) -> None:
        revoked.extend(parts)
        holder[0].commit()

    second = bus.subscribe([topic], group(bus, "g"), on_revoke=flush_then_commit)
    holder.append(second)
    (again,) = consume([second], len(sent), commit=False)
    assert sorted(m.value for m in again) == sorted(m.value for m in msgs)
    second.close()  # the revoke hook commits
    assert len(revoked) == bus.partitions

    third = bus.subscribe([topic], group(bus, "g"))
    wait_assigned([third], bus.partitions)
    assert third.poll(500, timeout=1.0) == []


CHILD = """
import sys, time
from quantdesk.bus.kafka import KafkaBus
from quantdesk.bus.base import Topics
bus = KafkaBus(sys.argv[1], topics=Topics.with_prefix(sys.argv[2]),
               session_timeout_ms=int(sys.argv[3]), client_id="child")
sub = bus.subscribe([bus.topics.trades], sys.argv[2] + ".workers",
                    on_assign=lambda ps: print("assigned", len(ps), flush=True))
while True:
    for m in sub.poll(3, timeout=0.1):
        print("processed", m.value.decode(), flush=True)
        time.sleep(0.02)
    sub.commit()
"""


def test_sigkilled_member_loses_nothing(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    prefix = bus.topics.trades.rsplit(".", 1)[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, bus.bootstrap, prefix, str(bus.session_timeout_ms)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    lines: list[str] = []

    def read() -> None:
        assert child.stdout is not None
        lines.extend(iter(child.stdout.readline, ""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        survivor = bus.subscribe([bus.topics.trades], group(bus, "workers"))
        deadline = time.monotonic() + 20
        while not (survivor.assignment() and any("assigned" in x for x in lines)):
            assert time.monotonic() < deadline, f"child never joined: {lines}"
            assert survivor.poll(500, timeout=0.05) == []
        n = 300
        expected = {f"m{i}" for i in range(n)}
        for i in range(n):
            bus.publish(bus.topics.trades, SYMBOLS[i % len(SYMBOLS)], f"m{i}".encode())
        bus.flush(10)
        got: set[str] = set()
        deadline = time.monotonic() + 20
        while not any(x.startswith("processed") for x in lines):
            assert time.monotonic() < deadline, "child processed nothing"
            got.update(m.value.decode() for m in survivor.poll(500, timeout=0.05))
            survivor.commit()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
        reader.join(5)
        by_child = {x.split()[1] for x in lines if x.startswith("processed")}
        assert len(by_child) < n
        deadline = time.monotonic() + 30
        while got | by_child != expected:
            assert time.monotonic() < deadline, f"missing {len(expected - got - by_child)}"
            got.update(m.value.decode() for m in survivor.poll(500, timeout=0.1))
            survivor.commit()
        assert len(survivor.assignment()) == bus.partitions
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_tail_readers_each_see_every_message_without_a_group(make_kafka_bus: MakeBus) -> None:
    bus = make_kafka_bus()
    before = make_batches(3)
    produce(bus, before)  # before the readers: not read (they start at the end)
    a = bus.tail([bus.topics.trades, bus.topics.bars])
    b = make_kafka_bus().tail([bus.topics.trades])
    assert len(a.assignment()) == 2 * bus.partitions and len(b.assignment()) == bus.partitions
    sent = make_batches(5)[len(before) :]
    produce(bus, sent)  # published right after tail() returned: every one is seen
    wanted = {encode_value(x) for x in sent}
    got: list[set[bytes]] = [set(), set()]
    deadline = time.monotonic() + 20
    while not all(wanted <= g for g in got):
        assert time.monotonic() < deadline, [len(g & wanted) for g in got]
        for reader, into in zip((a, b), got, strict=True):
            into.update(m.value for m in reader.poll(500, timeout=0.05))
    # Tansu reports the high watermark of a partition per record batch, so a reader may
    # start inside the last batch written before it (Apache Kafka: exactly at the end)
    old = {encode_value(x) for x in before}
    assert all(g - wanted <= old for g in got)
    a.commit()  # nothing to commit: a no-op
    early = bus.tail([bus.topics.trades], start="earliest")
    (all_msgs,) = consume([early], len(sent) + len(before))
    assert {m.value for m in all_msgs} == wanted | old
    for reader in (a, b, early):
        reader.close()
    with pytest.raises(BusError):
        a.poll(1, timeout=0)


def encode_value(batch: TradeBatch) -> bytes:
    from quantdesk.bus import encode

    return encode(batch)
