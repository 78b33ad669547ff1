"""The hub's fan-out: shared feeds (bounded, conflated), the send budget, slow clients."""

from __future__ import annotations

import asyncio
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.api.fanout import ENTRY_OVERHEAD, Client, Entry, Feed, SendBudget
from quantdesk.api.hub import Hub
from quantdesk.bus.memory import MemoryBus
from quantdesk.domain import Bar, FactorValue
from quantdesk.runtime.outputs import publish_output
from quantdesk.runtime.pipeline import Output

T0 = 1_795_138_200_000


def _bar(symbol: str, minute: int, final: bool, trades: int = 3) -> Bar:
    return Bar(symbol, "1m", T0 + minute * 60_000, 1, 2, 0.5, 1.5, 10, 1.2, trades, "sim", final)


# -- feeds -----------------------------------------------------------------------------


def test_a_keyed_entry_replaces_the_older_one_and_moves_to_the_end() -> None:
    feed = Feed(100, 1 << 20)
    feed.put(Entry("bar", "a1"), ("bar", "A"))
    feed.put(Entry("bar", "b1"), ("bar", "B"))
    cursor = feed.seq
    feed.put(Entry("signal", "s"))  # no key: always kept
    feed.put(Entry("bar", "a2"), ("bar", "A"))
    assert [e.text for e in feed.since(0)] == ["b1", "s", "a2"]
    assert [e.text for e in feed.since(cursor)] == ["s", "a2"]
    assert feed.since(feed.seq) == []


@given(
    texts=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 400)), max_size=300),
    max_entries=st.integers(1, 40),
    max_bytes=st.integers(200, 5_000),
)
@settings(max_examples=60, deadline=None)
def test_a_feed_never_exceeds_its_bounds_and_counts_what_a_reader_lost(
    texts: list[tuple[int, int]], max_entries: int, max_bytes: int
) -> None:
    feed = Feed(max_entries, max_bytes)
    cursor = 0
    taken = 0
    for n, (key, size) in enumerate(texts):
        feed.put(Entry("factor", "x" * size), None if key == 0 else ("k", key))
        assert len(feed.entries) <= max_entries
        assert feed.nbytes <= max(max_bytes, size + ENTRY_OVERHEAD)
        if n % 7 == 0:  # a reader that comes by now and then
            lost = feed.lost_since(cursor)
            got = feed.since(cursor)
            assert lost >= 0 and [e.seq for e in got] == sorted(e.seq for e in got)
            taken += len(got)
            cursor = feed.seq
    assert feed.nbytes == sum(e.nbytes for e in feed.entries.values())


# -- the budget ----------------------------------------------------------------------------


class BusySocket:
    """A socket whose every send burns CPU on the loop (as a real send does)."""

    def __init__(self, cost_s: float, events: list[str]) -> None:
        self.cost_s = cost_s
        self.events = events
        self.sent = 0

    async def send_text(self, data: str) -> None:
        end = time.perf_counter() + self.cost_s
        while time.perf_counter() < end:
            pass
        self.sent += 1
        self.events.append("s")


def test_senders_use_at_most_their_share_of_the_loop_and_yield_it_in_slices() -> None:
    cost = 0.0002

    async def main() -> tuple[float, int, int]:
        events: list[str] = []
        budget = SendBudget(share=0.3, slice_s=0.004)
        feed = Feed(100_000, 1 << 30)
        sockets = [BusySocket(cost, events) for _ in range(50)]
        clients = [Client(s, "enhanced", frozenset({"factor"}), feed, budget) for s in sockets]
        for k in range(20_000):  # far more than the budget lets through in a second
            feed.put(Entry("factor", f"m{k}"))
        tasks = [asyncio.create_task(c.run_sender()) for c in clients]
        for c in clients:
            c.wake.set()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 1.5:  # another task: does it get to run in between?
            events.append("p")
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - t0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sent = sum(s.sent for s in sockets)
        longest = max(len(run) for run in "".join(events).split("p"))
        return sent * cost / elapsed, longest, sent

    busy_share, longest_run, sent = asyncio.run(main())
    figures = (busy_share, longest_run, sent)
    assert sent > 100, figures  # it does send
    assert busy_share < 0.3 + 0.15, figures  # the share (plus a slice of slack per refill)
    # never more than about one slice (4 ms = 20 sends) plus its refill without yielding
    assert longest_run <= 40, figures


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    async def main() -> None:
        budget = SendBudget(share=0.5, slice_s=0.002)
        budget.spend(0.01)  # empty: everyone waits
        first = asyncio.create_task(budget.acquire())
        second = asyncio.create_task(budget.acquire())
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.wait_for(second, 1.0)  # granted despite the first giving up

    asyncio.run(main())


# -- the hub with slow clients ---------------------------------------------------------------


class StuckSocket:
    """A client that never finishes receiving."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def send_text(self, data: str) -> None:
        await self.gate.wait()


def test_stuck_clients_cost_bounded_memory_and_never_block_the_publisher() -> None:
    async def main() -> None:
        bus = MemoryBus()
        bus.start()
        hub = Hub(queue_size=100, queue_bytes=64 << 10)
        hub.connect(bus)
        stuck = [hub.attach(StuckSocket(), "enhanced") for _ in range(20)]
        senders = [asyncio.create_task(c.run_sender()) for c in stuck]
        outs = [Output(bars=[_bar("A", k, True)]) for k in range(3_000)]
        took: list[float] = []

        def publish() -> None:
            for out in outs:
                t = time.perf_counter()
                publish_output(bus, out)
                took.append(time.perf_counter() - t)

        thread = threading.Thread(target=publish)
        thread.start()
        deadline = time.monotonic() + 20
        while thread.is_alive() or hub.published < 3_000 - hub.lost:
            assert time.monotonic() < deadline, (hub.published, hub.lost)
            await asyncio.sleep(0.01)
        feed = hub.feeds["enhanced"]
        assert len(feed.entries) <= 100 and feed.nbytes <= 64 << 10
        for c in stuck:  # each holds at most what it collected before it got stuck
            assert len(c.pending) <= 100
        assert max(took) < 0.5  # never waits for the clients
        assert hub.bars_closed == hub.published
        for c in stuck:
            c._collect()
        assert hub.drops > 0  # the stuck clients lost the oldest, and it is counted
        for task in senders:
            task.cancel()
        for c in stuck:
            hub.detach(c)
        hub.stop()

    asyncio.run(main())


def test_a_lagging_client_gets_the_newest_state_of_each_key() -> None:
    async def main() -> list[str]:
        hub = Hub(queue_size=1_000)
        hub.loop = asyncio.get_running_loop()
        client = hub.attach(StuckSocket(), "market")
        client.symbols = frozenset({"*"})
        bus = MemoryBus()
        tail = bus.tail(bus.topics.outputs())
        for k in range(50):  # the same open bar grows, and a factor changes, 50 times
            publish_output(
                bus,
                Output(
                    bars=[_bar("A", 0, k == 49, trades=k + 1)],
                    factors=[FactorValue("A", T0 + k, "obi", k / 100, "")],
                ),
            )
        hub._inflight = 1
        hub._dispatch(tail.poll(10_000, timeout=0))
        client._collect()
        hub.stop()
        return list(client.pending)

    pending = asyncio.run(main())
    assert len(pending) == 2  # one bar, one factor: each key's newest state
    bar = next(t for t in pending if '"bar"' in t)
    assert '"final":true' in bar and '"trades":50' in bar
